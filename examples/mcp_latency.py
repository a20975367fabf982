#!/usr/bin/env python3
"""Latency of one MCP tool call (`knack_search`) through the official Python `mcp` SDK, over
stdio (`knack mcp`, talking to the running node's HTTP API) and over streamable HTTP (`/mcp` on
the node's API, tools called in process). One node on 127.0.0.1 with a few hundred procedures;
prints p50 / p99 / mean per transport.

    KNACK_BIN=$CARGO_TARGET_DIR/release/knack python3 examples/mcp_latency.py --calls 500
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import time

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from knack_client import LocalNode

QUERIES = [
    "no space left on device during the build",
    "pod stuck in CrashLoopBackOff",
    "TLS certificate expired",
    "restart the deployment",
    "database connection refused",
]


def seed(node: LocalNode, procedures: int) -> None:
    topics = ["disk", "pod", "tls", "dns", "db", "queue", "cache", "auth"]
    with node.client() as knack:
        for i in range(procedures):
            topic = topics[i % len(topics)]
            pid = knack.add(
                f"{topic} runbook {i}: fix the {topic} problem, variant {i // len(topics)}",
                description=f"when the {topic} breaks: symptoms {i}, error E{i:04d}",
                tags=[topic],
                body=f"step 1: look at {topic}\nstep 2: apply fix {i}",
            )
            knack.record_outcome(pid, i % 3 != 0, contexts=[topic])


async def measure(session: ClientSession, calls: int) -> list[float]:
    for query in QUERIES:  # warm up
        await session.call_tool("knack_search", {"query": query})
    samples = []
    for i in range(calls):
        started = time.perf_counter()
        result = await session.call_tool(
            "knack_search", {"query": QUERIES[i % len(QUERIES)], "n": 5, "context": "disk"}
        )
        samples.append((time.perf_counter() - started) * 1000)
        assert not result.is_error, result
    return samples


def report(name: str, samples: list[float]) -> None:
    ordered = sorted(samples)
    p50 = ordered[len(ordered) // 2]
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    print(f"{name:16s} {len(samples)} calls: p50 {p50:.2f} ms, p99 {p99:.2f} ms, "
          f"mean {statistics.fmean(samples):.2f} ms")


async def main() -> None:
    parser = argparse.ArgumentParser(description="MCP tool call latency (knack_search)")
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--procedures", type=int, default=400)
    args = parser.parse_args()
    with LocalNode() as node:
        seed(node, args.procedures)
        params = StdioServerParameters(command=node.binary, args=["--dir", str(node.data_dir), "mcp"])
        async with stdio_client(params) as (r, w), ClientSession(r, w) as session:
            await session.initialize()
            stdio = await measure(session, args.calls)
        headers = {"Authorization": f"Bearer {node.token}"}
        async with (
            create_mcp_http_client(headers=headers) as http,
            streamable_http_client(f"{node.base_url}/mcp", http_client=http) as (r, w),
            ClientSession(r, w) as session,
        ):
            await session.initialize()
            streamable = await measure(session, args.calls)
    print(f"knack_search over MCP, {args.procedures} procedures, one node on 127.0.0.1")
    report("stdio", stdio)
    report("streamable HTTP", streamable)


if __name__ == "__main__":
    logging.getLogger("mcp.client.streamable_http").setLevel(logging.ERROR)
    asyncio.run(main())
