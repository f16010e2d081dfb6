"""The credit fold: usage charged to grants by expiry, deficits paid by the next grant, leftovers lapsing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from clawtrace_pipelines.core.billing_ledger import Grant, fold_balance

T0 = datetime(2026, 1, 1, tzinfo=UTC)
D = Decimal


def _at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def _grant(gid: str, amount: str, at: float, expires: float) -> Grant:
    return Grant(gid, D(amount), _at(at), _at(expires))


def test_a_grant_smaller_than_the_deficit_reduces_it_rather_than_erasing_it():
    usage = [(_at(1), D("5"))]
    grants = [_grant("g", "2", 2, 1000)]
    folded = fold_balance(grants, usage, _at(3))
    assert folded.balance == D("-3")
    assert (folded.granted, folded.used, folded.lapsed) == (D(2), D(5), D(0))


def test_a_grant_larger_than_the_deficit_pays_it_and_keeps_the_rest():
    folded = fold_balance([_grant("g", "10", 2, 1000)], [(_at(1), D("4.5"))], _at(3))
    assert folded.balance == D("5.5")


def test_what_a_grant_has_left_at_its_expiry_lapses_and_later_usage_is_a_deficit():
    grants = [_grant("g", "10", 0, 5)]
    usage = [(_at(1), D("3")), (_at(6), D("1"))]
    folded = fold_balance(grants, usage, _at(7))
    assert folded.lapsed == D(7)
    assert folded.balance == D(-1)


def test_usage_is_charged_to_the_grant_that_expires_first():
    # The long grant is older but expires later: usage drains the short one first, so nothing lapses.
    grants = [_grant("long", "10", 0, 100), _grant("short", "3", 1, 5)]
    folded = fold_balance(grants, [(_at(2), D("3"))], _at(6))
    assert folded.lapsed == D(0)
    assert folded.balance == D(10)


def test_grants_after_the_balance_time_do_not_count_and_the_identity_holds():
    grants = [_grant("a", "1.25", 0, 3), _grant("b", "2", 4, 100), _grant("later", "50", 10, 100)]
    usage = [(_at(h), D("0.5")) for h in range(1, 8)]
    folded = fold_balance(grants, usage, _at(8))
    assert folded.granted == D("3.25")
    assert folded.balance == folded.granted - folded.used - folded.lapsed
    # a: 1.25, 0.5 + 0.5 used by hour 2, 0.25 lapses at hour 3; hour 3 usage is a deficit of 0.5 that b pays.
    assert folded.lapsed == D("0.25")
    assert folded.balance == D("-0.5")
