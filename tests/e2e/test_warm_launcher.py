"""The shipped run launcher and its warm run workers. Under a real `dagster-daemon`: the first tick goes through the
code server and starts a worker; the next is handed to that worker and executes in it, with every check evaluated.
A real worker process: what keeps it available, what makes it refuse a run or exit. In one file on purpose (one
xdist worker): a worker watching code must not see another test's changes."""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import psutil
import pytest
from dagster._core.test_utils import create_run_for_test

from clawtrace_pipelines.core.lake.storage import LakeStorage
from clawtrace_pipelines.core.settings import Settings
from clawtrace_pipelines.definitions import defs
from clawtrace_pipelines.run_worker import receive_message, send_message
from clawtrace_pipelines.warm_launcher import WORKER_MODULE, WORKER_PID_TAG, WarmRunLauncher
from tests.e2e.daemon import start_daemon
from tests.factories import batch_path, ndjson, record, write_raw

ROOT = Path(__file__).resolve().parents[2]
TENANT = "0b7c3d1e-5f6a-4b8c-9d0e-1f2a3b4c5d6e"
AGENT = "1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f"
DEADLINE_S = 300


class Lake:
    def __init__(self, root: Path) -> None:
        self.lake, self.home = root / "lake", root / "dagster_home"
        self.batches = 0

    def land(self, count: int = 3) -> None:
        """A new raw file, as the ingest writes one; the sensor sees it on its next evaluation."""
        now_ms = int(datetime.now(UTC).timestamp() * 1000)
        prefix = f"b{self.batches}"
        events = [record(TENANT, AGENT, event_id=f"{prefix}-{i}", ts_ms=now_ms - 60_000 + i) for i in range(count)]
        write_raw(
            LakeStorage(Settings(lake=str(self.lake))),
            batch_path(TENANT, AGENT, now_ms, name=f"{prefix}.ndjson"),
            ndjson(events),
        )
        self.batches += 1

    def arrival_runs(self) -> list[dg.DagsterRun]:
        with dg.DagsterInstance.from_config(str(self.home)) as instance:
            records = instance.get_run_records(filters=dg.RunsFilter(tags={"clawtrace/trigger": "arrival"}))
            return [r.dagster_run for r in sorted(records, key=lambda r: r.create_timestamp)]

    def wait_for(self, what: str, done, daemon: subprocess.Popen[bytes]) -> list[dg.DagsterRun]:
        deadline = time.monotonic() + DEADLINE_S
        while not done(runs := self.arrival_runs()):
            assert daemon.poll() is None, "the daemon exited"
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            time.sleep(0.5)
        return runs


@pytest.fixture
def lake_and_daemon(tmp_path, monkeypatch) -> Iterator[tuple[Lake, subprocess.Popen[bytes]]]:
    lake = Lake(tmp_path)
    monkeypatch.setenv("DAGSTER_HOME", str(lake.home))
    daemon = start_daemon(lake.lake, lake.home)
    try:
        yield lake, daemon
    finally:
        daemon.terminate()
        daemon.wait(timeout=60)


