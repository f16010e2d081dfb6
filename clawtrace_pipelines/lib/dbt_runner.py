"""Run the dbt project (packaged or the repo's) in-process (dbtRunner), against a given work DuckDB file.

In-process, because importing dbt costs about 6 s and a warm second invocation about 0.4 s: a long-lived
process (the Dagster code server, a warm benchmark) pays the import once. Every invocation names its
project, profiles, target and log folders, so nothing reads `~/.dbt` and parallel runs do not share a
target folder.

The work file's path is in the profile, and a new path makes dbt's partial parsing see "profile has changed"
and parse everything again (about 2.4 s). So builds use one path per target folder (`work_database`), which
keeps partial parsing valid across processes, and a process keeps its parsed manifest per (project, file
name, vars, newest project file) and hands it to the next `dbtRunner`, which registers the adapter for the
current profile and compiles against it; the file name stays in the key because dbt-duckdb names the
database after it.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb

# The wheel ships the project inside the package (pyproject.toml, `sources`); a checkout has it at the root.
PACKAGED_PROJECT_DIR = Path(__file__).resolve().parents[1] / "dbt_project"
CHECKOUT_PROJECT_DIR = Path(__file__).resolve().parents[2] / "dbt"


def find_project_dir() -> Path:
    """The dbt project: the copy inside the installed package, else the repo checkout's `dbt/`."""
    if (PACKAGED_PROJECT_DIR / "dbt_project.yml").is_file():
        return PACKAGED_PROJECT_DIR
    return CHECKOUT_PROJECT_DIR


DBT_PROJECT_DIR = find_project_dir()
DATABASE_ENV = "CLAWTRACE_DBT_DATABASE"
# Where dbt keeps compiled SQL, the manifest and its partial-parse cache; parallel test workers set their own.
TARGET_ENV = "CLAWTRACE_DBT_TARGET"


def default_target_path() -> Path:
    """`$CLAWTRACE_DBT_TARGET`, else `$XDG_CACHE_HOME/clawtrace/dbt/<sha256(project dir)[:16]>` (default
    `~/.cache`): never inside the project, which may sit read-only in site-packages, and one folder per
    project copy, so two checkouts or installs on a host never share a partial-parse cache."""
    override = os.environ.get(TARGET_ENV)
    if override:
        return Path(override)
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    digest = hashlib.sha256(str(DBT_PROJECT_DIR).encode()).hexdigest()[:16]
    return cache / "clawtrace" / "dbt" / digest


# The pipeline's builds write no run_results.json or manifest.json (about 0.4 s of each build): nothing reads
# them (each node's outcome goes into the Dagster metadata, a failing one into the dead letters), the definitions
# keep a manifest of their own (`ensure_manifest`), and `dbt build` run by hand still writes both.
NO_ARTIFACTS = "--no-write-json"

# The billing models (folder models/billing), built by their own step on their own inputs (lib/billing.py),
# never by silver's build. By fqn: dagster-dbt resolves a `path:` selector against the working directory.
BILLING_SELECTION = "fqn:clawtrace.billing"

# dbtRunner keeps process-wide state (flags, adapter registry, env vars read at render time): one at a time.
_LOCK = threading.Lock()
# Parsed manifests by what they were parsed for (guarded by _LOCK).
_MANIFEST: dict[tuple[str, str, str, float], Any] = {}


class DbtRunError(RuntimeError):
    """dbt failed to run (a compile error, a crashed model); failing tests are reported in the result instead."""


