"""Errors of the knack API: each carries knack's error ``kind`` and the HTTP ``status``."""

from __future__ import annotations

from typing import Any


class KnackError(Exception):
    """An error answered by a knack node (``{"error": ..., "kind": ...}``) or met reaching one.

    Attributes:
        status: the HTTP status (0 when no node answered).
        kind: knack's error kind: ``bad_request``, ``unauthorized``, ``unknown_procedure``,
            ``unknown_space``, ``crystallized``, ``already_exists``, ``invalid``, ``bad_query``,
            ``index_building``, ``too_large``, ``body_unavailable``, ``body_mismatch``, ``ipfs``,
            ``no_ipfs``, ``stopped``, ``internal``, ``not_found``; ``unreachable`` when no node
            answered.
        message: what went wrong.
    """

    def __init__(self, status: int, kind: str, message: str) -> None:
        super().__init__(f"{message} ({kind}, HTTP {status})" if status else f"{message} ({kind})")
        self.status = status
        self.kind = kind
        self.message = message


class BadRequest(KnackError):
    """HTTP 400: the request does not parse or make sense."""


class Unauthorized(KnackError):
    """HTTP 401: missing or wrong API token."""


class Forbidden(KnackError):
    """HTTP 403: not allowed in a members-only space (`not_admin`, `not_member`)."""


class NotFound(KnackError):
    """HTTP 404: unknown procedure, space or route; or a body no peer has."""


class Conflict(KnackError):
    """HTTP 409: e.g. editing the body of a crystallized procedure."""


class TooLarge(KnackError):
    """HTTP 413: a body over the node's limits."""


class Unavailable(KnackError):
    """HTTP 503: the node is stopping or its search index is being built."""


class Unreachable(KnackError):
    """No node answered at the address (is ``knack run`` running?)."""

    def __init__(self, message: str) -> None:
        super().__init__(0, "unreachable", message)


_BY_STATUS: dict[int, type[KnackError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    413: TooLarge,
    503: Unavailable,
}


def error_from_response(status: int, body: Any, text: str) -> KnackError:
    """The exception for an error answer: its class by status, its kind and message by body."""
    kind = "internal"
    message = text[:500] or f"HTTP {status}"
    if isinstance(body, dict):
        kind = str(body.get("kind", kind))
        message = str(body.get("error", message))
    return _BY_STATUS.get(status, KnackError)(status, kind, message)
