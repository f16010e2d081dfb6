"""`make_chart`'s check: an ECharts option from a model is shown in the viewer, so it must be pure JSON data.

ECharts runs functions it finds in an option (formatters, renderers) and some components render strings as
HTML (tooltips), so an option from a model could carry script into the viewer. Only plain JSON values pass,
no string that reads as a function or holds a tag, and the size is bounded so one chart cannot swamp the page
or the transcript. ECharts' string templates (`'{b}: {c}'`) stay allowed: they are not code.
"""

from __future__ import annotations

import math
import re
from typing import Any

import orjson

MAX_OPTION_BYTES = 64 * 1024
MAX_DEPTH = 20
MAX_DATA_POINTS = 5_000
MAX_TITLE_CHARS = 200

# `function (...)`, `async function`, arrow functions `x => ...` / `(a, b) => ...`.
_FUNCTION = re.compile(r"^\s*(async\s+)?function\b|=>", re.IGNORECASE)
# `<b>`, `</div>`, `<!--`, `<script`: a tag opens with `<` and a letter (HTML parsers read `a < b` as text).
_TAG = re.compile(r"<[a-zA-Z/!?]")
# Where ECharts keeps plotted values: series `data` and `dataset.source`.
_DATA_KEYS = frozenset({"data", "source"})


class ChartRefusedError(ValueError):
    """The chart was refused; the message says why, in words a model can act on."""


def validate_chart(title: Any, option: Any) -> tuple[str, dict[str, Any]]:
    """The title and option of a chart, checked (see the module docstring).

    Returns:
        (title, option), unchanged.

    Raises:
        ChartRefusedError: a non-JSON value, a function or HTML in a string, too deep, too many data points,
            too large once serialized, or a title that is not a short plain string.
    """
    if not isinstance(title, str) or not title.strip() or len(title) > MAX_TITLE_CHARS:
        raise ChartRefusedError(f"title must be a non-empty string of at most {MAX_TITLE_CHARS} characters")
    _check_string(title, "title")
    if not isinstance(option, dict):
        raise ChartRefusedError("option must be a JSON object (an ECharts option)")
    points = _walk(option, "option", 0, in_data=False)
    if points > MAX_DATA_POINTS:
        raise ChartRefusedError(f"option has {points:,} data points; at most {MAX_DATA_POINTS:,}: aggregate first")
    size = len(orjson.dumps(option))
    if size > MAX_OPTION_BYTES:
        raise ChartRefusedError(f"option is {size:,} bytes as JSON; at most {MAX_OPTION_BYTES:,}")
    return title, option


def _walk(value: Any, path: str, depth: int, *, in_data: bool) -> int:
    """Checks `value` and returns the number of data points (scalars inside a data key) within it."""
    if depth > MAX_DEPTH:
        raise ChartRefusedError(f"option nests deeper than {MAX_DEPTH} levels at {path}")
    if isinstance(value, dict):
        points = 0
        for key, item in value.items():
            if not isinstance(key, str):
                raise ChartRefusedError(f"keys must be strings at {path}")
            _check_string(key, f"a key of {path}")
            points += _walk(item, f"{path}.{key}", depth + 1, in_data=in_data or key in _DATA_KEYS)
        return points
    if isinstance(value, list):
        return sum(_walk(item, f"{path}[{n}]", depth + 1, in_data=in_data) for n, item in enumerate(value))
    if isinstance(value, str):
        _check_string(value, path)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ChartRefusedError(f"{path} is {value}: JSON has no NaN or infinity")
    elif value is not None and not isinstance(value, int | bool):
        raise ChartRefusedError(f"{path} is a {type(value).__name__}: only JSON values are allowed")
    return 1 if in_data else 0


def _check_string(text: str, path: str) -> None:
    if _FUNCTION.search(text):
        raise ChartRefusedError(f"{path} looks like a JavaScript function: options must be data, not code")
    if _TAG.search(text):
        raise ChartRefusedError(f"{path} contains an HTML tag: use plain text")
