"""LLM prices for SQL: genai-prices' bundled snapshot plus `price_overrides.json`, flattened to a long table.

dbt prices every LLM call (`int_span_costs`) from two tables Python stages before each run: `model_resolution`
maps the raw provider and model names agents report to the price entry genai-prices would use, and
`model_prices` holds those entries' prices, one row per conditional price, component and tier. The SQL
reproduces `genai_prices.calc_price` to the micro-dollar, so a change here needs the same change there.

Only the snapshot bundled with the pinned genai-prices is read, never `UpdatePrices`: a tick never touches the
network, and a price change arrives as a reviewed upgrade of the package.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time
from decimal import ROUND_HALF_EVEN, Decimal
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

import pyarrow as pa
from genai_prices import Usage
from genai_prices.data import providers as bundled_providers
from genai_prices.data_snapshot import DataSnapshot, find_provider_by_id
from genai_prices.data_units import unit_data
from genai_prices.types import (
    ClauseEquals,
    ClauseOr,
    ClauseStartsWith,
    ConditionalPrice,
    MatchLogic,
    ModelInfo,
    ModelPrice,
    Provider,
    StartDateConstraint,
    Tier,
    TieredPrices,
    TimeOfDateConstraint,
)

from clawtrace_pipelines.core.tables import MODEL_PRICES, MODEL_PRICES_SCHEMA  # noqa: F401 (re-exported)

OVERRIDES_PATH = Path(__file__).with_name("price_overrides.json")
SOURCE_SNAPSHOT = "genai-prices"
SOURCE_OVERRIDE = "override"

# genai-prices price key -> component: what a text LLM call reports. Other units (audio, image, video, web
# searches, 1h cache writes, reasoning tokens...) are left out on purpose: agent events never report them, so
# genai-prices counts 0 of each and they add nothing to a call's price.
COMPONENTS: dict[str, str] = {
    "input_mtok": "input",
    "cache_read_mtok": "cache_read",
    "cache_write_mtok": "cache_write",
    "output_mtok": "output",
    "requests_kcount": "requests",
}
# A conditional price with none of the components (a free model, an audio-only one) must still take part in
# choosing the active price, so it gets one $0 row of this component.
NO_COMPONENT = "none"
BASE_TIER = -1

_PER: dict[str, int] = {str(unit["price_key"]): int(unit["per"]) for unit in unit_data.values()}
# A few snapshot prices carry float noise (0.08333333333333334 $/MTok); 12 decimals per unit keeps the error
# under 1e-12 $ per million units.
_PRICE_QUANTUM = Decimal("1e-12")
_NEVER_MATCHES = r"(?!)"

MODEL_RESOLUTION_SCHEMA = pa.schema(
    [
        pa.field("provider", pa.string()),
        pa.field("model", pa.string(), nullable=False),
        pa.field("price_provider_id", pa.string()),
        pa.field("price_model_id", pa.string()),
        pa.field("price_source", pa.string()),
    ]
)


@dataclass(frozen=True)
class PriceRef:
    """The price entry a (provider, model) pair resolves to: the key of its rows in `model_prices`."""

    provider_id: str
    model_id: str
    source: str


@dataclass(frozen=True)
class _Catalog:
    snapshot: DataSnapshot
    aliases: Mapping[str, str]
    # id(ModelInfo) -> the provider whose list holds it (a fallback provider's model keeps its own provider).
    owners: Mapping[int, str]
    overrides: frozenset[tuple[str, str]]


def _price_value(raw: Any) -> Decimal | TieredPrices:
    if isinstance(raw, Mapping):
        tiers = [Tier(start=int(tier["start"]), price=Decimal(str(tier["price"]))) for tier in raw["tiers"]]
        return TieredPrices(base=Decimal(str(raw["base"])), tiers=tiers)
    return Decimal(str(raw))


def _override_price(raw: Mapping[str, Any]) -> ConditionalPrice:
    unknown = set(raw) - set(COMPONENTS) - {"starts_on"}
    if unknown:
        raise ValueError(f"{OVERRIDES_PATH.name}: unsupported price keys {sorted(unknown)}")
    prices = ModelPrice(**{key: _price_value(value) for key, value in raw.items() if key in COMPONENTS})
    starts_on = raw.get("starts_on")
    constraint = StartDateConstraint(start_date=date.fromisoformat(starts_on)) if starts_on else None
    return ConditionalPrice(constraint=constraint, prices=prices)


def _override_model(raw: Mapping[str, Any]) -> ModelInfo:
    names: list[MatchLogic] = [ClauseEquals(equals=str(name).lower()) for name in raw["match"]]
    conditional = [_override_price(price) for price in raw["prices"]]
    single = len(conditional) == 1 and conditional[0].constraint is None
    return ModelInfo(
        id=str(raw["model_id"]),
        match=ClauseOr(or_=names),
        name=raw.get("name"),
        prices=conditional[0].prices if single else conditional,
    )


@cache
def _catalog() -> _Catalog:
    """The snapshot with the overrides merged in: override models first, so they win genai-prices' matching."""
    raw = json.loads(OVERRIDES_PATH.read_text(encoding="utf-8"))
    added: dict[str, list[ModelInfo]] = {}
    for entry in raw["models"]:
        added.setdefault(str(entry["provider_id"]), []).append(_override_model(entry))
    overrides = frozenset((provider_id, model.id) for provider_id, models in added.items() for model in models)
    providers: list[Provider] = []
    for provider in bundled_providers:
        extra = added.pop(provider.id, [])
        clash = {model.id for model in extra} & {model.id for model in provider.models}
        if clash:
            raise ValueError(f"{OVERRIDES_PATH.name}: {provider.id} already prices {sorted(clash)}")
        providers.append(replace(provider, models=[*extra, *provider.models]) if extra else provider)
    for entry in raw["providers"]:
        prefixes: list[MatchLogic] = [ClauseStartsWith(starts_with=prefix) for prefix in entry["model_prefixes"]]
        providers.append(
            Provider(
                id=entry["id"],
                name=entry["name"],
                api_pattern=_NEVER_MATCHES,
                model_match=ClauseOr(or_=prefixes),
                models=added.pop(entry["id"], []),
            )
        )
    if added:
        raise ValueError(f"{OVERRIDES_PATH.name}: unknown provider ids {sorted(added)}")
    owners = {id(model): provider.id for provider in providers for model in provider.models}
    aliases = {str(name).lower(): str(target) for name, target in raw["provider_aliases"].items()}
    return _Catalog(DataSnapshot(providers=providers, from_auto_update=False), aliases, owners, overrides)


