"""Typed views of what the API returns (unknown fields are kept in ``extra``, never refused)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")


def _build(cls: type[T], data: dict[str, Any], **nested: Any) -> T:
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    known = {k: v for k, v in data.items() if k in names}
    known.update(nested)
    if "extra" in names:
        known["extra"] = {k: v for k, v in data.items() if k not in names}
    return cls(**known)


@dataclass
class ContextCounts:
    """Successes and failures in one context."""

    successes: int
    failures: int


@dataclass
class Body:
    """A procedure's current body: its hash and size, the text when inline UTF-8, the CID."""

    blake3: str
    size: int
    text: str | None = None
    cid: str | None = None


@dataclass
class Relation:
    """A relation between two procedures."""

    kind: str
    to: str
    strength: float
    from_: str = ""

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Relation:
        """Reads a relation (``from`` is ``from_`` here)."""
        return cls(
            kind=data["kind"], to=data["to"], strength=data["strength"], from_=data.get("from", "")
        )


@dataclass
class Procedure:
    """A procedure with its derived values (``GET /v1/spaces/{space}/procedures/{id}``)."""

    id: str
    space: str
    name: str
    description: str
    kind: str
    tags: list[str]
    successes: int
    failures: int
    mean_duration_ms: float
    rate: float
    confidence: float
    boost: float
    score: float
    prior_successes: float
    prior_failures: float
    crystallized: bool
    success_agents: int
    author: str
    created_ms: int
    versions: int
    contexts: dict[str, ContextCounts] = field(default_factory=dict)
    last_used_ms: int | None = None
    body: Body | None = None
    relations: list[Relation] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Procedure:
        """Reads the API's JSON."""
        body = data.get("body")
        return _build(
            cls,
            data,
            contexts={k: _build(ContextCounts, v) for k, v in (data.get("contexts") or {}).items()},
            body=_build(Body, body) if body else None,
            relations=[Relation.from_dict(r) for r in data.get("relations") or []],
        )


@dataclass
class Ranked:
    """A ranking row (``top``, ``search``, ``similar``)."""

    id: str
    name: str
    score: float
    confidence: float
    boost: float
    prior_successes: float
    prior_failures: float
    rate: float
    successes: int
    failures: int
    crystallized: bool
    draw: float | None = None
    relevance: float | None = None
    explain: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Ranked:
        """Reads the API's JSON."""
        return _build(cls, data)


@dataclass
class BlobRef:
    """A body uploaded to the node's blob store (``body_blob`` of an add or edit)."""

    blake3: str
    size: int


@dataclass
class Peer:
    """A connected peer."""

    peer_id: str
    addrs: list[str]


@dataclass
class SpaceStatus:
    """The state of one space on a node."""

    name: str
    digest: str
    ops: int
    procedures: int
    version_vector: dict[str, int] = field(default_factory=dict)
    buffered_ops: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Status:
    """A node's status (``GET /v1/status``); the content and search sections stay as dicts."""

    peer_id: str
    agent_id: str
    listen_addrs: list[str]
    api: str | None
    peers: list[str]
    spaces: list[SpaceStatus]
    store_bytes: int = 0
    content: dict[str, Any] = field(default_factory=dict)
    search: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Status:
        """Reads the API's JSON."""
        return _build(cls, data, spaces=[_build(SpaceStatus, s) for s in data.get("spaces", [])])

    def multiaddr(self) -> str | None:
        """A TCP address with ``/p2p/<peer id>`` other nodes can bootstrap to."""
        for addr in self.listen_addrs:
            if "/tcp/" in addr:
                return f"{addr}/p2p/{self.peer_id}"
        return None


@dataclass
class Event:
    """A change event (``GET /v1/events``): ``type`` is ``applied``, ``peer_connected``,
    ``peer_disconnected`` or ``lagged``; the other fields are in ``data``."""

    type: str
    data: dict[str, Any]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Event:
        """Reads one event's JSON."""
        rest = {k: v for k, v in data.items() if k != "type"}
        return cls(type=str(data.get("type", "")), data=rest)