def invoke_dbt(
    args: Sequence[str],
    *,
    database: Path,
    target_path: Path | None = None,
    vars: dict[str, Any] | None = None,
    callbacks: Sequence[Callable[[Any], None]] = (),
) -> Any:
    """Run `dbt <args>` on `database` and return the `dbtRunnerResult`.

    Args:
        args: the dbt command and its selection, e.g. `["build", "--select", "silver"]`.
        database: the DuckDB file the models read their `staged` sources from and write into.
        target_path: dbt's target folder (compiled SQL, manifest, run results); default `default_target_path()`.
        vars: dbt `--vars`.
        callbacks: called with each of dbt's events (`EventMsg`), in dbt's threads.

    Returns:
        The runner's result; `.result` holds per-node results for run/build/test.

    Raises:
        KeyboardInterrupt: SIGINT came (a terminated run), after dbt cancelled its queries and stopped its threads.
        DbtRunError: dbt raised, or returned no result (compile or parse error).
    """
    from dbt.cli.main import dbtRunner

    os.environ.setdefault("DO_NOT_TRACK", "1")
    cli = [*args, *_common_args(target_path or default_target_path(), vars)]
    with _LOCK, _database_env(database), _sigint_as_keyboard_interrupt():
        manifest = None if args[0] == "parse" else _manifest_for(cli[len(args) :], database, vars)
        try:
            result = dbtRunner(manifest=manifest, callbacks=list(callbacks)).invoke(cli)
        finally:
            _release_duckdb()  # an interrupt too: a connection left open would outlive the build's work file
    _raise_interrupt(result.exception)
    if result.exception is not None:
        raise DbtRunError(f"dbt {' '.join(args)} failed: {result.exception}") from result.exception
    return result


@contextmanager
def _sigint_as_keyboard_interrupt() -> Iterator[None]:
    """SIGINT raises KeyboardInterrupt in the block (in the main thread, where signals are handled).

    That is what dbt's own Ctrl-C path catches: it cancels the open queries and joins its node threads, then
    raises it again. A Dagster run's handler raises DagsterExecutionInterruptedError instead, which dbt does not
    catch: terminating a run during a build left dbt's threads running while the step went on.
    """
    previous = signal.getsignal(signal.SIGINT)
    if threading.current_thread() is not threading.main_thread() or previous is None:
        yield  # no handler can be set here, or the current one is not Python's to restore
        return
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _raise_interrupt(exception: BaseException | None) -> None:
    """dbtRunner returns every exception, an interrupt too: raise that one as it is, so the step sees an interrupt
    (which `unless_terminated` tells apart from a failure), not a DbtRunError."""
    if exception is not None and not isinstance(exception, Exception):
        raise exception


def _common_args(target: Path, vars: dict[str, Any] | None) -> list[str]:
    cli = ["--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR)]
    cli += ["--target-path", str(target), "--log-path", str(target / "logs"), "--quiet"]
    return [*cli, "--vars", json.dumps(vars)] if vars else cli


def warm_manifest(vars: dict[str, Any] | None = None) -> None:
    """Parse the project now for the builds to come in this process (a run worker waiting for its run).

    In a target folder of its own (`<default target>/warm`), under that folder's lock: a build running meanwhile
    in another process holds the main folder's, and its partial-parse files must not be written under it. The
    parsed manifest does not depend on the folder, only on what `_manifest_for` keys it by.
    """
    target = default_target_path() / "warm"
    with work_database(target) as database, _LOCK, _database_env(database):
        _manifest_for(_common_args(target, vars), database, vars)


@contextmanager
def _database_env(database: Path) -> Iterator[None]:
    """`$CLAWTRACE_DBT_DATABASE` (the profile's path) set to `database` for the block; caller holds _LOCK."""
    previous = os.environ.get(DATABASE_ENV)
    os.environ[DATABASE_ENV] = str(database)
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(DATABASE_ENV, None)
        else:
            os.environ[DATABASE_ENV] = previous


@contextmanager
def work_database(target_path: Path | None = None) -> Iterator[Path]:
    """The work DuckDB file of a build: one path per dbt target folder, held under an exclusive file lock until
    the block ends, created empty and removed afterwards.

    One path, because the path is in the profile: a new path per build makes dbt parse the whole project again in
    every process (partial parsing sees "profile has changed"), about 2.4 s of a cold tick per build. The lock
    makes builds sharing a target folder (two ticks, silver and billing, two lakes on one host) take turns, which
    their shared partial-parse files needed anyway.
    """
    folder = (target_path or default_target_path()) / "work"
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "work.lock", "a") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        database = folder / "work.duckdb"
        try:
            _remove_database(database)  # left by a crashed build
            yield database
        finally:
            _remove_database(database)
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)


