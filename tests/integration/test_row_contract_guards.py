"""The row contract's compile errors (dbt/tests/generic/row_contract.sql): a test that would change meaning inside
a contract, or a contract with no relation to test, stops the build instead of passing quietly. Each case is a
small dbt project of its own in tmp_path, with the project's contract macro and a real DuckDB file."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from dbt.cli.main import dbtRunner

from clawtrace_pipelines.lib.dbt_runner import DBT_PROJECT_DIR

PLAIN = "- not_null"


def _project(root: Path, id_tests: str, contract: str = "- row_contract") -> Path:
    (root / "models").mkdir(parents=True)
    (root / "tests" / "generic").mkdir(parents=True)
    shutil.copy(DBT_PROJECT_DIR / "tests" / "generic" / "row_contract.sql", root / "tests" / "generic")
    (root / "dbt_project.yml").write_text(
        "name: guards\nversion: '1.0.0'\nconfig-version: 2\nprofile: guards\n"
        "flags: {send_anonymous_usage_stats: false, partial_parse: false}\n"
        "vars: {row_contract_tests: [not_null, accepted_values]}\n"
    )
    (root / "profiles.yml").write_text(
        f"guards:\n  target: t\n  outputs:\n    t: {{type: duckdb, path: '{root / 'work.duckdb'}', threads: 1}}\n"
    )
    (root / "models" / "numbers.sql").write_text("select 1 as id\n")
    (root / "models" / "schema.yml").write_text(
        "models:\n  - name: numbers\n    data_tests:\n"
        + "".join(f"      {line}\n" for line in contract.splitlines())
        + "    columns:\n      - name: id\n        data_tests:\n"
        + "".join(f"          {line}\n" for line in id_tests.splitlines())
    )
    return root


def _build(project: Path) -> tuple[bool, str]:
    """(success, every message of the nodes that did not pass, and dbt's exception)."""
    os.environ.setdefault("DO_NOT_TRACK", "1")
    result = dbtRunner().invoke(
        ["build", "--project-dir", str(project), "--profiles-dir", str(project), "--target-path", str(project / "t")]
    )
    messages = [str(run.message) for run in (result.result or []) if str(run.status) not in ("pass", "success")]
    return bool(result.success), " ".join([*messages, str(result.exception or "")])


def test_a_plain_check_runs_in_the_contract(tmp_path: Path) -> None:
    ok, messages = _build(_project(tmp_path, PLAIN))
    assert ok, messages


@pytest.mark.parametrize(
    ("id_tests", "why"),
    [
        ("- not_null:\n    config: {severity: warn}", "not a plain blocking check"),
        ("- not_null:\n    config: {where: 'id > 0'}", "not a plain blocking check"),
        ("- not_null:\n    config: {store_failures: true}", "not a plain blocking check"),
        ("- not_null:\n    config: {error_if: '> 5'}", "not a plain blocking check"),
        ("- accepted_values:\n    arguments:\n      values: \"{{ '{{' }} [1] {{ '}}' }}\"", "Jinja expression"),
    ],
)
def test_a_check_that_would_change_meaning_in_a_contract_is_a_compile_error(tmp_path, id_tests, why) -> None:
    ok, messages = _build(_project(tmp_path, id_tests))
    assert not ok
    assert why in messages


def test_a_contract_on_a_subquery_rather_than_a_relation_is_a_compile_error(tmp_path: Path) -> None:
    """A `where` on the contract itself hands it a subquery: no model or source is found to take checks from."""
    ok, messages = _build(_project(tmp_path, PLAIN, "- row_contract:\n    config: {where: 'id > 0'}"))
    assert not ok
    assert "no model or source of the project" in messages
