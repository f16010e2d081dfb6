"""The bronze rules on one file: every bad input is quarantined with a reason, the rest lands."""

from __future__ import annotations

import orjson
import pytest

from clawtrace_pipelines.lib.bronze_rules import parse_file
from tests.factories import T0_MS, batch_path, ndjson, record

TENANT = "0b7c3d1e-5f6a-4b8c-9d0e-1f2a3b4c5d6e"
OTHER_TENANT = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"
AGENT = "1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f"
LIMIT = 4 * 1024 * 1024


def parse(data: bytes, path: str | None = None, limit: int = LIMIT):
    return parse_file(path or batch_path(TENANT, AGENT), data, max_record_bytes=limit, excerpt_chars=200)


def good(i: int, **kw) -> dict:
    return record(TENANT, AGENT, event_id=f"e-{i}", **kw)


def reasons(parsed) -> dict[int, str]:
    return {r.line: r.reason_code for r in parsed.rejections}


def test_valid_records_become_rows_with_derived_columns():
    parsed = parse(ndjson([good(1), good(2, event_type="tool_before_call", payload={"toolName": "exec"})]))
    assert parsed.records_read == 2 and parsed.candidates == 2 and not parsed.rejections
    assert parsed.column("model_name") == ["claude-sonnet-4-5", None]
    assert parsed.column("tool_name") == [None, "exec"]
    assert parsed.column("tenant_id") == [TENANT, TENANT]
    assert parsed.column("line") == [1, 2]


def test_malformed_json_line_is_quarantined_and_the_rest_lands():
    data = ndjson([good(1)]) + b'{"schemaVersion": 1, "event": \n' + ndjson([good(3)])
    parsed = parse(data)
    assert parsed.column("event_id") == ["e-1", "e-3"]
    assert reasons(parsed) == {2: "invalid_json"}
    assert parsed.records_read == 3


def test_a_file_of_garbage_is_quarantined_line_by_line():
    parsed = parse(b"\x89PNG\r\n\x1a\nnot json at all\n")
    assert parsed.candidates == 0
    assert parsed.records_read == len(parsed.rejections) == 3
    assert set(reasons(parsed).values()) <= {"invalid_json", "invalid_utf8"}


def test_empty_file_gives_one_quarantined_record():
    parsed = parse(b"")
    assert parsed.records_read == 1
    assert [(r.line, r.reason_code) for r in parsed.rejections] == [(0, "empty_file")]
    assert parse(b"\n \n").rejections[0].reason_code == "empty_file"


@pytest.mark.parametrize("field", ["eventId", "eventType", "traceId", "spanId", "tsMs", "payload"])
def test_missing_required_event_field_is_quarantined_with_its_name(field):
    rec = good(1)
    del rec["event"][field]
    parsed = parse(ndjson([rec, good(2)]))
    assert parsed.column("event_id") == ["e-2"]
    (rej,) = parsed.rejections
    assert rej.reason_code == "schema" and f"event.{field}" in rej.reason


def test_missing_account_id_is_quarantined():
    rec = good(1)
    del rec["accountId"]
    assert reasons(parse(ndjson([rec]))) == {1: "schema"}


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("event", "tsMs"), "1763800000000"),
        (("event", "tsMs"), -5),
        (("event", "traceId"), 42),
        (("schemaVersion",), "1"),
        (("event", "payload", "usage", "input"), "ten"),
        (("event", "tsMs"), True),
    ],
)
def test_wrong_type_is_quarantined(path, value):
    rec = good(1)
    target = rec
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    parsed = parse(ndjson([rec]))
    assert parsed.candidates == 0
    assert parsed.rejections[0].reason_code == "schema"
    assert ".".join(path) in parsed.rejections[0].reason


def test_unknown_event_type_is_quarantined():
    parsed = parse(ndjson([good(1, event_type="llm_thinking")]))
    assert parsed.rejections[0].reason_code == "schema" and "eventType" in parsed.rejections[0].reason


def test_unsupported_schema_version_has_its_own_reason():
    rec = good(1)
    rec["schemaVersion"] = 2
    assert parse(ndjson([rec])).rejections[0].reason_code == "unsupported_version"


def test_payload_as_a_json_string_is_decoded():
    payload = {"toolName": "exec", "params": {"cmd": "ls"}}
    parsed = parse(ndjson([good(1, event_type="tool_before_call", payload=orjson.dumps(payload).decode())]))
    assert parsed.candidates == 1
    assert orjson.loads(parsed.column("payload_json")[0]) == payload
    assert parsed.column("tool_name") == ["exec"]


@pytest.mark.parametrize("payload", ["not json {", "[1, 2, 3]", '"a string"', "42"])
def test_payload_string_that_is_not_a_json_object_is_quarantined(payload):
    parsed = parse(ndjson([good(1, payload=payload)]))
    assert parsed.rejections[0].reason_code == "schema" and "payload" in parsed.rejections[0].reason


