"""Tracy's questions and its model's tokens are metered to the tenant that asked (a failed answer's question is
not; its tokens would be), into the raw zone the billing step reads."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import orjson
import pytest

from clawtrace_pipelines.core.metering import Category
from tests.anthropic_standin import Text, Turn
from tests.api.tracy.chat_world import ask, chat_world
from tests.api.tracy.conftest import TracyLake

USAGE = {"input_tokens": 300, "output_tokens": 30, "cache_read_input_tokens": 100, "cache_creation_input_tokens": 10}


def _metered(lake_root: str, tenant: str) -> Counter[str]:
    totals: Counter[str] = Counter()
    for path in Path(lake_root, "raw", "metering").rglob("*"):
        if path.is_file() and f"tenant={tenant}" in str(path):
            for line in path.read_bytes().splitlines():
                record = orjson.loads(line)
                totals[record["category"]] += int(record["quantity"])
    return totals


def test_questions_and_tokens_are_metered_to_the_tenant_that_asked(
    tracy_lake: TracyLake, tmp_path_factory: pytest.TempPathFactory
):
    lake_root = tracy_lake.lake.settings.lake_root
    # The lake is shared by this worker's Tracy tests, but no other API serves it now (each module stops its
    # own): what this server meters is the difference.
    before = _metered(lake_root, tracy_lake.tenant)
    with chat_world(tracy_lake, tmp_path_factory.mktemp("metered")) as world:
        world.standin.script(Turn([Text("One.")], usage=USAGE))
        with world.client(world.read_a) as client:
            ask(client, question="one")
            world.standin.script(Turn.fail(401, "bad key"))
            ask(client, question="two")  # fails: its tokens (none) are metered, the question is not
    # Stopping the server flushed its meter.
    totals = _metered(lake_root, tracy_lake.tenant) - before
    assert totals[Category.TRACY_QUESTION] == 1
    assert totals[Category.TRACY_INPUT_TOKENS] == 300
    assert totals[Category.TRACY_OUTPUT_TOKENS] == 30
    assert totals[Category.TRACY_CACHE_READ_TOKENS] == 100
    assert totals[Category.TRACY_CACHE_WRITE_TOKENS] == 10
