"""The sync and async clients of a knack node's HTTP API."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Iterable, Iterator
from typing import Any

import httpx

from . import _calls
from ._calls import Call
from ._dirs import read_base_url, read_token, resolve_data_dir
from .errors import KnackError, Unreachable, error_from_response
from .models import BlobRef, Event, Peer, Procedure, Ranked, Status

DEFAULT_TIMEOUT = 30.0
DEFAULT_SPACE = "default"


def _connection(
    base_url: str | None, token: str | None, data_dir: str | os.PathLike[str] | None
) -> tuple[str, str]:
    """(base URL, token): given, else read from the data directory as the CLI does."""
    if base_url is None or token is None:
        directory = resolve_data_dir(data_dir)
        try:
            if token is None:
                token = read_token(directory)
            if base_url is None:
                base_url = read_base_url(directory)
        except FileNotFoundError as e:
            raise Unreachable(
                f"no running knack node found in {directory} ({e.filename} is missing; "
                "start one with `knack run`)"
            ) from e
    return base_url.rstrip("/"), token


def _answer(call: Call, response: httpx.Response) -> Any:
    if response.is_error:
        try:
            body: Any = response.json()
        except ValueError:
            body = None
        raise error_from_response(response.status_code, body, response.text)
    if response.headers.get("content-type", "").startswith("application/json"):
        return call.parse(response.json())
    return call.parse(response.content)


def _event(line: str) -> Event | None:
    if not line.startswith("data:"):
        return None
    try:
        return Event.from_dict(json.loads(line[5:].strip()))
    except ValueError:
        return None


class Client:
    """A blocking client of a knack node's HTTP API.

    ``Client()`` finds the node running on the default data directory (``$KNACK_DIR``, else
    the platform's) by its ``api.addr`` and ``api.token`` files; ``Client(data_dir=...)`` on
    another directory; ``Client(base_url="http://127.0.0.1:PORT", token=...)`` anywhere.
    Errors raise :class:`knack_client.KnackError` subclasses carrying knack's ``kind``.
    """

    def __init__(
        self,
        base_url: str | None = None,
        token: str | None = None,
        data_dir: str | os.PathLike[str] | None = None,
        *,
        space: str = DEFAULT_SPACE,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.base_url, self._token = _connection(base_url, token, data_dir)
        self.space = space
        self._http = httpx.Client(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {self._token}"},
            timeout=timeout,
        )

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Closes the connections."""
        self._http.close()

    def _run(self, call: Call) -> Any:
        try:
            response = self._http.request(
                call.method, call.path, params=call.params, json=call.json
            )
        except httpx.TransportError as e:
            raise Unreachable(f"cannot reach the knack node at {self.base_url}: {e}") from e
        return _answer(call, response)

    def _sp(self, space: str | None) -> str:
        return space or self.space

    def add(
        self,
        name: str,
        *,
        description: str = "",
        tags: Iterable[str] = (),
        kind: str | None = None,
        body: str | None = None,
        body_base64: str | None = None,
        body_blob: BlobRef | None = None,
        space: str | None = None,
    ) -> str:
        """Adds a procedure; returns its id."""
        return self._run(
            _calls.add(self._sp(space), name, description, tags, kind, body, body_base64, body_blob)
        )

    def edit(
        self,
        id: str,
        *,
        name: str | None = None,
        description: str | None = None,
        kind: str | None = None,
        add_tags: Iterable[str] = (),
        remove_tags: Iterable[str] = (),
        body: str | None = None,
        space: str | None = None,
    ) -> str:
        """Edits a procedure (a new body is a new version); returns its id."""
        return self._run(
            _calls.edit(self._sp(space), id, name, description, kind, add_tags, remove_tags, body)
        )

    def get(self, id: str, *, space: str | None = None) -> Procedure:
        """A procedure with its derived values and its body (when inline)."""
        return self._run(_calls.get(self._sp(space), id))

    def body(self, id: str, *, space: str | None = None) -> bytes:
        """A procedure's body bytes (fetched from peers or IPFS by the node if needed)."""
        return self._run(_calls.body(self._sp(space), id))

    def record_outcome(
        self,
        id: str,
        success: bool,
        *,
        duration_ms: int = 0,
        contexts: Iterable[str] = (),
        space: str | None = None,
    ) -> Procedure:
        """Records one use of a procedure; returns the procedure after it."""
        return self._run(
            _calls.record_outcome(self._sp(space), id, success, duration_ms, contexts)
        )

    def link(
        self,
        from_id: str,
        to_id: str,
        kind: str,
        *,
        strength: float | None = None,
        remove: bool = False,
        space: str | None = None,
    ) -> None:
        """Relates two procedures (``similar``, ``context``, ``next``, ``depends``,
        ``supersedes``), or removes the relation."""
        self._run(_calls.link(self._sp(space), from_id, to_id, kind, strength, remove))

    def top(
        self,
        n: int = 10,
        *,
        tag: str | None = None,
        context: str | None = None,
        kind: str | None = None,
        crystallized: bool = False,
        explore: str | None = None,
        space: str | None = None,
    ) -> list[Ranked]:
        """The best procedures (``explore="thompson"``: by posterior draws)."""
        return self._run(
            _calls.top(self._sp(space), n, tag, context, kind, crystallized, explore)
        )

    def search(
        self,
        query: str,
        n: int = 10,
        *,
        context: str | None = None,
        explain: bool = False,
        explore: str | None = None,
        space: str | None = None,
    ) -> list[Ranked]:
        """Finds procedures for a task: meaning, words and evidence together."""
        return self._run(_calls.search(self._sp(space), query, n, context, explain, explore))

    def similar(self, id: str, n: int = 10, *, space: str | None = None) -> list[Ranked]:
        """The procedures nearest in meaning to one."""
        return self._run(_calls.similar(self._sp(space), id, n))

    def upload(self, data: bytes) -> BlobRef:
        """Uploads a body of any size to the node's blob store (use it as ``body_blob``)."""
        call = Call("POST", "/v1/blobs", lambda d: BlobRef(**d))
        try:
            response = self._http.post(
                "/v1/blobs", content=data, headers={"Content-Type": "application/octet-stream"}
            )
        except httpx.TransportError as e:
            raise Unreachable(f"cannot reach the knack node at {self.base_url}: {e}") from e
        return _answer(call, response)

    def pin(self, id: str, *, cid: str | None = None, space: str | None = None) -> dict[str, Any]:
        """Queues the body for IPFS, or records a CID it already has there."""
        return self._run(_calls.pin(self._sp(space), id, cid))

    def settings(self, *, space: str | None = None) -> dict[str, Any]:
        """The space's replicated settings in effect (and `set_by`, who set them)."""
        return self._run(_calls.settings(self._sp(space)))

    def update_settings(self, *, space: str | None = None, **changes: Any) -> dict[str, Any]:
        """Changes some settings (e.g. `evidence_weighting=True`); returns them all after.
        Unknown keys and values out of range raise `BadRequest`; a node that is no admin of a
        members-only space gets `Forbidden` (kind `not_admin`)."""
        return self._run(_calls.update_settings(self._sp(space), changes))

    def status(self) -> Status:
        """The node's status: identity, addresses, peers, spaces and their digests."""
        return self._run(_calls.status())

    def peers(self) -> list[Peer]:
        """Connected peers."""
        return self._run(_calls.peers())

    def openapi(self) -> dict[str, Any]:
        """The API's OpenAPI 3.1 description."""
        return self._run(_calls.openapi())

    def events(self) -> Iterator[Event]:
        """The node's change events (server-sent events) from now on, as they happen. The
        iterator blocks between events; close it (or break out of the loop) to stop."""
        try:
            with self._http.stream(
                "GET", "/v1/events", timeout=httpx.Timeout(10.0, read=None)
            ) as response:
                if response.is_error:
                    response.read()
                    _answer(_calls.status(), response)
                for line in response.iter_lines():
                    if (event := _event(line)) is not None:
                        yield event
        except httpx.TransportError as e:
            raise Unreachable(f"the event stream of {self.base_url} ended: {e}") from e


class AsyncClient:
    """The asyncio (anyio) twin of :class:`Client`: the same methods, awaited; ``events()`` is
    an async iterator."""

    def __init__(
        self,
        base_url: str | None = None,
        token: str | None = None,
        data_dir: str | os.PathLike[str] | None = None,
        *,
        space: str = DEFAULT_SPACE,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.base_url, self._token = _connection(base_url, token, data_dir)
        self.space = space
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {self._token}"},
            timeout=timeout,
        )

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Closes the connections."""
        await self._http.aclose()

    async def _run(self, call: Call) -> Any:
        try:
            response = await self._http.request(
                call.method, call.path, params=call.params, json=call.json
            )
        except httpx.TransportError as e:
            raise Unreachable(f"cannot reach the knack node at {self.base_url}: {e}") from e
        return _answer(call, response)

    def _sp(self, space: str | None) -> str:
        return space or self.space

    async def add(
        self,
        name: str,
        *,
        description: str = "",
        tags: Iterable[str] = (),
        kind: str | None = None,
        body: str | None = None,
        body_base64: str | None = None,
        body_blob: BlobRef | None = None,
        space: str | None = None,
    ) -> str:
        """Adds a procedure; returns its id."""
        return await self._run(
            _calls.add(self._sp(space), name, description, tags, kind, body, body_base64, body_blob)
        )

    async def edit(
        self,
        id: str,
        *,
        name: str | None = None,
        description: str | None = None,
        kind: str | None = None,
        add_tags: Iterable[str] = (),
        remove_tags: Iterable[str] = (),
        body: str | None = None,
        space: str | None = None,
    ) -> str:
        """Edits a procedure; returns its id."""
        return await self._run(
            _calls.edit(self._sp(space), id, name, description, kind, add_tags, remove_tags, body)
        )

    async def get(self, id: str, *, space: str | None = None) -> Procedure:
        """A procedure with its derived values and its body (when inline)."""
        return await self._run(_calls.get(self._sp(space), id))

    async def body(self, id: str, *, space: str | None = None) -> bytes:
        """A procedure's body bytes."""
        return await self._run(_calls.body(self._sp(space), id))

    async def record_outcome(
        self,
        id: str,
        success: bool,
        *,
        duration_ms: int = 0,
        contexts: Iterable[str] = (),
        space: str | None = None,
    ) -> Procedure:
        """Records one use of a procedure; returns the procedure after it."""
        return await self._run(
            _calls.record_outcome(self._sp(space), id, success, duration_ms, contexts)
        )

    async def link(
        self,
        from_id: str,
        to_id: str,
        kind: str,
        *,
        strength: float | None = None,
        remove: bool = False,
        space: str | None = None,
    ) -> None:
        """Relates two procedures, or removes the relation."""
        await self._run(_calls.link(self._sp(space), from_id, to_id, kind, strength, remove))

    async def top(
        self,
        n: int = 10,
        *,
        tag: str | None = None,
        context: str | None = None,
        kind: str | None = None,
        crystallized: bool = False,
        explore: str | None = None,
        space: str | None = None,
    ) -> list[Ranked]:
        """The best procedures."""
        return await self._run(
            _calls.top(self._sp(space), n, tag, context, kind, crystallized, explore)
        )

    async def search(
        self,
        query: str,
        n: int = 10,
        *,
        context: str | None = None,
        explain: bool = False,
        explore: str | None = None,
        space: str | None = None,
    ) -> list[Ranked]:
        """Finds procedures for a task."""
        return await self._run(
            _calls.search(self._sp(space), query, n, context, explain, explore)
        )

    async def similar(self, id: str, n: int = 10, *, space: str | None = None) -> list[Ranked]:
        """The procedures nearest in meaning to one."""
        return await self._run(_calls.similar(self._sp(space), id, n))

    async def settings(self, *, space: str | None = None) -> dict[str, Any]:
        """The space's replicated settings in effect."""
        return await self._run(_calls.settings(self._sp(space)))

    async def update_settings(self, *, space: str | None = None, **changes: Any) -> dict[str, Any]:
        """Changes some settings; returns them all after."""
        return await self._run(_calls.update_settings(self._sp(space), changes))

    async def status(self) -> Status:
        """The node's status."""
        return await self._run(_calls.status())

    async def peers(self) -> list[Peer]:
        """Connected peers."""
        return await self._run(_calls.peers())

    async def openapi(self) -> dict[str, Any]:
        """The API's OpenAPI 3.1 description."""
        return await self._run(_calls.openapi())

    async def events(self) -> AsyncIterator[Event]:
        """The node's change events from now on, as an async iterator."""
        try:
            async with self._http.stream(
                "GET", "/v1/events", timeout=httpx.Timeout(10.0, read=None)
            ) as response:
                if response.is_error:
                    await response.aread()
                    _answer(_calls.status(), response)
                async for line in response.aiter_lines():
                    if (event := _event(line)) is not None:
                        yield event
        except httpx.TransportError as e:
            raise Unreachable(f"the event stream of {self.base_url} ended: {e}") from e


__all__ = ["AsyncClient", "Client", "KnackError"]
