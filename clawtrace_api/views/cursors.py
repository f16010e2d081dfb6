"""Opaque keyset cursors: base64url of a small JSON list naming the sort and the last row's key.

Pages are keyset pages (`sort_key < last` or equal with a smaller id), never offsets, so a tick that adds
traces while a client pages shows no row twice and skips none that existed when paging started (a trace
whose cost or duration grows between pages may move, which keyset paging cannot prevent).
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from typing import Any

from clawtrace_api.errors import Problem
from clawtrace_pipelines.core.errors import InvalidIdError
from clawtrace_pipelines.core.events import check_safe_id

_VERSION = 1
MAX_CURSOR_CHARS = 2048


def encode(kind: str, key: float | int, last_id: str) -> str:
    """A cursor after the row (`key`, `last_id`) of a listing of `kind` (e.g. `traces:start`)."""
    raw = json.dumps([_VERSION, kind, key, last_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def page(rows: list[dict[str, Any]], limit: int, kind: str, key: str, last_id: str) -> tuple[list[Any], str | None]:
    """(The first `limit` rows, the cursor after the last of them) from a query asked for `limit + 1` rows:
    a cursor only when a row beyond the page exists."""
    shown = rows[:limit]
    if len(rows) <= limit or not shown:
        return shown, None
    return shown, encode(kind, shown[-1][key], shown[-1][last_id])


def decode(cursor: str, kind: str) -> tuple[float, str]:
    """The (key, id) a cursor of `kind` continues after.

    Raises:
        Problem: 422 when the cursor is malformed or was made by another listing or sort.
    """
    try:
        if len(cursor) > MAX_CURSOR_CHARS:
            raise ValueError("too long")
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        version, made_for, key, last_id = json.loads(raw)
        if version != _VERSION or made_for != kind:
            raise ValueError("made for another listing")
        if isinstance(key, bool) or not isinstance(key, int | float) or not math.isfinite(key) or key < 0:
            raise ValueError("bad key")
        return float(key), check_safe_id(last_id)
    except (ValueError, TypeError, ArithmeticError, binascii.Error, InvalidIdError, RecursionError) as exc:
        raise Problem(422, "invalid-request", f"cursor: not a cursor of this listing ({_reason(exc)})") from None


def _reason(exc: Any) -> str:
    return "malformed" if not isinstance(exc, ValueError) or "listing" not in str(exc) else str(exc)