def test_ten_megabyte_payload_is_quarantined_with_a_truncated_copy():
    big = good(1, payload={"prompt": "x" * (10 * 1024 * 1024)})
    parsed = parse(ndjson([big, good(2)]))
    assert parsed.column("event_id") == ["e-2"]
    (rej,) = parsed.rejections
    assert rej.reason_code == "too_large" and rej.record_bytes > 10 * 1024 * 1024
    assert len(rej.excerpt) == 200


def test_non_uuid_tenant_folder_quarantines_every_record_of_the_file():
    path = batch_path(TENANT, AGENT).replace(f"tenant={TENANT}", "tenant=acme-corp")
    parsed = parse(ndjson([good(1), good(2)]), path=path)
    assert parsed.candidates == 0
    assert [r.reason_code for r in parsed.rejections] == ["invalid_tenant_folder"] * 2


def test_non_uuid_agent_folder_quarantines_the_file():
    path = batch_path(TENANT, AGENT).replace(f"agent={AGENT}", "agent=..")
    assert {r.reason_code for r in parse(ndjson([good(1)]), path=path).rejections} == {"invalid_agent_folder"}


def test_tenant_folder_disagreeing_with_the_record_is_quarantined():
    other = record(OTHER_TENANT, AGENT, event_id="e-9")
    parsed = parse(ndjson([good(1), other]))
    assert parsed.column("event_id") == ["e-1"]
    assert parsed.rejections[0].reason_code == "tenant_mismatch" and parsed.rejections[0].event_id == "e-9"


def test_agent_disagreeing_with_the_folder_is_quarantined():
    rec = good(1)
    rec["agentId"] = OTHER_TENANT
    assert reasons(parse(ndjson([rec]))) == {1: "agent_mismatch"}


def test_unicode_is_kept_exactly_and_escaped_nul_in_payload_text_is_kept():
    text = "héllo 世界 🦀 \u0000 end"
    parsed = parse(ndjson([good(1, payload={"prompt": text, "model": "qwen-max"})]))
    assert orjson.loads(parsed.column("payload_json")[0])["prompt"] == text


def test_nul_character_in_an_id_is_quarantined():
    parsed = parse(ndjson([good(1, span_id="span\u0000evil"), good(2)]))
    assert parsed.column("event_id") == ["e-2"]
    assert parsed.rejections[0].reason_code == "schema" and "spanId" in parsed.rejections[0].reason


def test_invalid_utf8_and_raw_nul_bytes_are_quarantined():
    bad_utf8 = ndjson([good(1)]).replace(b"claude", b"cl\xffude")
    raw_nul = ndjson([good(2)]).replace(b"claude", b"cl\x00ude")
    parsed = parse(bad_utf8 + raw_nul + ndjson([good(3)]))
    assert parsed.column("event_id") == ["e-3"]
    assert reasons(parsed) == {1: "invalid_utf8", 2: "invalid_json"}


def test_file_truncated_mid_write_quarantines_only_the_cut_record():
    data = ndjson([good(1), good(2)])
    parsed = parse(data[:-40])
    assert parsed.column("event_id") == ["e-1"]
    assert reasons(parsed) == {2: "truncated"}


def test_truncated_per_event_file_is_quarantined():
    path = batch_path(TENANT, AGENT, name="event-e-1.json")
    parsed = parse(orjson.dumps(good(1))[:-10], path=path)
    assert parsed.records_read == 1 and parsed.rejections[0].reason_code == "invalid_json"


def test_per_event_file_may_be_pretty_printed():
    path = batch_path(TENANT, AGENT, name="event-e-1.json")
    parsed = parse(orjson.dumps(good(1), option=orjson.OPT_INDENT_2), path=path)
    assert parsed.column("event_id") == ["e-1"]


def test_shadow_duplicate_is_counted_and_dropped():
    real = good(
        1,
        event_type="tool_after_call",
        payload={"toolName": "exec", "sessionKey": "agent:a:main", "toolCallId": "toolu_1"},
    )
    shadow = good(
        2, event_type="tool_after_call", payload={"toolName": "exec", "sessionKey": "unknown"}, ts_ms=T0_MS + 4
    )
    parsed = parse(ndjson([real, shadow]))
    assert parsed.column("event_id") == ["e-1"] and parsed.shadow_duplicates == 1 and not parsed.rejections


def test_unknown_extra_fields_are_kept_in_extra_json():
    rec = good(1, sdkVersion="1.4.2")
    rec["region"] = "eu"
    parsed = parse(ndjson([rec]))
    assert orjson.loads(parsed.column("extra_json")[0]) == {
        "envelope": {"region": "eu"},
        "event": {"sdkVersion": "1.4.2"},
    }


def test_path_outside_the_layout_is_quarantined():
    parsed = parse(ndjson([good(1)]), path="raw/v1/notes.txt")
    assert [(r.line, r.reason_code) for r in parsed.rejections] == [(0, "layout")]


def test_every_record_is_accounted_for_exactly_once():
    shadow = good(5, event_type="tool_after_call", payload={"sessionKey": "unknown"})
    data = ndjson([good(1), good(2), shadow]) + b"garbage\n" + ndjson([good(1)])
    parsed = parse(data)
    assert parsed.records_read == parsed.candidates + len(parsed.rejections) + parsed.shadow_duplicates == 5
