"""Billing rates: credits per unit of each metered category, from one TOML file (`billing_rates.toml`).

Exact decimals throughout: a rate is `credits / per`, refused unless it is exact with at most 9 decimals, so
`quantity (9 decimals) x rate (9 decimals)` is exact at 18 decimals, the scale of every credits column.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path

import pyarrow as pa

from clawtrace_pipelines.core.errors import ConfigError
from clawtrace_pipelines.core.metering import Category
from clawtrace_pipelines.core.tables import RATE

DEFAULT_RATES_PATH = Path(__file__).with_name("billing_rates.toml")
RATE_SCALE = 9


@dataclass(frozen=True)
class BillingRates:
    """Credits per unit by category, and the default validity of a grant."""

    per_unit: dict[Category, Decimal]
    grant_expiry_days: int
    source: str

    def table(self) -> pa.Table:
        """One row per category (every category, 0 when unpriced), for the billing models."""
        categories = sorted(Category, key=str)
        return pa.table(
            {
                "category": pa.array([c.value for c in categories], pa.string()),
                "credits_per_unit": pa.array([self.per_unit.get(c, Decimal(0)) for c in categories], RATE),
            }
        )


def load_rates(path: str | Path | None = None) -> BillingRates:
    """The rates of `path` (default: the packaged `billing_rates.toml`).

    Raises:
        ConfigError: the file cannot be read, names an unknown category, or holds a rate that is negative or
            not exact at 9 decimals.
    """
    file = Path(path) if path else DEFAULT_RATES_PATH
    try:
        data = tomllib.loads(file.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"billing rates {file}: {exc}") from exc
    per_unit: dict[Category, Decimal] = {}
    for name, spec in (data.get("rates") or {}).items():
        try:
            category = Category(name)
        except ValueError:
            raise ConfigError(f"billing rates {file}: unknown category {name!r}") from None
        per_unit[category] = _rate(file, name, spec)
    days = (data.get("grants") or {}).get("expires_after_days", 365)
    if not isinstance(days, int) or days <= 0:
        raise ConfigError(f"billing rates {file}: grants.expires_after_days must be a positive integer")
    return BillingRates(per_unit=per_unit, grant_expiry_days=days, source=str(file))


def _rate(file: Path, name: str, spec: object) -> Decimal:
    if not isinstance(spec, dict):
        raise ConfigError(f"billing rates {file}: [rates.{name}] must be a table with credits and per")
    try:
        credits, per = Decimal(str(spec["credits"])), Decimal(str(spec.get("per", 1)))
        rate = credits / per
    except (KeyError, InvalidOperation, ZeroDivisionError) as exc:
        raise ConfigError(f"billing rates {file}: [rates.{name}]: {exc!r}") from None
    exact = rate.quantize(Decimal(1).scaleb(-RATE_SCALE))
    if rate < 0 or exact != rate:
        raise ConfigError(f"billing rates {file}: [rates.{name}] must be >= 0 and exact at {RATE_SCALE} decimals")
    return exact
