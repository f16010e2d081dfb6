"""A process parses the dbt project once and builds on each new work file with the kept manifest: the build
lands in the new file (the profile's current path), and an edited model is parsed again."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import duckdb
import pytest

from clawtrace_pipelines.lib import dbt_runner
from tests.integration.test_dbt_project import _empty_work_database


def _columns(database: Path, table: str) -> list[str]:
    with duckdb.connect(str(database), read_only=True) as con:
        rows = con.execute(
            "select column_name from information_schema.columns where table_name = ? order by ordinal_position",
            [table],
        ).fetchall()
    return [r[0] for r in rows]


def _build(tmp: Path, name: str, target: Path) -> Path:
    folder = tmp / name
    folder.mkdir()
    database = folder / "silver.duckdb"
    _empty_work_database(database)
    result = dbt_runner.invoke_dbt(["run", "--empty", "--select", "stg_events"], database=database, target_path=target)
    assert result.success
    return database


def test_the_kept_manifest_builds_into_each_new_file_and_an_edit_is_parsed_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path / "project"
    shutil.copytree(dbt_runner.DBT_PROJECT_DIR, project, ignore=shutil.ignore_patterns("target", "logs"))
    monkeypatch.setattr(dbt_runner, "DBT_PROJECT_DIR", project)
    monkeypatch.setattr(dbt_runner, "_MANIFEST", {})
    target = tmp_path / "target"

    first = _build(tmp_path, "a", target)
    kept = next(iter(dbt_runner._MANIFEST.values()))
    second = _build(tmp_path, "b", target)
    # The same parsed manifest, yet the model was built in the second file, not the first one again.
    assert next(iter(dbt_runner._MANIFEST.values())) is kept
    assert "event_id" in _columns(second, "stg_events")
    assert _columns(first, "stg_events") == _columns(second, "stg_events")

    model = project / "models" / "staging" / "stg_events.sql"
    text = model.read_text()
    body = text.rstrip().removesuffix(";")
    model.write_text(f"select *, 1 as probe_column from (\n{body}\n) as edited\n")
    later = max(p.stat().st_mtime for p in project.rglob("*") if p.is_file()) + 10
    os.utime(model, (later, later))
    third = _build(tmp_path, "c", target)
    assert next(iter(dbt_runner._MANIFEST.values())) is not kept
    assert _columns(third, "stg_events")[-1] == "probe_column"
