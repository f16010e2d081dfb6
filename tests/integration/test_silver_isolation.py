"""One tenant's bad data never stops another's silver: reused event ids are quarantined by bronze, and a trace
that still fails a blocking data test is dead-lettered on its own while every other trace publishes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyarrow.compute as pc
import pytest

from clawtrace_pipelines.core.lake import open_table
from clawtrace_pipelines.core.lake.storage import LakeStorage
from clawtrace_pipelines.core.settings import Settings
from clawtrace_pipelines.core.tables import EVENTS_ALL, PG_TRACES, SILVER_DEAD_LETTERS
from clawtrace_pipelines.lib import silver_dead_letters
from clawtrace_pipelines.lib.bronze import run_bronze
from clawtrace_pipelines.lib.silver import run_silver
from clawtrace_pipelines.lib.silver_pending import PENDING_DIR
from tests.factories import batch_path, ndjson, record, write_raw

GOOD = "11111111-1111-4111-8111-111111111111"
BAD = "33333333-3333-4333-8333-333333333333"
AGENT_GOOD = "22222222-2222-4222-8222-222222222222"
AGENT_BAD = "44444444-4444-4444-8444-444444444444"
DAY = 86_400_000
T0 = 1_772_409_600_000  # 2026-03-02T00:00:00Z
NOW = datetime(2026, 3, 4, 1, tzinfo=UTC)


def _trace(tenant: str, agent: str, trace: str, ts: int, prefix: str) -> list[dict]:
    return [
        record(
            tenant,
            agent,
            event_id=f"{prefix}-root",
            event_type="session_start",
            trace_id=trace,
            span_id="root",
            parent_span_id=None,
            ts_ms=ts,
            payload={"sessionKey": "agent:bot:slack"},
        ),
        record(tenant, agent, event_id=f"{prefix}-llm", trace_id=trace, span_id="llm", ts_ms=ts + 1_000),
    ]


def _send(storage: LakeStorage, tenant: str, agent: str, records: list[dict], name: str, arrived: datetime) -> None:
    path = batch_path(tenant, agent, records[0]["event"]["tsMs"], name=name)
    write_raw(storage, path, ndjson(records), arrived=arrived)


def _traces(settings: Settings, tenant: str) -> set[str]:
    rows = open_table(PG_TRACES, settings).read(columns=["tenant_id", "trace_id"])
    return set(rows.filter(pc.equal(rows.column("tenant_id"), tenant)).column("trace_id").to_pylist())


@pytest.fixture
def settings(lake_settings: Settings) -> Settings:
    # Horizon 0: the bad tenant's id reused on another day gets past bronze, as one beyond any horizon would.
    return lake_settings.model_copy(update={"event_id_horizon_days": 0})


def test_a_poison_trace_is_dead_lettered_while_the_good_tenant_publishes_every_tick(settings: Settings) -> None:
    storage = LakeStorage(settings)
    # The bad tenant's trace holds one event id twice, on two days: the staging uniqueness test fails on it.
    poison = _trace(BAD, AGENT_BAD, "poison", T0, "p")
    poison_again = [record(BAD, AGENT_BAD, event_id="p-llm", trace_id="poison", span_id="llm2", ts_ms=T0 + DAY)]
    _send(storage, BAD, AGENT_BAD, poison, "batch-p0.ndjson", NOW - timedelta(minutes=3))
    run_bronze(settings, now=NOW - timedelta(minutes=3))
    _send(storage, BAD, AGENT_BAD, poison_again, "batch-p1.ndjson", NOW - timedelta(minutes=2))
    # Its own bronze run: the reuse check reads the ids of every date a run touches.
    assert run_bronze(settings, now=NOW - timedelta(minutes=2)).accepted == 1
    for tick in range(3):
        now = NOW + timedelta(minutes=3 * tick)
        _send(
            storage,
            GOOD,
            AGENT_GOOD,
            _trace(GOOD, AGENT_GOOD, f"good-{tick}", T0 + tick, f"g{tick}"),
            f"batch-g{tick}.ndjson",
            now,
        )
        run_bronze(settings, now=now + timedelta(seconds=1))
        report = run_silver(settings)
        assert _traces(settings, GOOD) == {f"good-{i}" for i in range(tick + 1)}, f"tick {tick}"
        assert not storage.ls_files(PENDING_DIR), "the queue is settled, the poison trace included"
        if tick == 0:
            assert report.dead_lettered == 1
    assert _traces(settings, BAD) == set()
    dead = silver_dead_letters.dead_letters(settings).to_pylist()
    assert [(d["tenant_id"], d["trace_id"]) for d in dead] == [(BAD, "poison")]
    assert "unique_key_stg_events_tenant_id__event_id" in dead[0]["node"]
    assert dead[0]["failing_rows"] == 1

    # A retry before the data is fixed dead-letters the trace again; after the fix it publishes and leaves.
    assert silver_dead_letters.retry(settings, tenant=BAD) == 1
    assert run_silver(settings).dead_lettered == 1
    events = open_table(EVENTS_ALL, settings)
    events.delete([("event_date", "=", datetime(2026, 3, 3).date()), ("tenant_id", "=", BAD)])
    assert silver_dead_letters.retry(settings) == 1
    assert run_silver(settings).dead_lettered == 0
    assert _traces(settings, BAD) == {"poison"}
    assert open_table(SILVER_DEAD_LETTERS, settings).count() == 0


def test_failures_that_lead_to_no_trace_are_narrowed_down_by_halving(settings: Settings, monkeypatch) -> None:
    storage = LakeStorage(settings)
    _send(storage, BAD, AGENT_BAD, _trace(BAD, AGENT_BAD, "poison", T0, "p"), "batch-p0.ndjson", NOW)
    run_bronze(settings, now=NOW)
    again = [record(BAD, AGENT_BAD, event_id="p-llm", trace_id="poison", span_id="llm2", ts_ms=T0 + DAY)]
    later = NOW + timedelta(minutes=3)
    _send(storage, BAD, AGENT_BAD, again, "batch-p1.ndjson", later)
    assert run_bronze(settings, now=later).accepted == 1
    for n in range(3):
        _send(storage, GOOD, AGENT_GOOD, _trace(GOOD, AGENT_GOOD, f"good-{n}", T0 + n, f"g{n}"), f"b{n}.ndjson", later)
    run_bronze(settings, now=NOW + timedelta(minutes=4))
    # As for a model that errors: no failing rows to follow.
    monkeypatch.setattr(silver_dead_letters, "traces_of_failures", lambda database, failed: {})
    report = run_silver(settings)
    assert report.dead_lettered == 1 and report.builds > 2
    assert _traces(settings, GOOD) == {"good-0", "good-1", "good-2"}
    assert [d["trace_id"] for d in silver_dead_letters.dead_letters(settings).to_pylist()] == ["poison"]
    assert not storage.ls_files(PENDING_DIR)


def test_the_cli_lists_dead_letters_and_queues_them_again(settings: Settings) -> None:
    import json

    from typer.testing import CliRunner

    from clawtrace_pipelines.cli import app

    storage = LakeStorage(settings)
    _send(storage, BAD, AGENT_BAD, _trace(BAD, AGENT_BAD, "poison", T0, "p"), "batch-p0.ndjson", NOW)
    run_bronze(settings, now=NOW)
    again = [record(BAD, AGENT_BAD, event_id="p-llm", trace_id="poison", span_id="llm2", ts_ms=T0 + DAY)]
    _send(storage, BAD, AGENT_BAD, again, "batch-p1.ndjson", NOW + timedelta(minutes=3))
    run_bronze(settings, now=NOW + timedelta(minutes=3))
    assert run_silver(settings).dead_lettered == 1

    runner = CliRunner(env={"CLAWTRACE_TABLE_FORMAT": settings.table_format})
    lake = ["--lake", settings.lake]
    listed = runner.invoke(app, ["silver", "dead-letters", "--json", *lake])
    assert listed.exit_code == 0, listed.output
    assert [(r["tenant_id"], r["trace_id"]) for r in map(json.loads, listed.output.splitlines())] == [(BAD, "poison")]
    assert runner.invoke(app, ["silver", "retry", "--trace", "poison", *lake]).exit_code != 0  # needs --tenant
    done = runner.invoke(app, ["silver", "retry", "--tenant", BAD, "--trace", "poison", *lake])
    assert json.loads(done.output) == {"queued": 1}
    assert storage.ls_files(PENDING_DIR) and silver_dead_letters.dead_letters(settings).num_rows == 0


def test_the_tick_job_goes_on_past_a_dead_letter_and_its_checks_warn(tmp_path, monkeypatch) -> None:
    import dagster as dg

    from clawtrace_pipelines.definitions import build_definitions

    monkeypatch.setenv("CLAWTRACE_LAKE", str(tmp_path / "lake"))
    monkeypatch.setenv("CLAWTRACE_EVENT_ID_HORIZON_DAYS", "0")
    settings = Settings()
    storage = LakeStorage(settings)
    _send(storage, BAD, AGENT_BAD, _trace(BAD, AGENT_BAD, "poison", T0, "p"), "batch-p0.ndjson", NOW)
    _send(storage, GOOD, AGENT_GOOD, _trace(GOOD, AGENT_GOOD, "good", T0, "g"), "batch-g.ndjson", NOW)
    run_bronze(settings, now=NOW)
    again = [record(BAD, AGENT_BAD, event_id="p-llm", trace_id="poison", span_id="llm2", ts_ms=T0 + DAY)]
    _send(storage, BAD, AGENT_BAD, again, "batch-p1.ndjson", NOW + timedelta(minutes=3))
    assert run_bronze(settings, now=NOW + timedelta(minutes=3)).accepted == 1

    result = (
        build_definitions()
        .resolve_job_def("lakehouse_tick")
        .execute_in_process(instance=dg.DagsterInstance.ephemeral())
    )
    assert result.success
    assert _traces(settings, GOOD) == {"good"}
    checks = {(e.asset_key.to_user_string(), e.check_name): e for e in result.get_asset_check_evaluations()}
    dead = checks[("silver_dead_letters", "no_dead_letters")]
    assert not dead.passed and dead.severity == dg.AssetCheckSeverity.WARN
    unique = checks[("stg_events", "unique_key_stg_events_tenant_id__event_id")]
    assert not unique.passed and unique.severity == dg.AssetCheckSeverity.WARN
    # Folded into pg_traces' row contract on a tick: it reports the contract's outcome, and says so.
    folded = checks[("pg_traces", "unique_key_pg_traces_tenant_id__trace_id")]
    assert folded.passed and folded.metadata["ran"].value is True
    assert folded.metadata["ran_in"].value.startswith("test.clawtrace.row_contract_pg_traces_.")
    assert result.asset_materializations_for_node("graph"), "the graph step ran after silver"
