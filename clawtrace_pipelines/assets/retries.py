"""The retry policy of every tick step, and what keeps it from retrying a run being terminated.

A step that fails on a transient error (an object store timeout, a lock held by a crashed run) tries again twice,
backing off exponentially from 10 s; the steps' writes are idempotent, so a retry is safe.
"""

from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
from dagster._core.errors import DagsterExecutionInterruptedError

TICK_RETRY = dg.RetryPolicy(max_retries=2, delay=10, backoff=dg.Backoff.EXPONENTIAL)


@contextmanager
def unless_terminated(context: dg.AssetExecutionContext) -> Iterator[None]:
    """The step's work, failed for good (no retry) when its run is being terminated.

    Terminating a run sends its process SIGINT, and Dagster answers an interrupt in a step with a retry policy with
    a retry: the step started again and the run went on to succeed. An interrupt while the run is CANCELING fails
    the step without a retry instead, and a step that starts in a canceling run does no work; Dagster then marks
    the run CANCELED. Any other interrupt (the process stopped from outside) keeps Dagster's retry.
    """
    if _canceling(context):
        raise dg.Failure("The run is being terminated: this step does not start.", allow_retries=False)
    try:
        yield
    except (KeyboardInterrupt, DagsterExecutionInterruptedError) as interrupt:
        if not _canceling(context):
            raise
        raise dg.Failure("The run was terminated during this step.", allow_retries=False) from interrupt


def _canceling(context: dg.AssetExecutionContext) -> bool:
    run = context.instance.get_run_by_id(context.run_id)
    return run is not None and run.status == dg.DagsterRunStatus.CANCELING
