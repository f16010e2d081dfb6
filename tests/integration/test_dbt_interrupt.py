"""SIGINT during a dbt build (what terminating a run sends): dbt cancels and stops its node threads, and
`invoke_dbt` raises the interrupt itself, not a DbtRunError that the tick's retry policy would retry. Under a
Dagster run's own handler too, which is back in place afterwards."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path
from typing import Any

import pytest
from dagster._core.errors import raise_execution_interrupts
from dagster._utils.interrupts import capture_interrupts

from clawtrace_pipelines.lib.dbt_runner import invoke_dbt
from tests.integration.test_dbt_project import _empty_work_database

BUILD = ["build", "--exclude-resource-type", "unit_test"]


class InterruptOnFirstNode:
    """A dbt callback: SIGINT to this process when the first node starts; counts the nodes that finish."""

    def __init__(self) -> None:
        self.started = 0
        self.finished = 0

    def __call__(self, event: Any) -> None:
        if event.info.name == "NodeStart":
            self.started += 1
            if self.started == 1:
                os.kill(os.getpid(), signal.SIGINT)  # handled in the main thread, which waits on dbt's queue
        elif event.info.name == "NodeFinished":
            self.finished += 1


def _interrupted_build(tmp_path: Path) -> InterruptOnFirstNode:
    database = tmp_path / "work.duckdb"
    _empty_work_database(database)
    callback = InterruptOnFirstNode()
    threads_before = set(threading.enumerate())
    with pytest.raises(KeyboardInterrupt):
        invoke_dbt(BUILD, database=database, target_path=tmp_path / "target", callbacks=[callback])
    # dbt's Ctrl-C path joined its pool: no node thread goes on after the interrupt.
    assert set(threading.enumerate()) - threads_before == set()
    return callback


def test_sigint_stops_the_build_and_is_raised_as_an_interrupt(tmp_path: Path) -> None:
    callback = _interrupted_build(tmp_path)
    assert 1 <= callback.finished < 50, "the build stopped early (it has over a hundred nodes)"


def test_under_a_dagster_runs_handler_too_which_is_restored(tmp_path: Path) -> None:
    # As a run's step executes: Dagster's handler raises DagsterExecutionInterruptedError, which dbt does not catch.
    with capture_interrupts(), raise_execution_interrupts():
        dagster_handler = signal.getsignal(signal.SIGINT)
        assert dagster_handler is not signal.default_int_handler
        callback = _interrupted_build(tmp_path)
        assert signal.getsignal(signal.SIGINT) is dagster_handler
    assert 1 <= callback.finished < 50
