"""What each API call sends and how its answer is read: shared by the sync and async clients."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from .models import BlobRef, Peer, Procedure, Ranked, Status


@dataclass
class Call:
    """One request and the reader of its JSON answer."""

    method: str
    path: str
    parse: Callable[[Any], Any]
    params: dict[str, Any] | None = None
    json: Any = None


def _seg(text: str) -> str:
    return quote(text, safe="")


def _space_path(space: str, rest: str) -> str:
    return f"/v1/spaces/{_seg(space)}/{rest}"


def _params(**values: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in values.items():
        if value is None:
            continue
        out[key] = ("true" if value else "false") if isinstance(value, bool) else value
    return out


def _rows(data: Any) -> list[Ranked]:
    return [Ranked.from_dict(r) for r in data]


def add(
    space: str,
    name: str,
    description: str,
    tags: Iterable[str],
    kind: str | None,
    body: str | None,
    body_base64: str | None,
    body_blob: BlobRef | None,
) -> Call:
    payload: dict[str, Any] = {"name": name, "description": description, "tags": list(tags)}
    if kind is not None:
        payload["kind"] = kind
    if body is not None:
        payload["body"] = body
    if body_base64 is not None:
        payload["body_base64"] = body_base64
    if body_blob is not None:
        payload["body_blob"] = {"blake3": body_blob.blake3, "size": body_blob.size}
    return Call("POST", _space_path(space, "procedures"), lambda d: d["id"], json=payload)


def edit(
    space: str,
    id: str,
    name: str | None,
    description: str | None,
    kind: str | None,
    add_tags: Iterable[str],
    remove_tags: Iterable[str],
    body: str | None,
) -> Call:
    payload: dict[str, Any] = {"add_tags": list(add_tags), "remove_tags": list(remove_tags)}
    for key, value in (("name", name), ("description", description), ("kind", kind), ("body", body)):
        if value is not None:
            payload[key] = value
    return Call(
        "PATCH", _space_path(space, f"procedures/{_seg(id)}"), lambda d: d["id"], json=payload
    )


def get(space: str, id: str) -> Call:
    return Call("GET", _space_path(space, f"procedures/{_seg(id)}"), Procedure.from_dict)


def body(space: str, id: str) -> Call:
    return Call("GET", _space_path(space, f"procedures/{_seg(id)}/body"), lambda d: d)


def record_outcome(
    space: str, id: str, success: bool, duration_ms: int, contexts: Iterable[str]
) -> Call:
    payload = {"success": success, "duration_ms": duration_ms, "contexts": list(contexts)}
    return Call(
        "POST",
        _space_path(space, f"procedures/{_seg(id)}/outcomes"),
        Procedure.from_dict,
        json=payload,
    )


def link(
    space: str, from_id: str, to_id: str, kind: str, strength: float | None, remove: bool
) -> Call:
    payload: dict[str, Any] = {"from": from_id, "to": to_id, "kind": kind, "remove": remove}
    if strength is not None:
        payload["strength"] = strength
    return Call("POST", _space_path(space, "links"), lambda d: None, json=payload)


def top(
    space: str,
    n: int,
    tag: str | None,
    context: str | None,
    kind: str | None,
    crystallized: bool,
    explore: str | None,
) -> Call:
    params = _params(
        n=n, tag=tag, context=context, kind=kind, crystallized=crystallized or None, explore=explore
    )
    return Call("GET", _space_path(space, "top"), _rows, params=params)


def search(
    space: str, query: str, n: int, context: str | None, explain: bool, explore: str | None
) -> Call:
    params = _params(q=query, n=n, context=context, explain=explain, explore=explore)
    return Call("GET", _space_path(space, "search"), _rows, params=params)


def similar(space: str, id: str, n: int) -> Call:
    return Call(
        "GET", _space_path(space, f"procedures/{_seg(id)}/similar"), _rows, params={"n": n}
    )


def pin(space: str, id: str, cid: str | None) -> Call:
    payload = {"cid": cid} if cid is not None else {}
    return Call("POST", _space_path(space, f"procedures/{_seg(id)}/pin"), lambda d: d, json=payload)


def settings(space: str) -> Call:
    return Call("GET", _space_path(space, "settings"), lambda d: d)


def update_settings(space: str, changes: dict[str, Any]) -> Call:
    return Call("PATCH", _space_path(space, "settings"), lambda d: d, json=changes)


def status() -> Call:
    return Call("GET", "/v1/status", Status.from_dict)


def peers() -> Call:
    return Call("GET", "/v1/peers", lambda d: [Peer(**p) for p in d])


def openapi() -> Call:
    return Call("GET", "/v1/openapi.json", lambda d: d)
