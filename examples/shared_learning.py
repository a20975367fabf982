#!/usr/bin/env python3
"""Two scripted agents (no LLM) on two knack nodes learn which procedures work, together.

Each agent works through a stream of tasks. For each task it asks knack over MCP (agent A over
stdio, `knack mcp`; agent B over streamable HTTP, `/mcp`): `knack_search` for the task (with
`explore: thompson`), takes the candidate with the highest Thompson draw (proven procedures win
most of the time, unproven ones still get tried), `knack_get`s it, "runs" it in a simulated environment where each procedure succeeds
with its own hidden probability, and `knack_record_outcome`s the result. The two nodes form a
2-node mesh on 127.0.0.1, so each agent's outcomes reach the other's ranking by gossip.

The output shows, for each task, the ranking both nodes give before, during and after, and the
agents' success rate rising as the ranking learns.

    pip install ./clients/python mcp
    cargo build -p knack-node
    KNACK_BIN=$CARGO_TARGET_DIR/debug/knack python3 examples/shared_learning.py [--rounds 60]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from knack_client import LocalNode


@dataclass
class Candidate:
    """A procedure and its hidden chance of working in the simulated environment."""

    name: str
    body: str
    p_success: float


TASKS: dict[str, tuple[str, list[Candidate]]] = {
    "disk": (
        "the CI build fails with ENOSPC: no space left on device",
        [
            Candidate("delete old build logs", "rm -rf /var/log/ci/*.old", 0.35),
            Candidate("reboot the CI runner", "sudo reboot", 0.15),
            Candidate("prune docker images on the runner", "docker system prune -af", 0.9),
        ],
    ),
    "pod": (
        "the pod is stuck in CrashLoopBackOff after the config change",
        [
            Candidate("delete the crashing pod", "kubectl delete pod $POD", 0.3),
            Candidate("roll back the deployment config", "kubectl rollout undo deploy/$APP", 0.85),
            Candidate("scale the deployment to zero and back", "kubectl scale --replicas=0 ...", 0.2),
        ],
    ),
    "tls": (
        "browsers say the TLS certificate expired",
        [
            Candidate("restart nginx to reload the certificate", "systemctl restart nginx", 0.1),
            Candidate("renew the certificate with certbot", "certbot renew && nginx -s reload", 0.95),
        ],
    ),
}


def structured(result: Any) -> dict[str, Any]:
    if result.is_error:
        raise RuntimeError(result.content[0].text)
    return result.structured_content


@asynccontextmanager
async def stdio_session(node: LocalNode) -> AsyncIterator[ClientSession]:
    params = StdioServerParameters(command=node.binary, args=["--dir", str(node.data_dir), "mcp"])
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        yield session


@asynccontextmanager
async def http_session(node: LocalNode) -> AsyncIterator[ClientSession]:
    headers = {"Authorization": f"Bearer {node.token}"}
    async with (
        create_mcp_http_client(headers=headers) as http,
        streamable_http_client(f"{node.base_url}/mcp", http_client=http) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        yield session


class Agent:
    """A scripted agent: search, take the first result, use it, record the outcome."""

    def __init__(self, name: str, session: ClientSession, rng: random.Random) -> None:
        self.name = name
        self.session = session
        self.rng = rng
        self.results: list[bool] = []

    async def work(self, task: str, truth: dict[tuple[str, str], float]) -> tuple[str, bool]:
        query, _ = TASKS[task]
        found = structured(
            await self.session.call_tool(
                "knack_search",
                {"query": query, "context": task, "n": 3, "explore": "thompson"},
            )
        )["results"]
        # The search found the candidates for this task (by meaning and words); choose among
        # them by their Thompson draws (a sample of each one's success rate given the evidence
        # of every agent): proven ones win most of the time, the unproven still get tried.
        choice = max(found, key=lambda row: row.get("draw", row["score"]))
        procedure = structured(await self.session.call_tool("knack_get", {"id": choice["id"]}))
        # A procedure written for another task never solves this one.
        ok = self.rng.random() < truth.get((task, procedure["name"]), 0.0)
        await self.session.call_tool(
            "knack_record_outcome",
            {"id": choice["id"], "success": ok, "duration_ms": self.rng.randint(200, 2000),
             "contexts": [task]},
        )
        self.results.append(ok)
        return procedure["name"], ok


async def ranking(session: ClientSession, task: str) -> list[tuple[str, int, int, float]]:
    """The node's ranking of the task's procedures (greedy: by score)."""
    rows = structured(
        await session.call_tool("knack_top", {"tag": task, "context": task, "n": 5})
    )["results"]
    return [(r["name"], r["successes"], r["failures"], r["score"]) for r in rows]


async def show(label: str, a: ClientSession, b: ClientSession) -> None:
    print(f"\n--- {label}")
    for task, (query, _) in TASKS.items():
        print(f"  task {task!r}: {query}")
        ra, rb = await ranking(a, task), await ranking(b, task)
        for i, ((name, s, f, score), (_, s_b, f_b, score_b)) in enumerate(zip(ra, rb)):
            print(f"    {i + 1}. {name:45s} node A: {s:3d} ok {f:3d} failed score {score:.3f}"
                  f" | node B: {s_b:3d}/{f_b:3d} {score_b:.3f}")


def rate(results: list[bool]) -> str:
    return f"{sum(results)}/{len(results)} = {sum(results) / max(1, len(results)):.0%}"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=60, help="tasks per agent")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    truth = {(t, c.name): c.p_success for t, (_, cands) in TASKS.items() for c in cands}

    with LocalNode() as node_a:
        with LocalNode(bootstrap=[node_a.multiaddr()]) as node_b:
            async with AsyncExitStack() as stack:
                a = await stack.enter_async_context(stdio_session(node_a))
                b = await stack.enter_async_context(http_session(node_b))
                print(f"node A {node_a.base_url} (agent A over stdio: knack mcp)")
                print(f"node B {node_b.base_url} (agent B over streamable HTTP: /mcp)")
                # Agent A writes down the candidate procedures it knows; B learns them by gossip.
                for task, (query, cands) in TASKS.items():
                    for c in cands:
                        structured(await a.call_tool("knack_add", {
                            "name": c.name, "description": f"when {query}", "tags": [task],
                            "kind": "script", "body": c.body}))
                await wait_for_procedures(b, sum(len(c) for _, c in TASKS.values()))
                await show("before: nothing is known", a, b)
                agents = [Agent("A", a, random.Random(rng.random())),
                          Agent("B", b, random.Random(rng.random()))]
                task_names = list(TASKS)
                checkpoints = {args.rounds // 4, args.rounds}
                for round_ in range(1, args.rounds + 1):
                    for agent in agents:
                        await agent.work(rng.choice(task_names), truth)
                    if round_ in checkpoints:
                        await asyncio.sleep(1.0)  # let the last outcomes gossip
                        await show(f"after {round_} tasks per agent", a, b)
                window = max(1, args.rounds // 4)
                print("\nsuccess rate of the agents' choices")
                for agent in agents:
                    print(f"  agent {agent.name}: first {window} tasks {rate(agent.results[:window])},"
                          f" last {window} tasks {rate(agent.results[-window:])}")
                both = [r for ag in agents for r in ag.results]
                best = sum(max(c.p_success for c in cands) for _, cands in TASKS.values()) / len(TASKS)
                print(f"  together: {rate(both)} (always choosing the best: ~{best:.0%})")
                total_a, total_b = await outcomes(a), await outcomes(b)
                print(f"\neach agent recorded {args.rounds} outcomes on its own node; node A counts"
                      f" {total_a}, node B counts {total_b}: what one learns, both rank by")


async def outcomes(session: ClientSession) -> int:
    """All outcomes a node counts."""
    rows = structured(await session.call_tool("knack_top", {"n": 100}))["results"]
    return sum(r["successes"] + r["failures"] for r in rows)


async def wait_for_procedures(session: ClientSession, count: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = structured(await session.call_tool("knack_top", {"n": 100}))["results"]
        if len(rows) >= count:
            return
        await asyncio.sleep(0.2)
    raise TimeoutError("node B did not receive the procedures")


if __name__ == "__main__":
    # The SDK warns when a session's DELETE is answered 202 (rmcp's answer); nothing is wrong.
    logging.getLogger("mcp.client.streamable_http").setLevel(logging.ERROR)
    asyncio.run(main())
