"""A build's work database stays one DuckDB instance from staging to the read-back, and never checkpoints."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest

from clawtrace_pipelines.lib.dbt_runner import DbtRunError, checkpoint_file, work_session


def _write_small_tables(database: Path) -> None:
    con = duckdb.connect(str(database))
    try:
        for i in range(3):
            con.execute(f"CREATE TABLE t{i} AS SELECT range AS n FROM range(1000)")
    finally:
        con.close()


def _wal(database: Path) -> Path:
    return database.with_name(database.name + ".wal")


def test_inside_a_session_closing_a_connection_writes_no_checkpoint_and_the_next_one_sees_everything(
    tmp_path: Path,
) -> None:
    database = tmp_path / "work.duckdb"
    with work_session(database):
        _write_small_tables(database)
        assert _wal(database).stat().st_size > 0  # still in the WAL: no checkpoint when that connection closed
        con = duckdb.connect(str(database))
        assert con.execute("SELECT count(*) FROM t2").fetchone() == (1000,)
        con.close()


def test_without_a_session_the_same_close_checkpoints(tmp_path: Path) -> None:
    database = tmp_path / "work.duckdb"
    _write_small_tables(database)

    assert not _wal(database).exists() or _wal(database).stat().st_size == 0


def test_checkpoint_file_makes_a_copy_of_the_file_alone_complete(tmp_path: Path) -> None:
    database, copy = tmp_path / "work.duckdb", tmp_path / "copy.duckdb"
    with work_session(database):
        _write_small_tables(database)
        checkpoint_file(database)
        shutil.copy(database, copy)

    con = duckdb.connect(str(copy), read_only=True)
    assert con.execute("SELECT count(*) FROM t0").fetchone() == (1000,)
    con.close()


def test_a_leaked_instance_of_a_previous_build_is_an_error_not_a_silent_reuse(tmp_path: Path) -> None:
    database = tmp_path / "work.duckdb"
    leaked = duckdb.connect(str(database))
    leaked.execute("CREATE TABLE left_over AS SELECT 1 AS n")
    try:
        with pytest.raises(DbtRunError, match="still open"), work_session(database):
            pass
    finally:
        leaked.close()
