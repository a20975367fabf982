"""The node's data directory and the files clients read in it (``api.addr``, ``api.token``),
resolved as the ``knack`` CLI does."""

from __future__ import annotations

import os
from pathlib import Path

TOKEN_FILE = "api.token"
API_ADDR_FILE = "api.addr"


def resolve_data_dir(data_dir: str | os.PathLike[str] | None = None) -> Path:
    """``data_dir``, else ``$KNACK_DIR``, else ``$XDG_DATA_HOME/knack``, else
    ``~/.local/share/knack``."""
    if data_dir is not None:
        return Path(data_dir)
    if env := os.environ.get("KNACK_DIR"):
        return Path(env)
    if xdg := os.environ.get("XDG_DATA_HOME"):
        return Path(xdg) / "knack"
    return Path.home() / ".local" / "share" / "knack"


def read_token(data_dir: Path) -> str:
    """The API token of the node of ``data_dir``."""
    return (data_dir / TOKEN_FILE).read_text().strip()


def read_base_url(data_dir: Path) -> str:
    """``http://<api.addr>`` of the node running on ``data_dir``."""
    return "http://" + (data_dir / API_ADDR_FILE).read_text().strip()
