"""Price resolution, overrides and the flattened price tables of clawtrace_pipelines.core.pricing."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from genai_prices import Usage, calc_price

from clawtrace_pipelines.core import pricing
from clawtrace_pipelines.core.pricing import (
    MODEL_PRICES,
    MODEL_PRICES_SCHEMA,
    MODEL_RESOLUTION_SCHEMA,
    PriceRef,
    model_prices_reference,
    price_provider_id,
    price_snapshot,
    price_tables,
    resolve_price,
)

SIMULATED_PRICED = {
    ("anthropic", "claude-sonnet-4-5"): ("anthropic", "claude-sonnet-4-5", "genai-prices"),
    ("anthropic", "claude-opus-4-1"): ("anthropic", "claude-opus-4-1", "genai-prices"),
    ("anthropic", "claude-haiku-4-5"): ("anthropic", "claude-haiku-4-5", "genai-prices"),
    ("openai", "gpt-4o"): ("openai", "gpt-4o", "genai-prices"),
    ("openai", "gpt-4.1-mini"): ("openai", "gpt-4.1-mini", "genai-prices"),
    ("openai", "o3"): ("openai", "o3", "genai-prices"),
    ("google", "gemini-2.5-pro"): ("google", "gemini-2.5-pro", "genai-prices"),
    ("google", "gemini-2.5-flash"): ("google", "gemini-2.5-flash", "genai-prices"),
    ("deepseek", "deepseek-chat"): ("deepseek", "deepseek-chat", "genai-prices"),
    ("deepseek", "deepseek-reasoner"): ("deepseek", "deepseek-reasoner", "genai-prices"),
    ("moonshot", "kimi-k2-0905-preview"): ("moonshotai", "kimi-k2-0905-preview", "genai-prices"),
    ("qwen", "qwen-max"): ("alibaba", "qwen-max", "override"),
    ("qwen", "qwen3-coder-plus"): ("alibaba", "qwen3-coder-plus", "override"),
}


@pytest.mark.parametrize(("pair", "expected"), SIMULATED_PRICED.items())
def test_simulated_models_resolve_to_their_price_entries(pair, expected):
    assert resolve_price(*pair) == PriceRef(*expected)


@pytest.mark.parametrize("provider", ["zhipu", None, "zai", "acme"])
def test_glm_air_preview_stays_unpriced_whatever_the_provider(provider):
    assert resolve_price(provider, "glm-4.6-air-preview") is None


def test_openclaw_provider_names_map_to_genai_prices_ids():
    assert price_provider_id("moonshot") == "moonshotai"
    assert price_provider_id("qwen") == "alibaba"
    assert price_provider_id("zhipu") == "zhipuai"
    assert price_provider_id(" Google ") == "google"
    assert price_provider_id("gemini") == "google"  # genai-prices' own provider_match
    assert [price_provider_id(name) for name in (None, "", "acme-gateway")] == [None, None, None]


def test_unknown_provider_matches_the_model_across_providers_but_a_known_one_does_not():
    assert resolve_price("acme-gateway", "claude-haiku-4-5") == PriceRef(
        "anthropic", "claude-haiku-4-5", "genai-prices"
    )
    assert resolve_price(None, "qwen-max") == PriceRef("alibaba", "qwen-max", "override")
    # A known provider that does not sell the model: calc_price raises, so no price.
    assert resolve_price("openai", "claude-haiku-4-5") is None


def test_a_fallback_provider_resolves_to_the_provider_owning_the_price():
    assert resolve_price("azure", "gpt-4o") == PriceRef("openai", "gpt-4o", "genai-prices")


def test_every_override_fills_a_gap_of_the_snapshot():
    raw = json.loads(pricing.OVERRIDES_PATH.read_text(encoding="utf-8"))
    assert {entry["model_id"] for entry in raw["models"]} == {"qwen-max", "qwen3-coder-plus", "glm-4.6"}
    for entry in raw["models"]:
        assert entry["source"].startswith("https://") and entry["checked_on"]
        provider = next(k for k, v in raw["provider_aliases"].items() if v == entry["provider_id"])
        with pytest.raises(LookupError):
            calc_price(Usage(input_tokens=1), model_ref=entry["model_id"], provider_id=provider)
        assert resolve_price(provider, entry["model_id"]).source == "override"


def test_tiered_override_prices_all_tokens_at_the_tier_the_total_input_reaches():
    def cost(fresh: int, cached: int) -> Decimal:
        usage = Usage(input_tokens=fresh + cached, cache_read_tokens=cached, output_tokens=1_000_000)
        return price_snapshot().calc(usage, "qwen3-coder-plus", "alibaba", None, datetime(2026, 1, 1, tzinfo=UTC))

    # 32,000 total input tokens: base prices. One more: the 32K-128K tier on every token.
    assert cost(30_000, 2_000).total_price == Decimal("0.030") + Decimal("0.0004") + Decimal("5")
    assert cost(30_001, 2_000).total_price == Decimal("0.0540018") + Decimal("0.00072") + Decimal("9")


def test_reference_has_unique_keys_and_every_snapshot_provider():
    reference = model_prices_reference()
    assert reference.schema == MODEL_PRICES_SCHEMA
    assert MODEL_PRICES.partition_by == () and set(MODEL_PRICES.keys) <= set(MODEL_PRICES.column_names)
    keys = Counter(zip(*(reference[k].to_pylist() for k in MODEL_PRICES.keys), strict=True))
    assert max(keys.values()) == 1
    providers = set(reference["provider_id"].to_pylist())
    assert {p.id for p in price_snapshot().providers} == providers
    assert set(reference["source"].to_pylist()) == {"genai-prices", "override"}
    assert set(reference["component"].to_pylist()) == {*pricing.COMPONENTS.values(), pricing.NO_COMPONENT}


def test_reference_flattens_tiers_and_time_windows():
    rows = model_prices_reference().to_pylist()
    coder = [(r["component"], r["tier_start"]) for r in rows if r["model_id"] == "qwen3-coder-plus"]
    assert coder.count(("input", -1)) == 1 and ("output", 256000) in coder and len(coder) == 12
    deepseek = [r for r in rows if (r["provider_id"], r["model_id"]) == ("deepseek", "deepseek-chat")]
    standard = {(r["price_index"], r["tod_start_s"], r["tod_end_s"]) for r in deepseek if r["price_index"] == 1}
    assert standard == {(1, 1800, 59400)}  # 00:30-16:30 UTC
    o3 = {r["starts_on"] for r in rows if (r["provider_id"], r["model_id"]) == ("openai", "o3")}
    assert o3 == {None, datetime(2025, 6, 10).date()}


def test_price_tables_stage_one_resolution_row_per_pair_and_only_resolved_prices():
    pairs = [
        ("anthropic", "claude-sonnet-4-5"),
        ("anthropic", "claude-sonnet-4-5"),
        (None, "claude-sonnet-4-5"),
        ("zhipu", "glm-4.6-air-preview"),
        ("zhipu", "glm-4.6"),
        ("openai", None),
    ]
    tables = price_tables(pairs)
    resolution = tables["model_resolution"]
    assert resolution.schema == MODEL_RESOLUTION_SCHEMA
    assert resolution.to_pylist() == [
        {
            "provider": "anthropic",
            "model": "claude-sonnet-4-5",
            "price_provider_id": "anthropic",
            "price_model_id": "claude-sonnet-4-5",
            "price_source": "genai-prices",
        },
        {
            "provider": None,
            "model": "claude-sonnet-4-5",
            "price_provider_id": "anthropic",
            "price_model_id": "claude-sonnet-4-5",
            "price_source": "genai-prices",
        },
        {
            "provider": "zhipu",
            "model": "glm-4.6-air-preview",
            "price_provider_id": None,
            "price_model_id": None,
            "price_source": None,
        },
        {
            "provider": "zhipu",
            "model": "glm-4.6",
            "price_provider_id": "zhipuai",
            "price_model_id": "glm-4.6",
            "price_source": "override",
        },
    ]
    prices = tables["model_prices"]
    assert prices.schema == MODEL_PRICES_SCHEMA
    assert set(zip(prices["provider_id"].to_pylist(), prices["model_id"].to_pylist(), strict=True)) == {
        ("anthropic", "claude-sonnet-4-5"),
        ("zhipuai", "glm-4.6"),
    }


def test_price_tables_of_no_pairs_are_empty_but_typed():
    tables = price_tables([])
    assert tables["model_resolution"].num_rows == 0 and tables["model_prices"].num_rows == 0
    assert tables["model_prices"].schema == MODEL_PRICES_SCHEMA


def test_resolution_is_cached_across_calls():
    resolve_price("openai", "gpt-4o")
    hits = resolve_price.cache_info().hits
    resolve_price("openai", "gpt-4o")
    assert resolve_price.cache_info().hits == hits + 1


def test_pricing_loads_without_dagster_or_dbt():
    code = "import sys, clawtrace_pipelines.core.pricing; print([m for m in ('dagster', 'dbt') if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
