"""Fixtures: real knack nodes (the binary from $KNACK_BIN, else `knack` on PATH)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from knack_client import LocalNode, find_knack


@pytest.fixture(scope="session")
def knack_bin() -> str:
    return find_knack()


@pytest.fixture
def node(knack_bin: str) -> Iterator[LocalNode]:
    with LocalNode(knack_bin) as n:
        yield n


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