@contextmanager
def work_session(database: Path) -> Iterator[None]:
    """One DuckDB instance of `database` for a whole build: staging, dbt's connection, the checks, the read-back.

    DuckDB's Python client shares one instance among a process's connections to a file opened with the same
    configuration, and checkpoints (writes the WAL's changes into the file) when the last of them closes and
    whenever the WAL passes `checkpoint_threshold` (16 MB). A tick's tables are small, so they go through the
    WAL: staging, dbt and each read each ended in a checkpoint of everything so far (0.2-0.3 s for dbt's), for a
    file removed when the build ends. Held open here, the instance outlives those connections, and it does not
    checkpoint below 1 GB of WAL, nor at the end (`checkpoint_file` writes one for a copy that must stand alone).

    Connections opened inside the block must use the default configuration, `read_only` included: DuckDB
    refuses a second configuration of an open file.
    """
    con = duckdb.connect(str(database))
    try:
        # A file just created is empty: tables mean a leaked connection kept a previous build's instance alive
        # (DuckDB would hand it to this session, its tables and all).
        if con.execute("SELECT count(*) FROM duckdb_tables()").fetchone() != (0,):
            raise DbtRunError(f"a previous build's DuckDB instance of {database} is still open in this process")
        # A tick's WAL stays well under this; a backfill chunk's may not, and then checkpoints as usual.
        con.execute("SET checkpoint_threshold = '1GB'")
        yield
    finally:
        try:
            # The file is removed next: its last checkpoint would be written for nobody.
            con.execute("PRAGMA disable_checkpoint_on_shutdown")
        finally:
            con.close()


def checkpoint_file(database: Path) -> None:
    """Write every change into `database` itself, so a copy of the file holds them (inside `work_session`)."""
    con = duckdb.connect(str(database))
    try:
        con.execute("CHECKPOINT")
    finally:
        con.close()


def _remove_database(database: Path) -> None:
    for path in (database, database.with_name(database.name + ".wal")):
        path.unlink(missing_ok=True)


def _manifest_for(common: list[str], database: Path, vars: dict[str, Any] | None) -> Any:
    """The parsed project for builds on `database` (parsed now if the project changed); caller holds _LOCK."""
    from dbt.cli.main import dbtRunner

    key = (str(DBT_PROJECT_DIR), database.name, json.dumps(vars or {}, sort_keys=True), newest_source_mtime())
    if key not in _MANIFEST:
        # No manifest.json from this parse (about 0.3 s of a cold process): nothing reads it (the definitions
        # keep their own, `ensure_manifest`), and the pipeline's builds write none either (NO_ARTIFACTS).
        parsed = dbtRunner().invoke(["parse", *common, "--no-write-json"])
        _raise_interrupt(parsed.exception)
        if parsed.exception is not None or parsed.result is None:
            raise DbtRunError(f"dbt parse failed: {parsed.exception}") from parsed.exception
        # One manifest per work-file name (silver's and billing's builds alternate); a stale one goes.
        for stale in [k for k in _MANIFEST if k[:3] == key[:3]]:
            del _MANIFEST[stale]
        _MANIFEST[key] = parsed.result
    return _MANIFEST[key]


def _release_duckdb() -> None:
    """Close the DuckDB connection dbt-duckdb caches across invocations, so the work file can be read (with
    any configuration) and deleted, and its memory is returned."""
    from dbt.adapters.duckdb.connections import DuckDBConnectionManager

    environment = DuckDBConnectionManager._ENV
    if environment is not None:
        environment.close()
        DuckDBConnectionManager._ENV = None


def newest_source_mtime() -> float:
    """The latest modification time of anything dbt parses (models, macros, tests, project files)."""
    newest = 0.0
    for folder in ("models", "macros", "tests", "seeds"):
        for path in (DBT_PROJECT_DIR / folder).rglob("*"):
            if path.is_file():
                newest = max(newest, path.stat().st_mtime)
    for name in ("dbt_project.yml", "profiles.yml"):
        newest = max(newest, (DBT_PROJECT_DIR / name).stat().st_mtime)
    return newest


def ensure_manifest(target_path: Path | None = None) -> Path:
    """`manifest.json` of the dbt project, parsed again when any project file is newer than it.

    Dagster needs the manifest to define the dbt assets when the code location loads; a fresh clone has
    none, and an edited model makes it stale.
    """
    # A folder of its own: every `dbt build` of a run rewrites <target>/manifest.json, and a code server
    # reloading definitions meanwhile must never read a half-written one.
    target = target_path or default_target_path() / "definitions"
    manifest = target / "manifest.json"
    if not manifest.exists() or manifest.stat().st_mtime < newest_source_mtime():
        invoke_dbt(["parse"], database=target / "parse.duckdb", target_path=target)
    return manifest
