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

from clawtrace_pipelines.lib.dbt_runner import DBT_PROJECT_DIR, NO_ARTIFACTS, DbtRunError, invoke_dbt
from clawtrace_pipelines.lib.silver_dead_letters import status

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


def _is_contract(run: Any) -> bool:
    return str(run.node.resource_type) == "test" and _name(run) == CONTRACT_TEST


def _owner(run: Any) -> str | None:
    """unique_id of the one model or source a test depends on (a contract's owner), None for several."""
    parents = run.node.depends_on.nodes
    return str(parents[0]) if len(parents) == 1 else None


def _selector(owner: str | None) -> str:
    """A dbt selector of `owner` whose eager indirect selection takes in the tests on it."""
    kind, _, rest = str(owner).split(".", 2)
    return f"source:{rest}" if kind == "source" else rest


def expand(database: Path, failed: list[Any], vars: dict[str, Any] | None) -> tuple[list[Any], Any | None]:
    """`failed` (a build's failed and errored run results) with each such contract replaced by the failing
    results of its checks, run on their own in `database` (their models are built there, the contract ran on them).

    A contract that failed names its failing checks; one that errored (a check's SQL broke the whole query)
    names none, so every folded check of its model runs, and the one that broke errors on its own.

    Returns the new list and the result of that `dbt test` (None when no contract failed). A contract none of
    whose checks fails on its own stays in the list, and so does every contract when the checks cannot be run
    (dbt or DuckDB raised): the caller then falls back to halving the traces.
    """
    contracts = [run for run in failed if _is_contract(run)]
    if not contracts:
        return failed, None
    named: dict[str, list[str] | None] = {}  # contract -> its failed checks, None for all of its model's
    con = duckdb.connect(str(database))  # the build's work_session holds the file open with this configuration
    try:
        for run in contracts:
            named[run.node.unique_id] = None
            if status(run) == "fail":
                try:
                    rows = con.execute(f"SELECT failed_test FROM ({run.node.compiled_code}) AS contract").fetchall()
                except duckdb.Error:
                    continue  # it failed in dbt and errors here: run all its checks
                named[run.node.unique_id] = sorted(str(uid) for (uid,) in rows)
    finally:
        con.close()
    selection = sorted(
        {uid.split(".")[2] for uids in named.values() if uids for uid in uids}
        | {_selector(_owner(run)) for run in contracts if named[run.node.unique_id] is None}
    )
    if not selection:
        return failed, None
    try:
        args = ["test", NO_ARTIFACTS, "--select", *selection, "--exclude", f"test_name:{CONTRACT_TEST}"]
        result = invoke_dbt(args, database=database, vars=vars)
    except DbtRunError:
        return failed, None
    failing = [run for run in (result.result or []) if status(run) in ("fail", "error")]
    kinds = folded_kinds()
    expanded: list[Any] = []
    for run in failed:
        if not _is_contract(run):
            expanded.append(run)
            continue
        uids = named[run.node.unique_id]
        own = [
            check
            for check in failing
            if (
                check.node.unique_id in uids
                if uids is not None
                else _name(check) in kinds and _owner(check) == _owner(run)
            )
        ]
        expanded.extend(own or [run])
    return expanded, result


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
