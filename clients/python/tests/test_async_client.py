"""The async client against a real node."""

from __future__ import annotations

import anyio
import pytest

from knack_client import AsyncClient, Event, LocalNode, NotFound

pytestmark = pytest.mark.anyio


async def test_the_agent_loop(node: LocalNode) -> None:
    async with node.async_client() as knack:
        pid = await knack.add("rotate the TLS certificate", tags=["tls"], body="certbot renew")
        other = await knack.add("renew the lease", tags=["tls"])
        found = await knack.search("tls certificate expired", n=2)
        assert found[0].id == pid
        assert (await knack.get(pid)).body.text == "certbot renew"  # type: ignore[union-attr]
        after = await knack.record_outcome(pid, True, contexts=["prod"])
        assert after.successes == 1
        await knack.link(pid, other, "similar", strength=0.9)
        await knack.edit(other, name="renew the DHCP lease")
        assert (await knack.get(other)).name == "renew the DHCP lease"
        assert [r.id for r in await knack.top(2, tag="tls")][0] == pid
        assert (await knack.status()).spaces[0].procedures == 2
        with pytest.raises(NotFound) as missing:
            await knack.get("ab" * 32)
        assert missing.value.kind == "unknown_procedure"


async def test_events_are_an_async_iterator(node: LocalNode) -> None:
    seen: list[Event] = []
    async with node.async_client() as knack, node.async_client() as listener:

        async def follow() -> None:
            async for event in listener.events():
                seen.append(event)
                if event.type == "applied":
                    return

        with anyio.fail_after(15):
            async with anyio.create_task_group() as tg:
                tg.start_soon(follow)
                await anyio.sleep(0.5)
                pid = await knack.add("watch the events")
    assert seen[-1].type == "applied" and pid in seen[-1].data["procedures"]


async def test_reads_the_data_dir(node: LocalNode) -> None:
    async with AsyncClient(data_dir=node.data_dir) as knack:
        assert (await knack.status()).peer_id
