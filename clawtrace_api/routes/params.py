"""Query parameters the read routes share: the time window and page sizes, validated before any query."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import Query

from clawtrace_api.errors import Problem

# Epoch milliseconds the engines compare exactly (doubles hold integers up to 2**53).
MAX_MS = 2**53
DAY_MS = 86_400_000
DEFAULT_WINDOW_MS = 7 * DAY_MS

FromMs = Annotated[int | None, Query(ge=0, le=MAX_MS, description="Window start, epoch ms (default: `to_ms` - 7 days)")]
ToMs = Annotated[int | None, Query(ge=0, le=MAX_MS, description="Window end, exclusive, epoch ms (default: now)")]
Limit = Annotated[int, Query(ge=1, le=500, description="Rows per page (1..500)")]
Cursor = Annotated[
    str | None, Query(min_length=1, max_length=2048, description="`next_cursor` of the previous page, as given")
]
OptionalId = Annotated[str | None, Query(min_length=1, max_length=256)]


def window(from_ms: int | None, to_ms: int | None) -> tuple[int, int]:
    """[from_ms, to_ms) with the defaults filled in (the last 7 days).

    Raises:
        Problem: 422 when the window ends before it starts.
    """
    end = int(time.time() * 1000) if to_ms is None else to_ms
    start = max(0, end - DEFAULT_WINDOW_MS) if from_ms is None else from_ms
    if start > end:
        raise Problem(422, "invalid-request", "from_ms: must not be after to_ms")
    return start, end
