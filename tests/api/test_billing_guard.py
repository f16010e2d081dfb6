"""The deficit guard on its own: off by default, balance cached for at most its bound, fails open."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pydantic
import pytest

from clawtrace_api.billing_guard import DeficitGuard
from clawtrace_api.errors import Problem
from clawtrace_pipelines.core.lake import open_table
from clawtrace_pipelines.core.settings import Settings
from clawtrace_pipelines.core.tables import CREDIT_BALANCE

TENANT = "6c0d0000-0000-4000-8000-00000000c0de"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _set_balance(settings: Settings, balance: str) -> None:
    b = Decimal(balance)
    open_table(CREDIT_BALANCE, settings).merge(
        pa.table(
            {
                "tenant_id": [TENANT],
                "granted": [Decimal(0)],
                "used": [-b],
                "lapsed": [Decimal(0)],
                "balance": [b],
                "usage_through": [None],
                "valid_at": [datetime(2026, 1, 1, tzinfo=UTC)],
            }
        ).cast(CREDIT_BALANCE.schema)
    )


def _refused(guard: DeficitGuard) -> bool:
    try:
        asyncio.run(guard.check(TENANT))
    except Problem as problem:
        assert problem.status == 402
        return True
    return False


def test_the_guard_is_off_by_default_and_refuses_a_deficit_once_on(tmp_path):
    settings = Settings(lake=str(tmp_path / "lake"))
    _set_balance(settings, "-1")
    assert not _refused(DeficitGuard(settings))
    assert _refused(DeficitGuard(settings.model_copy(update={"billing_guard": True})))


def test_a_balance_is_trusted_for_at_most_the_cache_bound(tmp_path, table_format):
    settings = Settings(
        lake=str(tmp_path / "lake"), table_format=table_format, billing_guard=True, billing_guard_cache_seconds=60
    )
    clock = Clock()
    guard = DeficitGuard(settings, clock=clock)
    _set_balance(settings, "-1")
    assert _refused(guard)
    _set_balance(settings, "5")
    clock.now += 59
    assert _refused(guard)  # still the cached deficit
    clock.now += 2
    assert not _refused(guard)


def test_the_cache_bound_cannot_exceed_a_minute():
    with pytest.raises(pydantic.ValidationError):
        Settings(billing_guard_cache_seconds=61)


def test_an_unreadable_balance_fails_open_with_a_warning(tmp_path, caplog):
    settings = Settings(lake=str(tmp_path / "lake"), billing_guard=True, billing_guard_cache_seconds=0)
    _set_balance(settings, "-1")
    log_dir = Path(settings.lake_root) / "tables" / "credit_balance" / "_delta_log"
    for commit in log_dir.glob("*.json"):
        commit.write_text("not a delta log")
    with caplog.at_level(logging.WARNING):
        assert not _refused(DeficitGuard(settings))
    assert "cannot read the balance" in caplog.text
