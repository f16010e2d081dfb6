"""Row contracts: a model's single-model data tests in one dbt test (dbt/tests/generic/row_contract.sql).

A tick's build ran about 110 such tests at about 20 ms of dbt's own time each, whatever the data. It builds one
`row_contract` per model instead, leaving out the tests of the folded kinds (`row_contract_tests` in
dbt_project.yml); the daily reconcile tick builds every test on its own. Nothing is given up:

- every folded check still blocks the publish: it is a branch of its model's contract, which is its own SQL;
- a contract that fails names its failing checks, which are then run on their own (`expand`), so dead letters
  and asset checks carry each check's name, failing rows and reason, as when the checks ran apart;
- a folded check's asset check reports its contract's outcome (`covered_by`).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import duckdb
import yaml

from clawtrace_pipelines.lib.dbt_runner import DBT_PROJECT_DIR, invoke_dbt

CONTRACT_TEST = "row_contract"


@functools.cache
def folded_kinds() -> tuple[str, ...]:
    """The test kinds a row contract runs (the `row_contract_tests` var of dbt_project.yml)."""
    project = yaml.safe_load((DBT_PROJECT_DIR / "dbt_project.yml").read_text())
    return tuple(project["vars"]["row_contract_tests"])


def tick_exclusions() -> list[str]:
    """dbt selectors of the tests a tick's build leaves to the row contracts."""
    return [f"test_name:{kind}" for kind in folded_kinds()]


def _name(run: Any) -> str:
    return str(getattr(run.node.test_metadata, "name", "") if run.node.test_metadata else "")


def _is_failed_contract(run: Any) -> bool:
    status = str(run.status.value if hasattr(run.status, "value") else run.status)
    return str(run.node.resource_type) == "test" and _name(run) == CONTRACT_TEST and status == "fail"


def expand(database: Path, failed: list[Any], vars: dict[str, Any] | None) -> tuple[list[Any], Any | None]:
    """`failed` (a build's failed run results) with each failed contract replaced by the failing results of the
    checks it names, run on their own in `database` (their models are built there, the contract ran on them).

    Returns the new list and the result of that `dbt test` (None when no contract failed). A contract whose
    checks all pass on their own (it cannot, being their SQL) stays in the list, for the halving fallback.
    """
    contracts = [run for run in failed if _is_failed_contract(run)]
    if not contracts:
        return failed, None
    checks: dict[str, list[str]] = {}
    con = duckdb.connect(str(database), read_only=True)
    try:
        for run in contracts:
            rows = con.execute(f"SELECT failed_test FROM ({run.node.compiled_code}) AS contract").fetchall()
            checks[run.node.unique_id] = sorted(str(uid) for (uid,) in rows)
    finally:
        con.close()  # before dbt opens the file: DuckDB refuses a second open of it with other settings
    names = sorted({uid.split(".")[2] for uids in checks.values() for uid in uids})
    if not names:
        return failed, None
    result = invoke_dbt(["test", "--select", *names], database=database, vars=vars)
    by_id = {run.node.unique_id: run for run in (result.result or []) if _status(run) in ("fail", "error")}
    expanded: list[Any] = []
    for run in failed:
        named = [by_id[uid] for uid in checks.get(run.node.unique_id, []) if uid in by_id]
        expanded.extend(named or [run])
    return expanded, result


def _status(run: Any) -> str:
    return str(run.status.value if hasattr(run.status, "value") else run.status)


def covered_by(manifest: Mapping[str, Any]) -> dict[str, str]:
    """Folded test unique_id -> the unique_id of the row contract that runs it (the macro's own rule: a test of
    a folded kind that depends on exactly one model, and that model has a contract)."""
    nodes = manifest["nodes"]
    contracts = {
        node["depends_on"]["nodes"][0]: uid
        for uid, node in nodes.items()
        if node["resource_type"] == "test" and (node.get("test_metadata") or {}).get("name") == CONTRACT_TEST
    }
    covered = {}
    for uid, node in nodes.items():
        kind = (node.get("test_metadata") or {}).get("name")
        parents = node["depends_on"]["nodes"] if node["resource_type"] == "test" else []
        if kind in folded_kinds() and len(parents) == 1 and parents[0] in contracts:
            covered[uid] = contracts[parents[0]]
    return covered
