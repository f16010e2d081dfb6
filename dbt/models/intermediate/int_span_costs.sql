-- One row per LLM call (key tenant_id, trace_id, span_id): its USD cost, priced exactly as
-- genai_prices.calc_price would price it (clawtrace_pipelines/core/pricing.py stages the prices).
with

usage as (
    select
        tenant_id,
        trace_id,
        span_id,
        provider,
        model,
        input_tokens,
        cache_read_tokens,
        cache_write_tokens,
        output_tokens,
        -- genai-prices' input_tokens counts all input, cached included; tiers are chosen by it.
        input_tokens + cache_read_tokens + cache_write_tokens as total_input_tokens,
        -- Price conditions are in UTC: the call's UTC date and millisecond of the UTC day.
        cast(epoch_ms(priced_at_ms) as date) as priced_on,
        ((priced_at_ms % 86400000) + 86400000) % 86400000 as priced_ms_of_day
    from {{ ref('int_span_usage') }}
),

resolution as (
    select * from {{ source('prices', 'model_resolution') }}
),

prices as (
    select
        provider_id,
        model_id,
        price_index,
        starts_on,
        tod_start_s,
        tod_end_s,
        component,
        tier_start,
        -- USD per token (or per request). DuckDB divides decimals as DOUBLE; `per` is a power of ten, so
        -- 1 / per converts back to an exact decimal and the product stays exact.
        usd_per_unit * cast(1.0 / per as decimal(18, 12)) as usd_per_count
    from {{ source('prices', 'model_prices') }}
),

conditions as (
    select distinct provider_id, model_id, price_index, starts_on, tod_start_s, tod_end_s
    from prices
),

resolved as (
    select
        usage.*,
        resolution.price_provider_id,
        resolution.price_model_id
    from usage
    left join resolution
        on
            usage.model = resolution.model
            and usage.provider is not distinct from resolution.provider
),

priced as (
    select
        resolved.*,
        active.price_index
    from resolved
    left join lateral (
        -- The last conditional price whose condition holds wins; the first one when none holds.
        select max(conditions.price_index) as price_index
        from conditions
        where
            conditions.provider_id = resolved.price_provider_id
            and conditions.model_id = resolved.price_model_id
            and (
                conditions.price_index = 0
                or (
                    (conditions.starts_on is null or resolved.priced_on >= conditions.starts_on)
                    and (
                        conditions.tod_start_s is null
                        or case
                            -- An interval that crosses midnight (end before start).
                            when conditions.tod_end_s < conditions.tod_start_s
                                then
                                    resolved.priced_ms_of_day >= conditions.tod_start_s * 1000
                                    or resolved.priced_ms_of_day < conditions.tod_end_s * 1000
                            else
                                resolved.priced_ms_of_day >= conditions.tod_start_s * 1000
                                and resolved.priced_ms_of_day < conditions.tod_end_s * 1000
                        end
                    )
                )
            )
    ) as active on true
),

rated as (
    select
        priced.*,
        rates.input_rate,
        rates.cache_read_rate,
        rates.cache_write_rate,
        rates.output_rate,
        rates.request_rate
    from priced
    left join lateral (
        select
            max(tier.usd_per_count) filter (where tier.component = 'input') as input_rate,
            max(tier.usd_per_count) filter (where tier.component = 'cache_read') as cache_read_rate,
            max(tier.usd_per_count) filter (where tier.component = 'cache_write') as cache_write_rate,
            max(tier.usd_per_count) filter (where tier.component = 'output') as output_rate,
            max(tier.usd_per_count) filter (where tier.component = 'requests') as request_rate
        from (
            -- Cliff tiers: the highest tier the call's total input exceeds prices all its tokens.
            select
                prices.component,
                arg_max(prices.usd_per_count, prices.tier_start) as usd_per_count
            from prices
            where
                prices.provider_id = priced.price_provider_id
                and prices.model_id = priced.price_model_id
                and prices.price_index = priced.price_index
                and (prices.tier_start < 0 or priced.total_input_tokens > prices.tier_start)
            group by prices.component
        ) as tier
    ) as rates on true
),

costs as (
    select
        tenant_id,
        trace_id,
        span_id,
        price_provider_id,
        price_model_id,
        price_index is not null as cost_known,
        -- Cached tokens of a kind the model has no price for stay input tokens and pay the input price
        -- (genai-prices folds a unit without a price into its parent).
        coalesce(input_rate, 0) * (
            input_tokens
            + case when cache_read_rate is null then cache_read_tokens else 0 end
            + case when cache_write_rate is null then cache_write_tokens else 0 end
        ) as input_cost,
        coalesce(cache_read_rate, 0) * cache_read_tokens as cache_read_cost,
        coalesce(cache_write_rate, 0) * cache_write_tokens as cache_write_cost,
        coalesce(output_rate, 0) * output_tokens as output_cost,
        coalesce(request_rate, 0) as request_cost
    from rated
)

select
    tenant_id,
    trace_id,
    span_id,
    price_provider_id,
    price_model_id,
    -- NULL, never 0, when no price is known: an unknown cost must not pass for a free call.
    cast(case when cost_known then input_cost end as {{ usd_type() }}) as input_cost_usd,
    cast(case when cost_known then cache_read_cost end as {{ usd_type() }}) as cache_read_cost_usd,
    cast(case when cost_known then cache_write_cost end as {{ usd_type() }}) as cache_write_cost_usd,
    cast(case when cost_known then output_cost end as {{ usd_type() }}) as output_cost_usd,
    cast(case when cost_known then request_cost end as {{ usd_type() }}) as request_cost_usd,
    -- Summed before rounding, as genai-prices sums exact component prices.
    cast(
        case when cost_known then input_cost + cache_read_cost + cache_write_cost + output_cost + request_cost end
        as {{ usd_type() }}
    ) as cost_usd,
    cost_known
from costs
