"""The dbt project on its own: it parses offline, its unit tests pass, and every model is documented."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
from deltalake import write_deltalake

from clawtrace_pipelines.core.billing_rates import load_rates
from clawtrace_pipelines.core.tables import BILLING_TABLES, EVENTS_ALL, PUBLISHED_TABLES
from clawtrace_pipelines.lib import billing_stage
from clawtrace_pipelines.lib.dbt_runner import DBT_PROJECT_DIR, ensure_manifest, invoke_dbt
from clawtrace_pipelines.lib.silver_stage import EVENT_COLUMNS, ROLLUP_SPAN_COLUMNS, stage


def _empty_work_database(path: Path) -> None:
    """The staged inputs, empty, as a tick stages them (unit tests need their parents' column types)."""
    events = pa.schema([EVENTS_ALL.schema.field(c) for c in EVENT_COLUMNS]).empty_table()
    specs = {spec.name: spec for spec in PUBLISHED_TABLES}
    rollup = pa.schema([specs["pg_spans"].schema.field(c) for c in ROLLUP_SPAN_COLUMNS]).empty_table()
    stage(
        path,
        {
            "events": events,
            "prior_pg_agents": specs["pg_agents"].schema.empty_table(),
            "prior_pg_tenants": specs["pg_tenants"].schema.empty_table(),
            "prior_spans": rollup,
        },
    )
    # The billing models' inputs, with the default rates (their unit tests price with them).
    billing_stage.stage(path, billing_stage.empty_staged_tables(load_rates(), datetime(2026, 1, 1, tzinfo=UTC)))


@pytest.fixture(scope="module")
def built_models(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Every model built with no rows (`dbt run --empty`) on empty staged inputs: (work database, target)."""
    folder = tmp_path_factory.mktemp("dbt")
    database, target = folder / "work.duckdb", folder / "target"
    _empty_work_database(database)
    # `--empty` builds every model with no rows, so the unit tests can read their inputs' column types.
    assert invoke_dbt(["run", "--empty"], database=database, target_path=target).success
    return database, target


def test_dbt_unit_tests_pass(built_models: tuple[Path, Path]) -> None:
    database, target = built_models
    result = invoke_dbt(["test", "--select", "test_type:unit"], database=database, target_path=target)
    outcomes = {r.node.name: str(r.status) for r in result.result}
    assert len(outcomes) >= 8
    failed = {name: status for name, status in outcomes.items() if status != "pass"}
    assert not failed, [r.message for r in result.result if str(r.status) != "pass"]


def _built_columns(database: Path) -> dict[str, list[str]]:
    """Model name -> its columns as dbt built them, read from the work database (the staged inputs aside)."""
    with duckdb.connect(str(database), read_only=True) as con:
        rows = con.execute(
            "select table_name, column_name from information_schema.columns "
            "where table_schema <> 'staged' order by table_name, ordinal_position"
        ).fetchall()
    built: dict[str, list[str]] = {}
    for table, column in rows:
        built.setdefault(table, []).append(column)
    return built


def test_every_built_column_is_documented_and_every_documented_column_exists(
    built_models: tuple[Path, Path],
) -> None:
    database, target = built_models
    manifest = json.loads((target / "manifest.json").read_text())
    models = {n["name"]: n for n in manifest["nodes"].values() if n["resource_type"] == "model"}
    built = _built_columns(database)
    assert set(built) == set(models), "the work database holds exactly the project's models"
    problems = []
    for name, node in sorted(models.items()):
        documented = {column: (props.get("description") or "").strip() for column, props in node["columns"].items()}
        for column in built[name]:
            if not documented.get(column):
                problems.append(f"{name}.{column}: built but has no description")
        problems += [f"{name}.{column}: documented but not built" for column in documented.keys() - set(built[name])]
    assert not problems, "\n".join(problems)


def test_every_model_is_documented_and_keys_are_tested() -> None:
    manifest = json.loads(ensure_manifest().read_text())
    models = {n["name"]: n for n in manifest["nodes"].values() if n["resource_type"] == "model"}
    assert {spec.name for spec in (*PUBLISHED_TABLES, *BILLING_TABLES)} <= set(models)
    for name, node in models.items():
        assert node["description"], f"{name} has no description"
    tested = {
        n["attached_node"].split(".")[-1]
        for n in manifest["nodes"].values()
        if n["resource_type"] == "test" and n.get("attached_node") and "unique" in n["name"]
    }
    assert {spec.name for spec in (*PUBLISHED_TABLES, *BILLING_TABLES)} <= tested, (
        "every published model needs a uniqueness test on its key"
    )
    # The published models produce exactly the columns of their lake tables.
    for spec in (*PUBLISHED_TABLES, *BILLING_TABLES):
        documented = set(models[spec.name]["columns"])
        assert documented <= set(spec.column_names), f"{spec.name} documents unknown columns"


def test_profiles_and_flags_keep_dbt_offline() -> None:
    project = (DBT_PROJECT_DIR / "dbt_project.yml").read_text()
    assert "send_anonymous_usage_stats: false" in project
    profiles = (DBT_PROJECT_DIR / "profiles.yml").read_text()
    assert "autoinstall_known_extensions: false" in profiles
    assert "clawtrace_pipelines.dbt_plugin" in profiles


def _show(sql: str, database: Path, target: Path) -> list[object]:
    result = invoke_dbt(["show", "--inline", sql], database=database, target_path=target)
    assert result.success, result.exception
    return list(result.result.results[0].agate_table.rows[0])


def test_a_dbt_connection_loads_no_lake_extension_until_a_query_calls_one(tmp_path: Path) -> None:
    table = tmp_path / "lake_table"
    write_deltalake(str(table), pa.table({"n": [2, 3, 5]}))
    database, target = tmp_path / "work.duckdb", tmp_path / "target"

    # Each invocation opens its own connection through the profile and the plugin.
    loaded = _show("select list(extension_name) from duckdb_extensions() where loaded", database, target)
    total = _show(f"select sum(n) from delta_scan('{table}')", database, target)

    assert not {"avro", "httpfs", "delta", "iceberg"} & set(json.loads(str(loaded[0])))
    assert total == [10]


def test_without_a_writable_cache_folder_the_plugin_loads_every_lake_extension_up_front(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    not_a_folder = tmp_path / "cache"
    not_a_folder.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(not_a_folder))

    loaded = _show(
        "select list(extension_name) from duckdb_extensions() where loaded", tmp_path / "w.duckdb", tmp_path / "t"
    )

    assert {"avro", "httpfs", "delta", "iceberg"} <= set(json.loads(str(loaded[0])))
