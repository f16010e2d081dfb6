"""Billing's row contracts against its tests on their own, on a real work database from a real billing run
(metering and grants of one tenant): the same checks fail either way, whichever violations are planted."""

from __future__ import annotations

import json
import random
import shutil
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest

from clawtrace_pipelines.core.lake.storage import LakeStorage
from clawtrace_pipelines.core.metering import Category, GrantRecord, MeterRecord, grant_file_path, meter_file_path
from clawtrace_pipelines.core.settings import Settings
from clawtrace_pipelines.lib import billing, billing_stage, row_contracts
from clawtrace_pipelines.lib.billing import DBT_BILLING_BUILD, DBT_BILLING_BUILD_EVERY_TEST
from clawtrace_pipelines.lib.dbt_runner import ensure_manifest, invoke_dbt, work_database
from tests.integration.test_row_contracts import _kind, _table, checks_after, planting

TENANT = "5b0c0000-0000-4000-8000-0000000b111e"
NOW = datetime(2026, 3, 1, 12, 10, tzinfo=UTC)
BY_CONTRACT = ["test", *DBT_BILLING_BUILD[1:]]
ON_THEIR_OWN = ["test", *DBT_BILLING_BUILD_EVERY_TEST[1:]]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The work database of one billing run, every billing model built (its staged inputs captured)."""
    root = tmp_path_factory.mktemp("billing-contracts")
    settings = Settings(lake=str(root / "lake"), table_format="delta")
    storage = LakeStorage(settings)
    hour = NOW.replace(minute=0)
    meters = [MeterRecord(str(uuid.uuid4()), TENANT, Category.TRACE_LIST_QUERY, 1, hour) for _ in range(3)]
    meters += [MeterRecord(str(uuid.uuid4()), TENANT, Category.TRACY_QUESTION, 1, hour - timedelta(hours=1))]
    storage.write_bytes(meter_file_path(TENANT, NOW), b"".join(r.line() + b"\n" for r in meters))
    grant = GrantRecord(str(uuid.uuid4()), TENANT, Decimal("25"), "test grant", hour, hour + timedelta(days=30))
    storage.write_bytes(grant_file_path(TENANT, hour, grant.grant_id), grant.to_json())
    captured: dict[str, Any] = {}
    real_build = billing._build

    def capture(staged: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        captured.update(staged)
        return real_build(staged, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(billing, "_build", capture)
        billing.run_billing(settings, now=NOW)
    assert captured, "the billing run built"
    keep = root / "billing.duckdb"
    with work_database() as database:
        billing_stage.stage(database, captured)
        assert invoke_dbt(DBT_BILLING_BUILD, database=database).success
        shutil.copy(database, keep)
    return keep


def _billing_tests(manifest: dict[str, Any], database: Path) -> dict[str, dict[str, Any]]:
    """Billing's folded tests whose tested table has rows to violate."""
    tests = {}
    con = duckdb.connect(str(database), read_only=True)
    try:
        for uid, node in sorted(manifest["nodes"].items()):
            parents = node["depends_on"]["nodes"] if node["resource_type"] == "test" else []
            owner = (manifest["nodes"].get(parents[0]) or manifest["sources"].get(parents[0])) if parents else None
            if owner is None or owner["fqn"][1] != "billing" or _kind(node) not in row_contracts.folded_kinds():
                continue
            (rows,) = con.execute(f"SELECT count(*) FROM {_table(manifest, node)}").fetchone()
            if rows:
                tests[uid] = node
    finally:
        con.close()
    return tests


@pytest.mark.parametrize("seed", [1, 2])
def test_billing_contracts_fail_exactly_the_checks_that_fail_on_their_own(built, seed) -> None:
    manifest = json.loads(ensure_manifest().read_text())
    tests = _billing_tests(manifest, built)
    rng = random.Random(seed)
    planted, columns = [], set()
    for kind in row_contracts.folded_kinds():
        candidates = [
            node
            for _, node in sorted(tests.items())
            if _kind(node) == kind
            and (_table(manifest, node), node["test_metadata"]["kwargs"].get("column_name")) not in columns
        ]
        if candidates:
            node = rng.choice(candidates)
            planted.append(node)
            columns.add((_table(manifest, node), node["test_metadata"]["kwargs"].get("column_name")))
    assert len(planted) >= 4, [_kind(n) for n in planted]
    (by_contract, ran), (on_their_own, _) = checks_after(built, planting(manifest, planted), BY_CONTRACT, ON_THEIR_OWN)
    assert any(_kind(manifest["nodes"][uid]) == "row_contract" for uid in ran)
    assert {node["unique_id"] for node in planted} <= on_their_own, "every planted violation fails its check"
    assert by_contract == on_their_own
