"""The Dagster instance's storage for `make demo` and the daemon: Dagster's own SQLite storage (same files, same
layout under `$DAGSTER_HOME/storage`), with an event log that keeps its SQLAlchemy engines.

Why: a tick writes about 570 events (each dbt test is an asset check: planned, evaluated, its output). Dagster's
SQLite event log builds a new engine for every event and asks SQLite whether the checks table exists before every
check event; that costs about 4-5 ms of CPU per event, 2-3 s per tick, on the path from a run's arrival to its
visibility. Reusing one engine per database file keeps SQLAlchemy's compiled-statement cache and drops both costs.
Connections are still opened per transaction (NullPool), as Dagster does: several processes write these files.

What those transactions cost on disk: Dagster's SQLite files are in WAL mode with `synchronous=FULL`, and a
NullPool connection is the file's only one, so each commit fsyncs the WAL and each close checkpoints it and deletes
it (more fsyncs). A tick's ~1,600 commits and closes took 5-7 s of a cold `clawtrace tick` here. So each connection
runs with `synchronous=NORMAL` (SQLite's advice for WAL: no fsync per commit), and each file has one idle
connection held open beside them, so a closing connection is never the last and leaves the WAL to SQLite's own
auto-checkpoint (every 1,000 pages). What that gives up: an application crash loses nothing, but a power cut or
an OS crash can lose the events since the last checkpoint (possibly several runs' worth, which the run storage
may still list as finished), never the files' consistency. These files are the record of runs, not of the data:
the lake keeps its own cursors and logs, and a lost event is not a lost row.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from dagster._config import Field, StringSource
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SQLITE_BUSY_TIMEOUT_SECONDS, SqliteEventLogStorage
from dagster._core.storage.sqlite_storage import DagsterSqliteStorage, _event_logs_directory
from dagster._serdes import ConfigurableClassData
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import NullPool

# Engines kept per process: a run writes to its own file and the index; the webserver reads many runs' files.
_ENGINES_KEPT = 64


class ReusingSqliteEventLogStorage(SqliteEventLogStorage):
    """`SqliteEventLogStorage` with one engine per database file (the most recent `_ENGINES_KEPT`) and the
    existence of its tables remembered once seen."""

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None) -> None:
        self._engines: OrderedDict[str, Engine] = OrderedDict()  # read and changed under the parent's `_db_lock`
        self._keepers: dict[str, sqlite3.Connection] = {}  # one idle connection per file, beside the engine's
        self._tables_seen: set[str] = set()
        super().__init__(base_dir, inst_data=inst_data)

    def _engine(self, shard: str) -> Engine:
        engine = self._engines.get(shard)
        if engine is not None:
            self._engines.move_to_end(shard)
            return engine
        engine = create_engine(
            self.conn_string_for_shard(shard),
            poolclass=NullPool,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS},
        )
        event.listen(engine, "connect", _no_fsync_per_commit)
        self._engines[shard] = engine
        if len(self._engines) > _ENGINES_KEPT:
            evicted, oldest = self._engines.popitem(last=False)
            oldest.dispose()
            _close(self._keepers.pop(evicted, None))
        return engine

    def _keep_open(self, shard: str, engine: Engine) -> None:
        # A read maps the WAL index, which is what makes this connection count as open to the other ones.
        # Any thread may evict or dispose it (the webserver's and the daemon's threads share one storage).
        keeper = sqlite3.connect(str(engine.url.database), timeout=SQLITE_BUSY_TIMEOUT_SECONDS, check_same_thread=False)
        keeper.execute("SELECT count(*) FROM sqlite_master").fetchall()
        self._keepers[shard] = keeper

    @contextmanager
    def _connect(self, shard: str) -> Iterator[Connection]:
        # As the parent does (its lock, its first-use schema creation), minus a new engine per transaction.
        with self._db_lock:
            engine = self._engine(shard)
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
            if shard not in self._keepers:
                self._keep_open(shard, engine)
            with engine.connect() as conn, conn.begin():
                yield conn

    def has_table(self, table_name: str) -> bool:
        # Asked before every asset check event; a table, once there, stays (migrations only add them).
        if table_name in self._tables_seen:
            return True
        found = super().has_table(table_name)
        if found:
            self._tables_seen.add(table_name)
        return found

    def dispose(self) -> None:
        with self._db_lock:
            for engine in self._engines.values():
                engine.dispose()
            self._engines.clear()
            for keeper in self._keepers.values():
                _close(keeper)
            self._keepers.clear()
        super().dispose()


def _close(keeper: sqlite3.Connection | None) -> None:
    # A file wiped under it (`instance.wipe()`) must not stop the other keepers' closes.
    if keeper is not None:
        with contextlib.suppress(sqlite3.Error):
            keeper.close()


def _no_fsync_per_commit(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


class LakehouseSqliteStorage(DagsterSqliteStorage):
    """Dagster's SQLite storage (runs, schedules and event log under `<dagster_home>/storage`, where `storage: sqlite`
    keeps them by default) with `ReusingSqliteEventLogStorage` as its event log. A custom storage is told nothing of
    the instance's folder, so `dagster-instance.yaml` passes `dagster_home: {env: DAGSTER_HOME}`."""

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None) -> None:
        super().__init__(base_dir, inst_data=inst_data)
        self._event_log_storage = ReusingSqliteEventLogStorage(_event_logs_directory(base_dir))

    @classmethod
    def config_type(cls) -> dict[str, Field]:
        return {"dagster_home": Field(StringSource, is_required=True)}

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData, config_value: Any) -> LakehouseSqliteStorage:
        return cls.from_local(os.path.join(config_value["dagster_home"], "storage"), inst_data=inst_data)
