"""The retry policy of every tick step: a step that fails on a transient error (an object store timeout, a
lock held by a crashed run) tries again twice,
backing off exponentially from 10 s; the steps' writes are idempotent, so a retry is safe."""

import dagster as dg

TICK_RETRY = dg.RetryPolicy(max_retries=2, delay=10, backoff=dg.Backoff.EXPONENTIAL)