def price_snapshot() -> DataSnapshot:
    """genai-prices' bundled snapshot with the overrides merged in; `.calc(...)` prices like `calc_price`."""
    return _catalog().snapshot


def price_provider_id(provider: str | None) -> str | None:
    """The genai-prices provider id for a provider name as agents report it; None when unknown or empty."""
    if provider is None or not provider.strip():
        return None
    catalog = _catalog()
    name = provider.strip().lower()
    name = catalog.aliases.get(name, name)
    if name == "litellm":  # calc_price reads the real provider from the model's `provider/` prefix
        return name
    found = find_provider_by_id(catalog.snapshot.providers, name)
    return found.id if found is not None else None


@lru_cache(maxsize=8192)
def resolve_price(provider: str | None, model: str) -> PriceRef | None:
    """The price entry for a call, matched as `calc_price` does; None when no price is known.

    Args:
        provider: the provider name from the agent event (aliases applied); when genai-prices does not know it,
            the model is matched across providers, as `calc_price` does without `provider_id`.
        model: the model name from the agent event.

    Returns:
        The entry's key in `model_prices`, or None: a known provider without this model, or no match at all.
    """
    catalog = _catalog()
    try:
        _, info = catalog.snapshot.find_provider_model(model, None, price_provider_id(provider), None)
    except LookupError:
        return None
    owner = catalog.owners[id(info)]
    source = SOURCE_OVERRIDE if (owner, info.id) in catalog.overrides else SOURCE_SNAPSHOT
    return PriceRef(owner, info.id, source)


def _utc_seconds(value: time) -> int:
    if value.tzinfo is not None:
        value = datetime.combine(date(1970, 1, 1), value).astimezone(UTC).timetz()
    if value.microsecond:
        raise ValueError(f"sub-second time-of-day price bound {value} is not supported")
    return value.hour * 3600 + value.minute * 60 + value.second


def _constraint_columns(constraint: StartDateConstraint | TimeOfDateConstraint | None) -> dict[str, Any]:
    columns: dict[str, Any] = {"starts_on": None, "tod_start_s": None, "tod_end_s": None}
    if isinstance(constraint, StartDateConstraint):
        columns["starts_on"] = constraint.start_date
    elif isinstance(constraint, TimeOfDateConstraint):
        columns["tod_start_s"] = _utc_seconds(constraint.start_time)
        columns["tod_end_s"] = _utc_seconds(constraint.end_time)
    return columns


