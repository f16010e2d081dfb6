"""The Dagster instance's storage for `make demo` and the daemon: Dagster's own SQLite storage (same files, same
layout under `$DAGSTER_HOME/storage`), with an event log that keeps its SQLAlchemy engines.

Why: a tick writes about 570 events (each dbt test is an asset check: planned, evaluated, its output). Dagster's
SQLite event log builds a new engine for every event and asks SQLite whether the checks table exists before every
check event; that costs about 4-5 ms of CPU per event, 2-3 s per tick, on the path from a run's arrival to its
visibility. Reusing one engine per database file keeps SQLAlchemy's compiled-statement cache and drops both costs.
Connections are still opened per transaction (NullPool), as Dagster does: several processes write these files.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from dagster._config import Field, StringSource
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SQLITE_BUSY_TIMEOUT_SECONDS, SqliteEventLogStorage
from dagster._core.storage.sqlite_storage import DagsterSqliteStorage, _event_logs_directory
from dagster._serdes import ConfigurableClassData
from sqlalchemy import create_engine
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import NullPool

# Engines kept per process: a run writes to its own file and the index; the webserver reads many runs' files.
_ENGINES_KEPT = 64


class ReusingSqliteEventLogStorage(SqliteEventLogStorage):
    """`SqliteEventLogStorage` with one engine per database file (the most recent `_ENGINES_KEPT`) and the
    existence of its tables remembered once seen."""

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None) -> None:
        self._engines: OrderedDict[str, Engine] = OrderedDict()  # read and changed under the parent's `_db_lock`
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
        self._engines[shard] = engine
        if len(self._engines) > _ENGINES_KEPT:
            _, oldest = self._engines.popitem(last=False)
            oldest.dispose()
        return engine

    @contextmanager
    def _connect(self, shard: str) -> Iterator[Connection]:
        # As the parent does (its lock, its first-use schema creation), minus a new engine per transaction.
        with self._db_lock:
            engine = self._engine(shard)
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
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
        super().dispose()


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
