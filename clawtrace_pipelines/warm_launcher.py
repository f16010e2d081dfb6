"""The instance's run launcher: Dagster's default one, with a run worker started ahead of each run.

`dagster-instance.yaml` sets it (`run_launcher`, by module and class). On `launch_run` (in the daemon, for runs from
the queue: the sensor's, the schedules', the UI's) it hands the run to the warm worker of its code location
(run_worker.py) over a Unix socket, then starts the next worker, which warms up while the run works. When no
worker is ready (the daemon's first run, a second run at the same time, code changed on disk) the run goes
Dagster's own way, through the code server. Either way the run is the same Dagster run: same events, same
checks, same UI; an engine event says which way it went.

Termination: the worker's pid is a run tag; `terminate` sends it SIGINT, as the code server's cancel does for
its own workers, once /proc shows that pid is still a run worker (an exited worker's pid may be reused).
Dagster's run body turns it into an interruption of the running step, which Dagster would answer with a retry
under the step's retry policy; the tick steps' `unless_terminated` (assets/retries.py) fails them
for good instead, and the run ends CANCELED.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any, Self

from dagster import DagsterRun, DefaultRunLauncher
from dagster._core.code_pointer import ModuleCodePointer, PackageCodePointer
from dagster._core.launcher import LaunchRunContext
from dagster._grpc.types import ExecuteRunArgs
from dagster._serdes import ConfigurableClassData, serialize_value

from clawtrace_pipelines.run_worker import receive_message, send_message

WORKER_PID_TAG = "clawtrace/run_worker_pid"
WORKER_MODULE = "clawtrace_pipelines.run_worker"
# Connecting and the worker's reply are local and immediate; a worker too busy to answer gets passed over.
HANDOFF_TIMEOUT_S = 5.0


def is_run_worker(pid: int) -> bool:
    """Whether `pid` is (still) a run worker: once a worker has exited and been reaped, the system may give its
    pid to any process, which a late `terminate` must not interrupt. Where /proc is missing, the pid is trusted."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except FileNotFoundError:
        return not Path("/proc/self").exists()
    except OSError:
        return False
    return WORKER_MODULE.encode() in argv


def socket_path(parent_pid: int, module: str, attribute: str, working_directory: str) -> Path:
    """Where the worker for this daemon process and code location listens (short: AF_UNIX paths are ~100 bytes)."""
    key = hashlib.sha256(f"{parent_pid}\0{module}\0{attribute}\0{working_directory}".encode()).hexdigest()[:20]
    return Path(tempfile.gettempdir()) / f"clawtrace-{os.getuid()}" / f"{key}.sock"


class WarmRunLauncher(DefaultRunLauncher):
    """`DefaultRunLauncher` that first offers each run to a warm run worker of the run's code location."""

    def __init__(self, inst_data: ConfigurableClassData | None = None) -> None:
        super().__init__(inst_data=inst_data)
        # The last worker started and not handed a run yet. Once handed one, a thread waits for it: otherwise it
        # would stay a zombie after its run until `subprocess` next starts a process in this daemon.
        self._spare: subprocess.Popen[bytes] | None = None

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData, config_value: Any) -> Self:
        return cls(inst_data=inst_data)

    def launch_run(self, context: LaunchRunContext) -> None:
        run = context.dagster_run
        target = _code_target(run)
        if target is None:
            super().launch_run(context)
            return
        path = socket_path(os.getpid(), *target)
        pid = self._hand_off(run, path)
        if pid is None:
            self._instance.report_engine_event(
                "No warm run worker was ready: launching through the code server.", run, cls=self.__class__
            )
            super().launch_run(context)
        elif self._spare is not None and self._spare.pid == pid:
            worker, self._spare = self._spare, None
            threading.Thread(target=worker.wait, name=f"reap-run-worker-{pid}", daemon=True).start()
        self._run_ids.add(run.run_id)
        origin = run.job_code_origin
        self._start_worker(path, target, origin.executable_path if origin else None)

    def _hand_off(self, run: DagsterRun, path: Path) -> int | None:
        """Give the run to the worker listening at `path`; its pid, or None when none took it."""
        origin = run.job_code_origin
        if origin is None:
            return None
        args = ExecuteRunArgs(job_origin=origin, run_id=run.run_id, instance_ref=self._instance.get_ref())
        with contextlib.closing(socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)) as conn:
            conn.settimeout(HANDOFF_TIMEOUT_S)
            try:
                conn.connect(str(path))
                send_message(conn, {"run_args": serialize_value(args)})
                reply = receive_message(conn)
                if reply and "refused" in reply and self._spare is not None:
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        self._spare.wait(HANDOFF_TIMEOUT_S)  # it exits: the next one is started at once
                if not reply or "pid" not in reply:
                    return None
                pid = int(reply["pid"])
                send_message(conn, {"go": True})
            except (OSError, ValueError):
                return None
        self._instance.add_run_tags(run.run_id, {WORKER_PID_TAG: str(pid)})
        self._instance.report_engine_event(f"Handed to a warm run worker (pid {pid}).", run, cls=self.__class__)
        return pid

    def _start_worker(self, path: Path, target: tuple[str, str, str], executable: str | None) -> None:
        """Start the next worker unless the last one started is still warming up or waiting."""
        if self._spare is not None and self._spare.poll() is None:
            return
        module, attribute, working_directory = target
        command = [executable or sys.executable, "-m", WORKER_MODULE, "--socket", str(path)]
        command += ["--module", module, "--attribute", attribute, "--working-directory", working_directory]
        command += ["--parent-pid", str(os.getpid())]
        self._spare = subprocess.Popen(command, cwd=working_directory, stdin=subprocess.DEVNULL)

    def terminate(self, run_id: str) -> bool:
        run = self._instance.get_run_by_id(run_id)
        pid_tag = run.tags.get(WORKER_PID_TAG) if run else None
        if run is None or run.is_finished or not pid_tag:
            return super().terminate(run_id)
        pid = int(pid_tag)
        if not is_run_worker(pid):
            return False  # its worker has exited: the pid may be another process's by now
        self._instance.report_run_canceling(run)
        try:
            os.kill(pid, signal.SIGINT)
        except ProcessLookupError:
            return False
        return True

    def dispose(self) -> None:
        # The spare has no run: stop it with its launcher. Workers with a run finish it.
        if self._spare is not None and self._spare.poll() is None:
            self._spare.terminate()
        super().dispose()


def _code_target(run: DagsterRun) -> tuple[str, str, str] | None:
    """(module, attribute, working directory) of a run loaded from a module or package, else None."""
    origin = run.job_code_origin
    pointer = origin.repository_origin.code_pointer if origin else None
    if isinstance(pointer, ModuleCodePointer):
        return pointer.module, pointer.fn_name, pointer.working_directory or os.getcwd()
    if isinstance(pointer, PackageCodePointer):
        return pointer.module, pointer.attribute, pointer.working_directory or os.getcwd()
    return None
