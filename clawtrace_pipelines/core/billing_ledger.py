"""A tenant's credit balance: grants, usage and expiries folded in time order, in exact decimals.

The rules (unlike the original, where a grant wiped out any deficit):

- usage is charged to the unexpired grants, earliest expiry first; what no grant covers is a deficit;
- a new grant first pays the deficit, so a grant smaller than the deficit reduces it, never erases it;
- what a grant has left at its expiry lapses.

So `balance = granted - used - lapsed`, and a negative balance is the deficit. A fold rather than SQL: the
lapsed part of a grant depends on the order in which usage met the grants, which a sum cannot see.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal


@dataclass(frozen=True)
class Grant:
    grant_id: str
    amount: Decimal
    granted_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class Balance:
    granted: Decimal
    used: Decimal
    lapsed: Decimal
    balance: Decimal


_EXPIRE, _GRANT, _USE = 0, 1, 2  # at equal times: expiries, then grants, then usage


def fold_balance(grants: Iterable[Grant], usage: Iterable[tuple[datetime, Decimal]], as_of: datetime) -> Balance:
    """The balance at `as_of` of grants and usage (time of the usage, credits).

    Grants made after `as_of` are left out; every usage given counts (it was metered). Expiries up to
    `as_of` lapse what their grant has left.

    Args:
        grants: the tenant's grants (positive amounts).
        usage: (when, credits) pairs, for example one per billed hour at the hour's end.
        as_of: the time the balance is valid for.

    Returns:
        Granted, used and lapsed credits and the balance (granted - used - lapsed).
    """
    timeline: list[tuple[datetime, int, str, Decimal, Grant | None]] = []
    for g in grants:
        if g.granted_at > as_of:
            continue
        timeline.append((g.granted_at, _GRANT, g.grant_id, g.amount, g))
        if g.expires_at <= as_of:
            timeline.append((g.expires_at, _EXPIRE, g.grant_id, Decimal(0), g))
    for i, (when, credits) in enumerate(usage):
        timeline.append((when, _USE, f"{i:012d}", credits, None))
    timeline.sort(key=lambda item: (item[0], item[1], item[2]))

    remaining: dict[str, Decimal] = {}
    expiry: dict[str, tuple[datetime, datetime]] = {}
    granted = used = lapsed = deficit = Decimal(0)
    for when, kind, key, amount, grant in timeline:
        if kind == _EXPIRE:
            lapsed += remaining.pop(key, Decimal(0))
        elif kind == _GRANT and grant is not None:
            granted += amount
            paid = min(amount, deficit)
            deficit -= paid
            if grant.expires_at <= when:
                lapsed += amount - paid
            elif amount > paid:
                remaining[key] = amount - paid
                expiry[key] = (grant.expires_at, grant.granted_at)
        else:
            used += amount
            due = amount
            for gid in sorted(remaining, key=lambda k: (*expiry[k], k)):
                take = min(due, remaining[gid])
                remaining[gid] -= take
                due -= take
                if not remaining[gid]:
                    del remaining[gid]
                if not due:
                    break
            deficit += due
    return Balance(granted=granted, used=used, lapsed=lapsed, balance=sum(remaining.values(), Decimal(0)) - deficit)
