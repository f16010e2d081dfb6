"""Golden data: hand-scripted raw events (tests/fixtures/golden/events.py) through bronze and silver must give
exactly the hand-worked silver rows (tests/fixtures/golden/expected.py), in both table formats."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from clawtrace_pipelines.core.lake import open_table
from clawtrace_pipelines.core.lake.storage import LakeStorage
from clawtrace_pipelines.core.settings import Settings
from clawtrace_pipelines.core.tables import EVENTS_ALL, PG_SPANS, SILVER_TABLES, TableSpec
from clawtrace_pipelines.lib.bronze import run_bronze
from clawtrace_pipelines.lib.silver import run_silver
from tests.factories import batch_path, ndjson, write_raw
from tests.fixtures.golden import events as golden
from tests.fixtures.golden.expected import CHILD_ROOT_LABEL, EXPECTED, PAYLOAD_CHOICES

ARRIVED = datetime(2026, 3, 10, 9, 40, tzinfo=UTC)  # the collector's files land 40 minutes into the hour
NOW = datetime(2026, 3, 10, 10, tzinfo=UTC)  # the tick
PAYLOAD_COLUMNS = ("input_payload", "output_payload")


def _rows(settings: Settings, spec: TableSpec) -> list[dict[str, Any]]:
    table = open_table(spec, settings).read()
    return table.sort_by([(k, "ascending") for k in spec.keys]).to_pylist() if table.num_rows else []


def _key(spec: TableSpec, row: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(row[k] for k in spec.keys)


def _same(actual: Any, expected: Any) -> bool:
    if isinstance(expected, float) and isinstance(actual, float):
        # Continuous quantiles are computed in floating point (e.g. 2,100 + 0.9 x 43,900).
        return math.isclose(actual, expected, rel_tol=1e-12, abs_tol=1e-9)
    return type(actual) is type(expected) and actual == expected


def _differences(spec: TableSpec, actual: list[dict[str, Any]], expected: list[dict[str, Any]]) -> list[str]:
    """Readable differences between two row sets of one table, matched by the table's key."""
    problems: list[str] = []
    columns = set(spec.column_names)
    if spec is PG_SPANS:
        columns -= set(PAYLOAD_COLUMNS)  # checked by test_golden_payload_choices
    for row in expected:
        if set(row) != columns:
            problems.append(f"expected row {_key(spec, row)} has columns {sorted(set(row) ^ columns)} wrong")
    by_key = {_key(spec, r): r for r in actual}
    want = {_key(spec, r): r for r in expected}
    for key in sorted(want.keys() - by_key.keys(), key=repr):
        problems.append(f"missing row {key}")
    for key in sorted(by_key.keys() - want.keys(), key=repr):
        problems.append(f"unexpected row {key}: {by_key[key]}")
    for key in sorted(want.keys() & by_key.keys(), key=repr):
        for column in sorted(columns):
            got, exp = by_key[key].get(column), want[key][column]
            if not _same(got, exp):
                problems.append(f"{key} {column}: got {got!r}, expected {exp!r}")
    return problems


def test_golden_silver(lake_settings: Settings, subtests: pytest.Subtests) -> None:
    """One tick over the golden files; each table is its own subtest, so one difference does not hide another."""
    storage = LakeStorage(lake_settings)
    for agent, name, records in golden.RAW_FILES:
        write_raw(storage, batch_path(golden.TENANT, agent, golden.T0, name), ndjson(records), arrived=ARRIVED)
    report = run_bronze(lake_settings, now=NOW)
    run_silver(lake_settings)

    with subtests.test("bronze counts"):
        assert report.files == 3
        assert report.records_read == golden.RECORDS_READ == 30
        assert report.shadow_duplicates == golden.SHADOW_DUPLICATES == 1
        assert report.duplicates == golden.DUPLICATES == 1
        assert report.rejected == 0
        assert report.accepted == golden.ACCEPTED == 28
        ids = open_table(EVENTS_ALL, lake_settings).read(columns=["event_id"]).column("event_id").to_pylist()
        assert sorted(ids) == sorted(f"g-e{n:02d}" for n in range(1, 30) if n != 6)  # each once, no shadow g-e06

    with subtests.test("sub-agent root span label"):
        child_root = next(r for r in _rows(lake_settings, PG_SPANS) if r["span_id"] == "s-child-root")
        assert (child_root["actor_type"], child_root["actor_label"]) == ("subagent", CHILD_ROOT_LABEL), (
            "a sub-agent span with no model, tool, span name or spawn label is labelled 'session' (EVENTS.md)"
        )

    for spec in SILVER_TABLES:
        with subtests.test(spec.name):
            actual = _rows(lake_settings, spec)
            if spec is PG_SPANS:
                actual = [{k: v for k, v in row.items() if k not in PAYLOAD_COLUMNS} for row in actual]
            expected = sorted(EXPECTED[spec.name], key=lambda r: _key(spec, r))
            problems = _differences(spec, actual, expected)
            assert not problems, f"{spec.name} differs from the hand-worked golden rows:\n" + "\n".join(problems)

    with subtests.test("pg_spans payload choices"):
        spans = {(r["trace_id"], r["span_id"]): r for r in _rows(lake_settings, PG_SPANS)}
        for key, (input_payload, output_payload) in PAYLOAD_CHOICES.items():
            row = spans[key]
            got_in = None if row["input_payload"] is None else orjson.loads(row["input_payload"])
            got_out = None if row["output_payload"] is None else orjson.loads(row["output_payload"])
            assert got_in == input_payload, f"{key} input_payload"
            assert got_out == output_payload, f"{key} output_payload"
