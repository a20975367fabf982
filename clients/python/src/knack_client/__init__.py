"""knack-client: the Python client of a knack node (a peer-to-peer procedural memory for AI
agents).

>>> from knack_client import Client                 # doctest: +SKIP
>>> with Client() as knack:                         # the node on $KNACK_DIR (api.addr, api.token)
...     best = knack.search("pods stuck after the config change", context="deploy")[0]
...     proc = knack.get(best.id)
...     knack.record_outcome(best.id, success=True, contexts=["deploy"])
"""

from ._client import AsyncClient, Client
from ._dirs import resolve_data_dir
from .errors import (
    BadRequest,
    Conflict,
    Forbidden,
    KnackError,
    NotFound,
    TooLarge,
    Unauthorized,
    Unavailable,
    Unreachable,
)
from .local import LocalNode, find_knack
from .models import (
    BlobRef,
    Body,
    ContextCounts,
    Event,
    Peer,
    Procedure,
    Ranked,
    Relation,
    SpaceStatus,
    Status,
)

__version__ = "0.1.0"

__all__ = [
    "AsyncClient",
    "BadRequest",
    "BlobRef",
    "Body",
    "Client",
    "Conflict",
    "ContextCounts",
    "Event",
    "Forbidden",
    "KnackError",
    "LocalNode",
    "NotFound",
    "Peer",
    "Procedure",
    "Ranked",
    "Relation",
    "SpaceStatus",
    "Status",
    "TooLarge",
    "Unauthorized",
    "Unavailable",
    "Unreachable",
    "find_knack",
    "resolve_data_dir",
]
