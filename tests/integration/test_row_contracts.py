"""Row contracts (lib/row_contracts.py, dbt/tests/generic/row_contract.sql) against every test on its own, on a
real work database from a real tick: the same checks fail either way, whichever violations are planted."""

from __future__ import annotations

import json
import random
import shutil
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest

from clawtrace_pipelines.core.lake.storage import LakeStorage
from clawtrace_pipelines.core.settings import Settings
from clawtrace_pipelines.lib import row_contracts
from clawtrace_pipelines.lib.bronze import run_bronze
from clawtrace_pipelines.lib.dbt_runner import ensure_manifest, invoke_dbt, work_database
from clawtrace_pipelines.lib.silver import run_silver
from clawtrace_pipelines.lib.silver_chunk import DBT_BUILD, DBT_BUILD_EVERY_TEST
from clawtrace_pipelines.lib.silver_dead_letters import failed_nodes
from tests.factories import batch_path, ndjson, write_raw
from tests.fixtures.golden import events as golden

ARRIVED = datetime(2026, 3, 10, 9, 40, tzinfo=UTC)
NOW = datetime(2026, 3, 10, 10, tzinfo=UTC)
# The tick's build and the daily reconcile's, as `dbt test` (the models are built already).
BY_CONTRACT = ["test", *DBT_BUILD[1:]]
ON_THEIR_OWN = ["test", *DBT_BUILD_EVERY_TEST[1:]]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The work database of one tick over the golden files, every model built (kept after its build)."""
    root = tmp_path_factory.mktemp("contracts")
    settings = Settings(lake=str(root / "lake"), table_format="delta")
    storage = LakeStorage(settings)
    for agent, name, records in golden.RAW_FILES:
        write_raw(storage, batch_path(golden.TENANT, agent, golden.T0, name), ndjson(records), arrived=ARRIVED)
    run_bronze(settings, now=NOW)
    report = run_silver(settings, keep_workdir=root / "work")
    assert report.dead_lettered == 0 and report.builds == 1
    return root / "work" / "silver.duckdb"


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    return json.loads(ensure_manifest().read_text())


def _silver_tests(manifest: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The data tests of the tick's silver build (not billing's)."""
    return {
        uid: node
        for uid, node in manifest["nodes"].items()
        if node["resource_type"] == "test"
        and not any(
            (manifest["nodes"].get(parent) or manifest["sources"][parent])["fqn"][1] == "billing"
            for parent in node["depends_on"]["nodes"]
        )
    }


def _kind(node: dict[str, Any]) -> str:
    return str((node.get("test_metadata") or {}).get("name"))


def _table(manifest: dict[str, Any], node: dict[str, Any]) -> str:
    """The work database's table of the model or source `node` tests."""
    parent = node["depends_on"]["nodes"][0]
    if parent in manifest["sources"]:
        return f'{manifest["sources"][parent]["schema"]}."{manifest["sources"][parent]["identifier"]}"'
    return f'main."{manifest["nodes"][parent]["alias"]}"'


def _source_test(manifest: dict[str, Any], node: dict[str, Any]) -> bool:
    return node["depends_on"]["nodes"][0] in manifest["sources"]


def _plant(con: duckdb.DuckDBPyConnection, manifest: dict[str, Any], node: dict[str, Any]) -> None:
    """Make one row of the tested model violate `node`'s check."""
    table = _table(manifest, node)
    kwargs, kind = node["test_metadata"]["kwargs"], _kind(node)
    first_row = f"rowid = (SELECT min(rowid) FROM {table})"
    if kind == "not_null":
        con.execute(f'UPDATE {table} SET "{kwargs["column_name"]}" = NULL WHERE {first_row}')
    elif kind == "non_negative":
        con.execute(f'UPDATE {table} SET "{kwargs["column_name"]}" = -1 WHERE {first_row}')
    elif kind == "accepted_values":
        values = kwargs["values"]
        other = max(values) + 1 if all(isinstance(v, int) for v in values) else "'not-an-accepted-value'"
        con.execute(f'UPDATE {table} SET "{kwargs["column_name"]}" = {other} WHERE {first_row}')
    else:  # unique, unique_key: a copy of a row
        con.execute(f"INSERT INTO {table} SELECT * FROM {table} LIMIT 1")


def _failing(database: Path, args: list[str]) -> tuple[set[str], set[str]]:
    """(unique_ids of the failed checks after row contracts are expanded, unique_ids of every test run)."""
    result = invoke_dbt(args, database=database)
    failed, _ = row_contracts.expand(database, failed_nodes(result), None)
    return {run.node.unique_id for run in failed}, {run.node.unique_id for run in result.result}


Checks = tuple[set[str], set[str]]


