"""knack's MCP server driven by an MCP client nobody here wrote: the official Python `mcp` SDK
(PyPI), over stdio (`knack mcp`) and over streamable HTTP (`/mcp` on the node's API)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from knack_client import LocalNode

pytestmark = pytest.mark.anyio

TOOLS = {
    "knack_search",
    "knack_get",
    "knack_record_outcome",
    "knack_add",
    "knack_edit",
    "knack_link",
    "knack_top",
}


@asynccontextmanager
async def stdio_session(node: LocalNode) -> AsyncIterator[ClientSession]:
    params = StdioServerParameters(
        command=node.binary, args=["--dir", str(node.data_dir), "mcp"]
    )
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            yield session


@asynccontextmanager
async def http_session(node: LocalNode) -> AsyncIterator[ClientSession]:
    headers = {"Authorization": f"Bearer {node.token}"}
    async with create_mcp_http_client(headers=headers) as http:
        async with streamable_http_client(f"{node.base_url}/mcp", http_client=http) as (r, w):
            async with ClientSession(r, w) as session:
                await session.initialize()
                yield session


SESSIONS = {"stdio": stdio_session, "http": http_session}


def structured(result: Any) -> dict[str, Any]:
    assert result.is_error is False, result
    return result.structured_content


@pytest.mark.parametrize("transport", ["stdio", "http"])
async def test_search_get_record_and_bad_arguments_change_nothing(
    node: LocalNode, transport: str
) -> None:
    with node.client() as knack:
        disk = knack.add(
            "free disk space on the CI runner",
            description="ENOSPC: no space left on device during the build",
            tags=["ci"],
            body="docker system prune -af",
        )
        knack.add("restart the pod", tags=["k8s"])

        async with SESSIONS[transport](node) as session:
            tools = (await session.list_tools()).tools
            assert {t.name for t in tools} == TOOLS
            for tool in tools:
                assert tool.description and len(tool.description) > 40
                schema = tool.input_schema
                for name in schema.get("required", []):
                    assert schema["properties"][name]["description"].startswith("Required.")

            found = structured(
                await session.call_tool(
                    "knack_search", {"query": "no space left on device", "context": "ci"}
                )
            )
            best = found["results"][0]
            assert best["id"] == disk and "explain" in best
            got = structured(await session.call_tool("knack_get", {"id": best["id"]}))
            assert got["body"]["text"] == "docker system prune -af"
            after = structured(
                await session.call_tool(
                    "knack_record_outcome",
                    {"id": disk, "success": True, "duration_ms": 900, "contexts": ["ci"]},
                )
            )
            assert after["successes"] == 1
            assert knack.get(disk).successes == 1
            ops = knack.status().spaces[0].ops

            bad = [
                ("knack_record_outcome", {"id": disk, "success": "yes"}, "bad_request"),
                ("knack_record_outcome", {"id": disk}, "bad_request"),
                ("knack_record_outcome", {"id": "00" * 32, "success": True}, "unknown_procedure"),
                ("knack_get", {"id": "zz"}, "bad_request"),
                ("knack_link", {"from": disk, "to": disk, "kind": "friends"}, "bad_request"),
                ("knack_add", {"description": "no name"}, "bad_request"),
            ]
            for tool, arguments, kind in bad:
                result = await session.call_tool(tool, arguments)
                assert result.is_error is True, (tool, arguments, result)
                assert result.structured_content["kind"] == kind, result
                assert kind in result.content[0].text
            assert knack.status().spaces[0].ops == ops, "a refused call changed the replica"
            assert knack.get(disk).successes == 1


@pytest.mark.parametrize("transport", ["stdio", "http"])
async def test_save_link_and_top(node: LocalNode, transport: str) -> None:
    async with SESSIONS[transport](node) as session:
        first = structured(
            await session.call_tool(
                "knack_add", {"name": "cordon the node", "tags": ["k8s"], "body": "kubectl cordon"}
            )
        )["id"]
        second = structured(
            await session.call_tool("knack_add", {"name": "drain the node", "tags": ["k8s"]})
        )["id"]
        structured(await session.call_tool("knack_edit", {"id": second, "body": "kubectl drain"}))
        structured(
            await session.call_tool(
                "knack_link", {"from": first, "to": second, "kind": "next", "strength": 1.0}
            )
        )
        structured(await session.call_tool("knack_record_outcome", {"id": second, "success": True}))
        top = structured(await session.call_tool("knack_top", {"tag": "k8s"}))["results"]
        assert [row["id"] for row in top] == [second, first]
        templates = (await session.list_resource_templates()).resource_templates
        assert templates[0].uri_template == "knack://procedures/{space}/{id}"
        read = await session.read_resource(f"knack://procedures/default/{second}")
        assert '"kubectl drain"' in read.contents[0].text