def _worker_sockets(daemon: subprocess.Popen[bytes]) -> list[Path]:
    """The sockets of the daemon's live run workers; a child that exits while being read (a zombie) is skipped."""
    sockets = []
    for child in psutil.Process(daemon.pid).children():
        try:
            argv = child.cmdline()
        except (psutil.ZombieProcess, psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        if "clawtrace_pipelines.run_worker" in argv and "--socket" in argv:
            sockets.append(Path(argv[argv.index("--socket") + 1]))
    return sockets


def _wait_for_warm_worker(daemon: subprocess.Popen[bytes]) -> None:
    """Until the worker the first tick's launch started listens (on a slow host it can still be warming up)."""
    deadline = time.monotonic() + DEADLINE_S
    while True:
        assert daemon.poll() is None, "the daemon exited"
        assert time.monotonic() < deadline, "no warm worker listened"
        if any(path.exists() for path in _worker_sockets(daemon)):
            return
        time.sleep(0.2)


def _engine_messages(home: Path, run_id: str) -> list[str]:
    with dg.DagsterInstance.from_config(str(home)) as instance:
        return [e.message or "" for e in instance.all_logs(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT)]


def _finished(count: int):
    return lambda runs: len(runs) >= count and all(r.is_finished for r in runs[:count])


def test_the_second_tick_runs_in_the_worker_the_first_one_started(lake_and_daemon):
    lake, daemon = lake_and_daemon
    lake.land()
    lake.wait_for("the first tick", _finished(1), daemon)
    _wait_for_warm_worker(daemon)
    lake.land()
    first, second = lake.wait_for("the second tick", _finished(2), daemon)[:2]

    assert (first.status, second.status) == (dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.SUCCESS)
    assert WORKER_PID_TAG not in first.tags
    assert any("launching through the code server" in m for m in _engine_messages(lake.home, first.run_id))
    pid = second.tags[WORKER_PID_TAG]
    messages = _engine_messages(lake.home, second.run_id)
    assert f"[WarmRunLauncher] Handed to a warm run worker (pid {pid})." in messages
    # Dagster's own run body reports the process it executes in: the worker's.
    assert f"Started process for run (pid: {pid})." in messages
    # Its run done, the worker exits and the daemon reaps it: no zombie left behind until the next launch.
    with contextlib.suppress(psutil.NoSuchProcess):
        psutil.Process(int(pid)).wait(timeout=60)  # raises TimeoutExpired while it runs or is a zombie
    with dg.DagsterInstance.from_config(str(lake.home)) as instance:
        logs = instance.all_logs(second.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION)
    evaluations = [e.dagster_event.asset_check_evaluation_data for e in logs if e.dagster_event]
    assert len(evaluations) == len(defs().resolve_asset_graph().asset_check_keys)
    assert [(ev.asset_check_key.name, ev.description) for ev in evaluations if not ev.passed] == []


def _worker_command(sock: Path) -> list[str]:
    command = [sys.executable, "-m", "clawtrace_pipelines.run_worker", "--socket", str(sock)]
    return command + [
        "--module",
        "clawtrace_pipelines.definitions",
        "--attribute",
        "defs",
        "--working-directory",
        str(ROOT),
    ]


def _start_worker(sock: Path, *extra: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([*_worker_command(sock), "--parent-pid", str(os.getpid()), *extra], cwd=ROOT)


def _wait_listening(sock: Path, worker: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 120
    while not sock.exists():
        assert worker.poll() is None, "the worker exited before listening"
        assert time.monotonic() < deadline, "the worker never listened"
        time.sleep(0.2)


def _offer(sock: Path) -> tuple[socket.socket, dict | None]:
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.settimeout(30)
    conn.connect(str(sock))
    send_message(conn, {"run_args": "not used: no go follows"})
    return conn, receive_message(conn)


@pytest.fixture
def sock():
    # Short: AF_UNIX paths are limited to about 100 bytes, and pytest's tmp_path can be longer.
    folder = Path(tempfile.mkdtemp(prefix="ct-rw-"))
    yield folder / "w.sock"
    shutil.rmtree(folder, ignore_errors=True)


def test_a_worker_stays_available_after_a_probe_and_an_offer_not_followed_by_go(sock):
    worker = _start_worker(sock)
    try:
        _wait_listening(sock, worker)
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            probe.connect(str(sock))  # what a second worker starting up does; it sends nothing
        for _ in range(2):
            conn, reply = _offer(sock)
            conn.close()
            assert reply == {"pid": worker.pid}
        assert worker.poll() is None
    finally:
        worker.terminate()
        assert worker.wait(timeout=30) == 0
    assert not sock.exists(), "a worker stopped while idle frees its socket path"


def test_a_worker_refuses_a_run_once_its_code_changed_and_exits(sock, tmp_path):
    watched = tmp_path / "code"
    watched.mkdir()
    (watched / "module.py").write_text("X = 1\n")
    worker = _start_worker(sock, "--watch", str(watched))
    try:
        _wait_listening(sock, worker)
        later = time.time() + 10
        (watched / "module.py").write_text("X = 2\n")
        os.utime(watched / "module.py", (later, later))
        conn, reply = _offer(sock)
        conn.close()
        assert reply == {"refused": "the code changed since this worker loaded it"}
        assert worker.wait(timeout=30) == 0
    finally:
        worker.kill()
    assert not sock.exists()


def test_a_worker_exits_without_a_run_when_its_parent_is_gone(sock):
    # The worker's parent is a shell that the test kills; the worker is then re-parented.
    script = " ".join(shlex.quote(a) for a in _worker_command(sock)) + " --parent-pid $$ & wait"
    shell = subprocess.Popen(["sh", "-c", script], cwd=ROOT)
    _wait_listening(sock, shell)
    shell.kill()
    shell.wait()
    deadline = time.monotonic() + 60
    while sock.exists():
        assert time.monotonic() < deadline, "the orphaned worker kept listening"
        time.sleep(0.5)


_SIGINT_RECORDER = """
import signal, sys, time
def record(*_):
    open(sys.argv[1], "w").write("SIGINT")
    sys.exit(0)
signal.signal(signal.SIGINT, record)
print("ready", flush=True)
time.sleep(60)
"""


def test_terminate_interrupts_the_worker_that_has_the_run(tmp_path, monkeypatch):
    """The launcher's `terminate` for a run tagged with a worker's pid: the run is reported canceling and the
    worker gets SIGINT, the signal Dagster's run body turns into an interruption of the step running."""
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(ROOT / "dagster-instance.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    marker = tmp_path / "interrupted"
    # A stand-in with the worker's module in its command line, which terminate checks the pid by.
    command = [sys.executable, "-c", _SIGINT_RECORDER, str(marker), WORKER_MODULE]
    worker = subprocess.Popen(command, stdout=subprocess.PIPE)
    assert worker.stdout is not None and worker.stdout.readline() == b"ready\n"
    with dg.DagsterInstance.get() as instance:
        assert isinstance(instance.run_launcher, WarmRunLauncher)
        run = create_run_for_test(instance, status=dg.DagsterRunStatus.STARTED, tags={WORKER_PID_TAG: str(worker.pid)})
        assert instance.run_launcher.terminate(run.run_id)
        assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.CANCELING
    assert worker.wait(timeout=30) == 0
    assert marker.read_text() == "SIGINT"


def test_terminate_leaves_alone_a_process_that_took_an_exited_worker_s_pid(tmp_path, monkeypatch):
    """A run still tagged with the pid of a worker that has exited: the pid may be any process's by now."""
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(ROOT / "dagster-instance.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    marker = tmp_path / "interrupted"
    other = subprocess.Popen([sys.executable, "-c", _SIGINT_RECORDER, str(marker)], stdout=subprocess.PIPE)
    try:
        assert other.stdout is not None and other.stdout.readline() == b"ready\n"
        with dg.DagsterInstance.get() as instance:
            run = create_run_for_test(
                instance, status=dg.DagsterRunStatus.STARTED, tags={WORKER_PID_TAG: str(other.pid)}
            )
            assert not instance.run_launcher.terminate(run.run_id)
            assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.STARTED
        assert other.poll() is None and not marker.exists()
    finally:
        other.kill()
        other.wait()


def _dbt_nodes_started(target: Path) -> int:
    log = target / "logs" / "dbt.log"
    return log.read_text(errors="replace").count("Began running node") if log.exists() else 0


def test_terminating_a_tick_in_its_dbt_build_cancels_it_without_a_retry_and_the_worker_exits(tmp_path, monkeypatch):
    target = tmp_path / "dbt_target"
    monkeypatch.setenv("CLAWTRACE_DBT_TARGET", str(target))  # the daemon's runs write their dbt.log here
    lake = Lake(tmp_path)
    monkeypatch.setenv("DAGSTER_HOME", str(lake.home))
    daemon = start_daemon(lake.lake, lake.home)
    try:
        lake.land()
        lake.wait_for("the first tick", _finished(1), daemon)
        # On a loaded host a hand-off can time out and the run go through the code server (no worker pid): such a
        # run is left to finish and the next one tried, up to three.
        for attempt in range(3):
            _wait_for_warm_worker(daemon)
            nodes_before = _dbt_nodes_started(target)
            lake.land()
            count = attempt + 2
            run = lake.wait_for("the next tick's dbt build", lambda runs, n=count: len(runs) >= n, daemon)[-1]
            deadline = time.monotonic() + DEADLINE_S
            while _dbt_nodes_started(target) == nodes_before:
                assert time.monotonic() < deadline, "the tick's dbt build never started"
                time.sleep(0.1)
            with dg.DagsterInstance.from_config(str(lake.home)) as instance:
                tags = instance.get_run_by_id(run.run_id).tags
                if WORKER_PID_TAG not in tags:
                    lake.wait_for("a tick not handed to a worker", _finished(count), daemon)
                    continue
                pid = int(tags[WORKER_PID_TAG])
                assert instance.run_launcher.terminate(run.run_id)
            break
        else:
            pytest.fail(f"no tick was handed to a warm worker: {_engine_messages(lake.home, run.run_id)}")
        run = lake.wait_for("the terminated tick", _finished(count), daemon)[-1]
        assert run.status == dg.DagsterRunStatus.CANCELED
        with dg.DagsterInstance.from_config(str(lake.home)) as instance:
            assert instance.all_logs(run.run_id, of_type=dg.DagsterEventType.STEP_UP_FOR_RETRY) == []
            failures = instance.all_logs(run.run_id, of_type=dg.DagsterEventType.STEP_FAILURE)
            successes = instance.all_logs(run.run_id, of_type=dg.DagsterEventType.STEP_SUCCESS)
        # Billing, which does not depend on silver, fails at its start: a canceling run does no more work.
        assert sorted(e.step_key for e in failures) == ["billing_models", "silver_models"]
        assert [e.step_key for e in successes] == ["bronze_events"]
        with contextlib.suppress(psutil.NoSuchProcess):
            psutil.Process(pid).wait(timeout=60)  # raises TimeoutExpired if the worker goes on
    finally:
        daemon.terminate()
        daemon.wait(timeout=60)
