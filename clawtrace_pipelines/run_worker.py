"""A run worker started ahead of its run: it loads the code location and parses the dbt project while nothing
waits, then listens on a Unix socket until `WarmRunLauncher` (warm_launcher.py) hands it one run to execute.

    python -m clawtrace_pipelines.run_worker --socket PATH --module M --attribute A --working-directory DIR \
        --parent-pid PID

Why: Dagster's default launcher asks the code server to spawn a fresh interpreter per run, which then imports
Dagster, the definitions and dbt and parses the dbt project: about 5-6 s of every tick on this 2-core host, on
the path from a run's arrival to its visibility. A worker that is already warm starts the run at once.

Each worker executes one run, as Dagster's does (a run gets a fresh process: no state carried between runs),
exactly as `dagster api execute_run` executes it. It exits without a run when its parent (the daemon whose
launcher started it) goes away, or when the code it loaded changes on disk: the next launch then takes
Dagster's own path, and a worker with the new code is started.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import signal
import socket
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

# How often an idle worker wakes to check its parent and its code: cheap (a few hundred stat calls).
IDLE_CHECK_S = 5.0
# How long a worker waits for the launcher's "go" after accepting a run before giving it up.
GO_TIMEOUT_S = 30.0


def send_message(conn: socket.socket, message: dict[str, Any]) -> None:
    """One JSON object per line."""
    conn.sendall(json.dumps(message).encode() + b"\n")


def receive_message(conn: socket.socket) -> dict[str, Any] | None:
    """The next line as a JSON object, or None when the peer closed without one."""
    data = b""
    while not data.endswith(b"\n"):
        chunk = conn.recv(65536)
        if not chunk:
            return None
        data += chunk
    message = json.loads(data)
    return message if isinstance(message, dict) else None


def code_fingerprint(package: str, watch: list[Path]) -> float:
    """The newest modification time of what a run would load: the code location's package, the dbt project and
    any folder in `watch` (code the package imports from elsewhere)."""
    from clawtrace_pipelines.lib.dbt_runner import newest_source_mtime

    newest = newest_source_mtime()
    for root in [Path(sys.modules[package].__file__ or "").parent, *watch]:
        for path in root.rglob("*.py"):
            with contextlib.suppress(FileNotFoundError):
                newest = max(newest, path.stat().st_mtime)
    return newest


def _warm_up(module: str, attribute: str, working_directory: str) -> None:
    """Load what every run loads: Dagster's execution machinery, the definitions, the dbt project's manifest."""
    import dagster._cli.api  # noqa: F401  (the run's execution path)
    from dagster._core.definitions.reconstruct import ReconstructableRepository

    from clawtrace_pipelines.core.settings import get_settings
    from clawtrace_pipelines.lib.dbt_runner import warm_manifest
    from clawtrace_pipelines.lib.silver_chunk import dbt_vars

    repository = ReconstructableRepository.for_module(module, attribute, working_directory)
    repository.get_definition()
    warm_manifest(dbt_vars(get_settings()))


def _listen(path: Path) -> socket.socket | None:
    """A listening socket at `path`, or None when a live worker already listens there."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        server.bind(str(path))
    except OSError:
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.connect(str(path))
            return None  # another worker is listening: one is enough
        except OSError:
            path.unlink(missing_ok=True)  # left by a worker that died
            server.bind(str(path))
        finally:
            probe.close()
    server.listen(4)
    server.settimeout(IDLE_CHECK_S)
    return server


def _accept_run(
    server: socket.socket, fingerprint: Callable[[], float], loaded_at: float, parent: int
) -> dict[str, Any] | None:
    """Wait for a run; the launcher's ExecuteRunArgs (serialized), or None when this worker should exit."""
    while True:
        if os.getppid() != parent:
            return None
        try:
            conn, _ = server.accept()
        except TimeoutError:
            if fingerprint() != loaded_at:
                return None
            continue
        with conn:
            conn.settimeout(GO_TIMEOUT_S)
            try:
                offer = receive_message(conn)
                if offer is None:
                    continue  # a probe from a worker starting up
                if fingerprint() != loaded_at:
                    send_message(conn, {"refused": "the code changed since this worker loaded it"})
                    return None
                send_message(conn, {"pid": os.getpid()})
                go = receive_message(conn)
            except (OSError, ValueError):
                continue
            if go and go.get("go"):
                return offer
            # The launcher gave the run to Dagster's own path instead: stay available.


def _execute(serialized_args: str) -> int:
    """As `dagster api execute_run` does, in this process."""
    from dagster._cli.api import _execute_run_command_body
    from dagster._cli.utils import get_instance_for_cli
    from dagster._grpc.types import ExecuteRunArgs
    from dagster._serdes import deserialize_value
    from dagster._utils.interrupts import capture_interrupts

    args = deserialize_value(serialized_args, ExecuteRunArgs)
    with capture_interrupts(), get_instance_for_cli(instance_ref=args.instance_ref) as instance:
        return _execute_run_command_body(
            args.run_id, instance, lambda _event: None, set_exit_code_on_failure=bool(args.set_exit_code_on_failure)
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m clawtrace_pipelines.run_worker", description=__doc__)
    parser.add_argument("--socket", required=True, type=Path)
    parser.add_argument("--module", required=True)
    parser.add_argument("--attribute", required=True)
    parser.add_argument("--working-directory", required=True)
    parser.add_argument("--parent-pid", required=True, type=int, help="exit, without a run, once it is gone")
    parser.add_argument("--watch", action="append", type=Path, default=[], help="also exit when code here changes")
    args = parser.parse_args(argv)
    parent = args.parent_pid
    # Stopped while it has no run (its launcher disposed): exit through the `finally` that frees the socket path.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    package = args.module.split(".")[0]
    _warm_up(args.module, args.attribute, args.working_directory)
    fingerprint = functools.partial(code_fingerprint, package, args.watch)
    loaded_at = fingerprint()
    server = _listen(args.socket)
    if server is None:
        return 0
    bound = args.socket.stat().st_ino
    try:
        offer = _accept_run(server, fingerprint, loaded_at, parent)
    finally:
        # Free the address for the next worker (before closing: while this one listens, no other can bind it).
        with contextlib.suppress(OSError):
            if args.socket.stat().st_ino == bound:
                args.socket.unlink()
        server.close()
    if offer is None:
        return 0
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # with a run: as Dagster's own run worker
    return _execute(str(offer["run_args"]))


if __name__ == "__main__":
    raise SystemExit(main())