def checks_after(
    built: Path,
    change: Callable[[duckdb.DuckDBPyConnection], None],
    by_contract: list[str] = BY_CONTRACT,
    on_their_own: list[str] = ON_THEIR_OWN,
) -> tuple[Checks, Checks]:
    """`_failing` of the contracts' run and of the every-test run, in a copy of `built` that `change(con)` altered."""
    with work_database() as database:
        shutil.copy(built, database)
        con = duckdb.connect(str(database))
        try:
            change(con)
        finally:
            con.close()
        return _failing(database, by_contract), _failing(database, on_their_own)


def planting(manifest: dict[str, Any], nodes: Iterable[dict[str, Any]]) -> Callable[[duckdb.DuckDBPyConnection], None]:
    """A change for `checks_after`: one violation of each node's check."""

    def plant(con: duckdb.DuckDBPyConnection) -> None:
        for node in nodes:
            _plant(con, manifest, node)

    return plant


def test_every_folded_test_is_run_by_the_contract_of_its_model_or_source(manifest) -> None:
    """Silver's and billing's builds leave out every test of a folded kind: each must belong to a contract."""
    tests = {uid: node for uid, node in manifest["nodes"].items() if node["resource_type"] == "test"}
    folded = {uid for uid, node in tests.items() if _kind(node) in row_contracts.folded_kinds()}
    covered = row_contracts.covered_by(manifest)
    assert len(folded & set(_silver_tests(manifest))) == 125
    assert len(folded - set(_silver_tests(manifest))) == 47, "billing's models and sources"
    assert folded <= set(covered), sorted(folded - set(covered))
    assert all(_kind(manifest["nodes"][contract]) == "row_contract" for contract in covered.values())


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_contracts_fail_exactly_the_checks_that_fail_on_their_own(built, manifest, seed) -> None:
    tests = _silver_tests(manifest)
    rng = random.Random(seed)
    planted = []
    for kind in row_contracts.folded_kinds():
        candidates = sorted(uid for uid, node in tests.items() if _kind(node) == kind)
        planted.append(tests[rng.choice(candidates)])
    (by_contract, ran), (on_their_own, ran_apart) = checks_after(built, planting(manifest, planted))

    assert not any(_kind(manifest["nodes"][uid]) in row_contracts.folded_kinds() for uid in ran)
    assert sum(_kind(manifest["nodes"][uid]) == "row_contract" for uid in ran) == 16
    assert not any(_kind(manifest["nodes"][uid]) == "row_contract" for uid in ran_apart), "none counted twice"
    assert {node["unique_id"] for node in planted} <= on_their_own, "every planted violation fails its check"
    assert by_contract == on_their_own


def test_a_violation_in_a_staged_source_fails_the_same_checks(built, manifest) -> None:
    """The tick's staged inputs have contracts of their own: one violation of each kind tested on a source."""
    tests = {uid: node for uid, node in _silver_tests(manifest).items() if _source_test(manifest, node)}
    planted, columns = {}, set()
    for uid in sorted(tests):
        node, kind = tests[uid], _kind(tests[uid])
        column = (_table(manifest, node), node["test_metadata"]["kwargs"].get("column_name"))
        if kind in row_contracts.folded_kinds() and kind not in planted and column not in columns:
            planted[kind] = node  # one per column: a NULL planted after a bad value would hide it
            columns.add(column)
    assert {"not_null", "accepted_values"} <= set(planted), sorted(planted)

    (by_contract, _), (on_their_own, _) = checks_after(built, planting(manifest, planted.values()))
    assert {node["unique_id"] for node in planted.values()} <= on_their_own
    assert by_contract == on_their_own


def test_a_check_that_errors_breaks_its_contract_and_is_named_on_its_own(built, manifest) -> None:
    """A column a not_null check reads is gone: that check errors, so its whole contract errors (no failed_test to
    read). Expanded, every folded check of that model runs on its own and the one that errors is reported."""
    tests = _silver_tests(manifest)
    node = next(
        node
        for uid, node in sorted(tests.items())
        if _kind(node) == "not_null" and not _source_test(manifest, node) and "pg_spans" in uid
    )
    column = node["test_metadata"]["kwargs"]["column_name"]

    def drop(con: duckdb.DuckDBPyConnection) -> None:
        con.execute(f'ALTER TABLE {_table(manifest, node)} RENAME COLUMN "{column}" TO "{column}_gone"')

    (by_contract, _), (on_their_own, _) = checks_after(built, drop)
    assert node["unique_id"] in on_their_own
    assert by_contract == on_their_own
    assert not any(_kind(manifest["nodes"][uid]) == "row_contract" for uid in by_contract), "each check named"