def _model_rows(provider_id: str, model: ModelInfo, source: str) -> list[dict[str, Any]]:
    # Price variants (batch, service tiers) need request context that agent events do not carry: ignored.
    conditional = model.prices if isinstance(model.prices, list) else [ConditionalPrice(prices=model.prices)]
    rows: list[dict[str, Any]] = []
    for index, price in enumerate(conditional):
        head = {
            "provider_id": provider_id,
            "model_id": model.id,
            "model_name": model.name,
            "source": source,
            "price_index": index,
            **_constraint_columns(price.constraint),
        }
        # (price key, tier start, USD per unit); a plain price is a base tier alone.
        tiers: list[tuple[str, int, Decimal]] = []
        for key in COMPONENTS:
            value = getattr(price.prices, key)
            if isinstance(value, TieredPrices):
                tiers.append((key, BASE_TIER, value.base))
                tiers.extend((key, tier.start, tier.price) for tier in value.tiers)
            elif value is not None:
                tiers.append((key, BASE_TIER, value))
        if not tiers:
            free = {"component": NO_COMPONENT, "tier_start": BASE_TIER, "usd_per_unit": Decimal(0), "per": 1}
            rows.append({**head, **free})
        for key, start, usd in tiers:
            rows.append(
                {
                    **head,
                    "component": COMPONENTS[key],
                    "tier_start": start,
                    "usd_per_unit": usd.quantize(_PRICE_QUANTUM, rounding=ROUND_HALF_EVEN),
                    "per": _PER[key],
                }
            )
    return rows


@cache
def _rows_by_model() -> dict[tuple[str, str], list[dict[str, Any]]]:
    catalog = _catalog()
    rows: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for provider in catalog.snapshot.providers:
        for model in provider.models:
            source = SOURCE_OVERRIDE if (provider.id, model.id) in catalog.overrides else SOURCE_SNAPSHOT
            rows[(provider.id, model.id)] = _model_rows(provider.id, model, source)
    return rows


@cache
def model_prices_reference() -> pa.Table:
    """Every price of every provider and model (snapshot and overrides), for the lake table `model_prices`.

    Raises:
        ValueError: `price_overrides.json` is malformed or re-prices a model the snapshot already has.
    """
    rows = [row for model_rows in _rows_by_model().values() for row in model_rows]
    return pa.Table.from_pylist(rows, schema=MODEL_PRICES_SCHEMA)


def price_tables(pairs: Iterable[tuple[str | None, str | None]]) -> dict[str, pa.Table]:
    """The staged inputs of `int_span_costs` for the (provider, model) pairs of a tick.

    Args:
        pairs: raw (provider, model) names as agent events carry them; repeats and null models are skipped.

    Returns:
        `{"model_resolution": ..., "model_prices": ...}`: one resolution row per distinct pair (null price ids
        when no price is known) and the `model_prices` rows of just the resolved models.

    Raises:
        ValueError: `price_overrides.json` is malformed or re-prices a model the snapshot already has.
    """
    resolution: list[dict[str, Any]] = []
    resolved: dict[tuple[str, str], None] = {}
    for provider, model in dict.fromkeys(pairs):
        if model is None:
            continue
        ref = resolve_price(provider, model)
        resolution.append(
            {
                "provider": provider,
                "model": model,
                "price_provider_id": ref.provider_id if ref else None,
                "price_model_id": ref.model_id if ref else None,
                "price_source": ref.source if ref else None,
            }
        )
        if ref is not None:
            resolved[(ref.provider_id, ref.model_id)] = None
    rows_by_model = _rows_by_model()
    prices = [row for key in resolved for row in rows_by_model[key]]
    return {
        "model_resolution": pa.Table.from_pylist(resolution, schema=MODEL_RESOLUTION_SCHEMA),
        "model_prices": pa.Table.from_pylist(prices, schema=MODEL_PRICES_SCHEMA),
    }


USD_QUANTUM = Decimal("1e-10")  # the scale of every USD column (tables.USD, dbt `usd_type()`)


def price_usage(
    provider: str | None,
    model: str,
    input_tokens: int,
    cache_read_tokens: int,
    cache_write_tokens: int,
    output_tokens: int,
    at: datetime,
) -> Decimal | None:
    """The USD price of one LLM call, as silver's `int_span_costs` prices a span with this usage.

    For calls the lakehouse makes itself (Tracy's), so they are priced by the same book as the agents' calls.

    Args:
        provider: the provider name (aliases applied, as for agent events).
        model: the model name.
        input_tokens: fresh (uncached) input tokens, as Anthropic's `usage.input_tokens` and silver count them.
        cache_read_tokens: input tokens read from the prompt cache.
        cache_write_tokens: input tokens written to the prompt cache.
        output_tokens: output tokens.
        at: when the call was made (prices change over time and by time of day).

    Returns:
        The price at silver's scale (10 decimals), or None when no price is known.
    """
    ref = resolve_price(provider, model)
    if ref is None:
        return None
    # genai-prices counts cached tokens inside input_tokens; silver's spans (and Anthropic) count them apart.
    usage = Usage(
        input_tokens=input_tokens + cache_read_tokens + cache_write_tokens,
        cache_read_tokens=cache_read_tokens,
        cache_write_tokens=cache_write_tokens,
        output_tokens=output_tokens,
    )
    price = price_snapshot().calc(usage, model, ref.provider_id, None, at)
    return price.total_price.quantize(USD_QUANTUM, rounding=ROUND_HALF_EVEN)
