"""make_chart's check: an ECharts option passes only as bounded, pure JSON data."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from clawtrace_api.tracy.charts import MAX_DATA_POINTS, MAX_DEPTH, ChartRefusedError, validate_chart

OPTION: dict[str, Any] = {
    "tooltip": {"trigger": "axis", "formatter": "{b}: ${c}"},
    "xAxis": {"type": "category", "data": ["2026-11-01", "2026-11-02"]},
    "yAxis": {"type": "value", "name": "USD", "min": 0},
    "series": [{"type": "bar", "name": "cost < budget", "data": [0.0192, 1.5], "smooth": True, "stack": None}],
}


def _with(path: list[Any], value: Any) -> dict[str, Any]:
    option = copy.deepcopy(OPTION)
    target: Any = option
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return option


def test_a_plain_option_passes_unchanged_templates_and_comparisons_included():
    assert validate_chart("Cost per day", OPTION) == ("Cost per day", OPTION)


@pytest.mark.parametrize(
    "text",
    [
        "function (p) { return p.value }",
        "  FUNCTION(){}",
        "async function f() {}",
        "p => p.value",
        "(a, b)=>a+b",
    ],
)
def test_a_string_that_reads_as_a_function_is_refused(text: str):
    with pytest.raises(ChartRefusedError, match="JavaScript function"):
        validate_chart("t", _with(["tooltip", "formatter"], text))


@pytest.mark.parametrize("text", ["<b>x</b>", "<img src=x onerror=alert(1)>", "a</div>", "<!-- x -->", "a<b"])
def test_a_string_with_an_html_tag_is_refused(text: str):
    with pytest.raises(ChartRefusedError, match="HTML tag"):
        validate_chart("t", _with(["series", 0, "name"], text))


def test_html_in_the_title_or_a_key_is_refused():
    with pytest.raises(ChartRefusedError, match="HTML"):
        validate_chart("<i>t</i>", OPTION)
    with pytest.raises(ChartRefusedError, match="HTML"):
        validate_chart("t", {"<b>": 1})


@pytest.mark.parametrize("value", [float("nan"), float("inf"), {1, 2}, object(), b"bytes", (1, 2)])
def test_a_value_json_does_not_have_is_refused(value: Any):
    with pytest.raises(ChartRefusedError):
        validate_chart("t", _with(["yAxis", "min"], value))


def test_a_non_string_key_or_a_non_object_option_is_refused():
    with pytest.raises(ChartRefusedError, match="keys"):
        validate_chart("t", {1: "x"})
    with pytest.raises(ChartRefusedError, match="JSON object"):
        validate_chart("t", [OPTION])


@pytest.mark.parametrize("title", ["", "   ", "x" * 201, None, 3])
def test_the_title_is_a_short_plain_string(title: Any):
    with pytest.raises(ChartRefusedError, match="title"):
        validate_chart(title, OPTION)


def test_more_data_points_than_the_limit_are_refused():
    at_limit = _with(["series", 0, "data"], [1] * MAX_DATA_POINTS)
    at_limit["xAxis"]["data"] = []
    validate_chart("t", at_limit)
    with pytest.raises(ChartRefusedError, match="data points"):
        validate_chart("t", _with(["series", 0, "data"], [[n, n] for n in range(MAX_DATA_POINTS // 2 + 1)]))
    with pytest.raises(ChartRefusedError, match="data points"):
        validate_chart("t", {"dataset": {"source": [[n] for n in range(MAX_DATA_POINTS + 1)]}})


def test_an_option_nested_too_deep_is_refused():
    deep: Any = 1
    for _ in range(MAX_DEPTH + 1):
        deep = {"a": deep}
    with pytest.raises(ChartRefusedError, match="deeper"):
        validate_chart("t", deep)


def test_an_option_too_large_as_json_is_refused():
    with pytest.raises(ChartRefusedError, match="bytes"):
        validate_chart("t", {"graphic": [{"text": "x" * 1000} for _ in range(70)]})
