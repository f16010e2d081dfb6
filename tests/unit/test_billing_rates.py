"""The rates file: the original's defaults, exact decimals, and refusals of what cannot be charged exactly."""

from __future__ import annotations

from decimal import Decimal

import pytest

from clawtrace_pipelines.core.billing_rates import load_rates
from clawtrace_pipelines.core.errors import ConfigError
from clawtrace_pipelines.core.metering import Category


def test_default_rates_are_the_originals():
    rates = load_rates().per_unit
    assert rates[Category.TRACE_LIST_QUERY] == Decimal("0.5")
    assert rates[Category.TRACE_DETAIL_QUERY] == Decimal("0.2")
    assert rates[Category.STORAGE_MB_DAYS] == Decimal("1.35")
    assert rates[Category.TRACY_INPUT_TOKENS] * 1000 == Decimal("0.5")
    assert rates[Category.TRACY_OUTPUT_TOKENS] * 1000 == Decimal("2.5")
    # Cache reads count as a tenth of an input token.
    assert rates[Category.TRACY_CACHE_READ_TOKENS] * 10 == rates[Category.TRACY_INPUT_TOKENS]
    assert rates[Category.MCP_QUERY] == 0
    assert load_rates().grant_expiry_days == 365
    assert set(rates) == set(Category)


@pytest.mark.parametrize(
    "body",
    [
        '[rates.trace_list_query]\ncredits = "1"\nper = 3\n',  # 0.333... is not exact
        '[rates.trace_list_query]\ncredits = "-1"\n',
        '[rates.no_such_category]\ncredits = "1"\n',
        '[rates.trace_list_query]\ncredits = "0.0000000001"\n',  # 10 decimals
        "[rates.trace_list_query]\nper = 1\n",
    ],
)
def test_a_rate_that_cannot_be_charged_exactly_is_refused(tmp_path, body):
    path = tmp_path / "rates.toml"
    path.write_text(body)
    with pytest.raises(ConfigError):
        load_rates(path)
