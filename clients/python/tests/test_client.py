"""The blocking client against a real node."""

from __future__ import annotations

import threading
import time

import pytest

from knack_client import (
    BadRequest,
    Client,
    Event,
    KnackError,
    LocalNode,
    NotFound,
    Procedure,
    Unauthorized,
    Unreachable,
)


def test_the_agent_loop_add_search_get_record_top(node: LocalNode) -> None:
    with node.client() as knack:
        disk = knack.add(
            "free disk space on the CI runner",
            description="ENOSPC: no space left on device during the build",
            tags=["ci"],
            kind="script",
            body="docker system prune -af",
        )
        pod = knack.add("restart the pod", tags=["k8s"], body="kubectl rollout restart")
        found = knack.search("no space left on device", n=3, context="ci", explain=True)
        assert found[0].id == disk
        assert found[0].explain is not None and "bm25" in found[0].explain
        proc = knack.get(disk)
        assert isinstance(proc, Procedure)
        assert proc.name == "free disk space on the CI runner"
        assert proc.kind == "script" and proc.tags == ["ci"]
        assert proc.body is not None and proc.body.text == "docker system prune -af"
        after = knack.record_outcome(disk, True, duration_ms=800, contexts=["ci"])
        assert (after.successes, after.failures) == (1, 0)
        assert after.contexts["ci"].successes == 1
        knack.record_outcome(pod, False)
        best = knack.top(5)
        assert [r.id for r in best][:2] == [disk, pod]
        assert best[0].score > best[1].score
        assert [r.id for r in knack.top(5, tag="k8s")] == [pod]
        knack.link(disk, pod, "next", strength=0.5)
        assert any(r.kind == "next" and r.to == pod for r in knack.get(disk).relations)
        assert knack.edit(pod, add_tags=["ops"], description="stuck pods") == pod
        edited = knack.get(pod)
        assert set(edited.tags) == {"k8s", "ops"} and edited.description == "stuck pods"
        assert knack.body(disk) == b"docker system prune -af"
        assert disk in [r.id for r in knack.similar(pod, 5)] or knack.similar(pod, 5) == []


def test_errors_carry_knack_kind_and_status(node: LocalNode) -> None:
    with node.client() as knack:
        with pytest.raises(NotFound) as missing:
            knack.get("00" * 32)
        assert (missing.value.kind, missing.value.status) == ("unknown_procedure", 404)
        with pytest.raises(BadRequest) as bad:
            knack.record_outcome("not-hex", True)
        assert (bad.value.kind, bad.value.status) == ("bad_request", 400)
        with pytest.raises(KnackError) as bad_link:
            knack.link("00" * 32, "11" * 32, "friends")
        assert bad_link.value.kind == "bad_request"
        with pytest.raises(KnackError) as empty:
            knack.search("")
        assert empty.value.kind == "bad_query"
    with Client(base_url=node.base_url, token="wrong") as stranger:
        with pytest.raises(Unauthorized) as denied:
            stranger.status()
        assert (denied.value.kind, denied.value.status) == ("unauthorized", 401)


def test_space_settings_are_read_and_changed(node: LocalNode) -> None:
    with node.client() as knack:
        before = knack.settings()
        assert before["space"] == "default" and "evidence_weighting" in before
        after = knack.update_settings(evidence_weighting=True, crystallize_min_outcomes=12)
        assert after["evidence_weighting"] is True and after["crystallize_min_outcomes"] == 12
        assert after["set_by"] == knack.status().peer_id
        assert knack.settings() == after
        with pytest.raises(BadRequest) as unknown:
            knack.update_settings(evidence_weight=False)
        assert unknown.value.kind == "bad_request"
        with pytest.raises(BadRequest) as out_of_range:
            knack.update_settings(contagion_factor=1.5)
        assert out_of_range.value.kind == "invalid"
        assert knack.settings() == after
        knack.update_settings(evidence_weighting=False, crystallize_min_outcomes=20)


def test_reads_api_addr_and_token_from_the_data_dir(
    node: LocalNode, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Client(data_dir=node.data_dir) as knack:
        assert knack.base_url == node.base_url
        assert knack.status().api == node.base_url.removeprefix("http://")
    monkeypatch.setenv("KNACK_DIR", str(node.data_dir))
    with Client() as knack:
        assert knack.status().peer_id


def test_no_node_is_an_unreachable_error(tmp_path, node: LocalNode) -> None:
    with pytest.raises(Unreachable):
        Client(data_dir=tmp_path)
    port = node.base_url.rsplit(":", 1)[1]
    node.stop()
    with Client(base_url=f"http://127.0.0.1:{port}", token="t") as knack:
        with pytest.raises(Unreachable) as gone:
            knack.status()
        assert gone.value.kind == "unreachable" and gone.value.status == 0


def test_events_are_an_iterator(node: LocalNode) -> None:
    seen: list[Event] = []
    with node.client() as knack:
        def follow() -> None:
            with node.client() as listener:
                for event in listener.events():
                    seen.append(event)
                    if event.type == "applied":
                        return

        thread = threading.Thread(target=follow, daemon=True)
        thread.start()
        time.sleep(0.5)  # the stream is subscribed
        pid = knack.add("watch the events")
        thread.join(15)
    applied = [e for e in seen if e.type == "applied"]
    assert applied, seen
    assert pid in applied[0].data["procedures"] and applied[0].data["local"] is True


def test_large_bodies_upload_and_download(node: LocalNode) -> None:
    data = bytes(range(256)) * 1024  # 256 KiB, binary: over the inline limit
    with node.client() as knack:
        blob = knack.upload(data)
        assert blob.size == len(data)
        pid = knack.add("a large binary body", body_blob=blob)
        proc = knack.get(pid)
        assert proc.body is not None and proc.body.blake3 == blob.blake3 and proc.body.text is None
        assert knack.body(pid) == data


def test_openapi_description(node: LocalNode) -> None:
    with node.client() as knack:
        doc = knack.openapi()
    assert doc["openapi"] == "3.1.0"
    assert "/v1/spaces/{space}/search" in doc["paths"]
    assert "/mcp" in doc["paths"]


def test_two_nodes_share_outcomes(knack_bin: str) -> None:
    with LocalNode(knack_bin) as a, a.client() as ka:
        with LocalNode(knack_bin, bootstrap=[a.multiaddr()]) as b, b.client() as kb:
            pid = ka.add("drain the node before upgrading", tags=["k8s"])
            ka.record_outcome(pid, True)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                try:
                    if kb.get(pid).successes == 1:
                        break
                except NotFound:
                    pass
                time.sleep(0.2)
            assert kb.get(pid).successes == 1
            assert [p.peer_id for p in kb.peers()] == [ka.status().peer_id]
