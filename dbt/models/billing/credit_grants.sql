-- The grants this run adds to the ledger: each grant id once, none already recorded (merged insert-if-absent).
with

requests as (
    select tenant_id, grant_id, amount, reason, granted_at, expires_at, source_path
    from {{ source('billing', 'grant_requests') }}
    qualify row_number() over (partition by tenant_id, grant_id order by source_path) = 1
),

new_grants as (
    select r.*
    from requests as r
    anti join {{ prior_state('credit_grants') }} as p
        on r.tenant_id = p.tenant_id and r.grant_id = p.grant_id
)

select
    tenant_id,
    grant_id,
    cast(amount as decimal(38, 18)) as amount,
    reason,
    granted_at,
    expires_at,
    source_path
from new_grants
