"""Start a local knack node (the ``knack`` binary) for tests and notebooks.

>>> with LocalNode() as node:                       # doctest: +SKIP
...     client = node.client()
...     pid = client.add("restart the pod", body="kubectl rollout restart deploy/web")
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

from ._client import AsyncClient, Client
from ._dirs import API_ADDR_FILE, read_base_url, read_token

#: How long :meth:`LocalNode.start` waits for the API to answer.
START_TIMEOUT = 30.0


def find_knack(binary: str | os.PathLike[str] | None = None) -> str:
    """The ``knack`` binary: ``binary``, else ``$KNACK_BIN``, else ``knack`` on ``PATH``."""
    candidate = str(binary) if binary else os.environ.get("KNACK_BIN") or shutil.which("knack")
    if not candidate or not Path(candidate).exists():
        raise FileNotFoundError(
            "no knack binary: pass binary=..., set KNACK_BIN, or put `knack` on PATH "
            "(cargo build -p knack-node)"
        )
    return candidate


class LocalNode:
    """A ``knack run`` process on a data directory (a temporary one by default), on 127.0.0.1
    with OS-chosen ports. Stops cleanly (SIGTERM) on :meth:`stop` or at the end of a ``with``.

    Args:
        binary: the ``knack`` binary (default: ``$KNACK_BIN``, else on ``PATH``).
        data_dir: the data directory (default: a new temporary directory, deleted on stop).
        bootstrap: peers to dial (multiaddrs with ``/p2p/<peer id>``), e.g. another
            LocalNode's :meth:`multiaddr`.
        args: more arguments for ``knack run``.
    """

    def __init__(
        self,
        binary: str | os.PathLike[str] | None = None,
        data_dir: str | os.PathLike[str] | None = None,
        *,
        bootstrap: Iterable[str] = (),
        args: Iterable[str] = (),
    ) -> None:
        self.binary = find_knack(binary)
        self._tmp = None if data_dir else tempfile.TemporaryDirectory(prefix="knack-")
        self.data_dir = Path(data_dir) if data_dir else Path(self._tmp.name)  # type: ignore[union-attr]
        self.bootstrap = list(bootstrap)
        self.args = list(args)
        self.process: subprocess.Popen[bytes] | None = None
        self.base_url = ""
        self.token = ""

    def __enter__(self) -> LocalNode:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def log_path(self) -> Path:
        """Where the node's log goes."""
        return self.data_dir / "node.log"

    def start(self) -> LocalNode:
        """Initialises the data directory if needed, starts the node and waits for its API."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [self.binary, "--dir", str(self.data_dir), "init"],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        (self.data_dir / API_ADDR_FILE).unlink(missing_ok=True)
        command = [
            self.binary, "--dir", str(self.data_dir), "run",
            "--listen", "/ip4/127.0.0.1/tcp/0",
            "--api", "127.0.0.1:0",
            "--sync-interval-ms", "500",
        ]
        for peer in self.bootstrap:
            command += ["--bootstrap", peer]
        command += self.args
        env = dict(os.environ)
        env.setdefault("RUST_LOG", "info,libp2p=warn")
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                command, stdout=subprocess.DEVNULL, stderr=log, env=env
            )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"knack run exited: {self.log_path.read_text()[-2000:]}")
            addr_file = self.data_dir / API_ADDR_FILE
            if addr_file.exists() and addr_file.read_text().strip():
                self.base_url = read_base_url(self.data_dir)
                self.token = read_token(self.data_dir)
                return self
            time.sleep(0.05)
        self.stop()
        raise TimeoutError(f"knack run did not start in {START_TIMEOUT} s")

    def client(self, **kwargs: object) -> Client:
        """A :class:`Client` of this node."""
        return Client(base_url=self.base_url, token=self.token, **kwargs)  # type: ignore[arg-type]

    def async_client(self, **kwargs: object) -> AsyncClient:
        """An :class:`AsyncClient` of this node."""
        return AsyncClient(base_url=self.base_url, token=self.token, **kwargs)  # type: ignore[arg-type]

    def multiaddr(self) -> str:
        """The address other nodes bootstrap to (TCP, with ``/p2p/<peer id>``)."""
        with self.client() as client:
            addr = client.status().multiaddr()
        if addr is None:
            raise RuntimeError("the node listens on no TCP address")
        return addr

    def stop(self, timeout: float = 20.0) -> None:
        """Stops the node (SIGTERM, then SIGKILL after ``timeout``) and deletes a temporary
        data directory."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
