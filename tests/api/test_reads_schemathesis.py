"""schemathesis over the whole OpenAPI document against the live server, authenticated with a key of every
scope on a ticked lake: no answer is a 5xx, and every answer has a documented status, content type and schema."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from pydantic import SecretStr
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from clawtrace_api.accounts import Accounts
from clawtrace_api.db.engine import make_engine
from tests.anthropic_standin import API_KEY, Text, Turn, serve_standin
from tests.api.reads_lake import ReadsLake, build
from tests.api_server import serve_app

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    lake: ReadsLake = build(tmp_path_factory.mktemp("schemathesis"))
    engine = make_engine(lake.settings)
    accounts = Accounts(engine)
    accounts.create_tenant("a", tenant_id=lake.tenant_a)
    # Every scope, so the admin and ingest routes are exercised past their scope checks too.
    key = accounts.create_key(lake.tenant_a, "read,ingest,admin")["key"]
    # Tracy enabled against the Messages API stand-in, which answers every question with a line of text: its
    # routes are driven past the 503 a server without a model key gives.
    with serve_standin() as standin:
        standin.script(*[Turn([Text("An answer.")]) for _ in range(TRACY_TURNS)])
        settings = lake.settings.model_copy(
            update={"anthropic_api_key": SecretStr(API_KEY), "anthropic_base_url": standin.url}
        )
        with serve_app(settings) as api:
            yield {"url": api.url, "key": key}
        assert standin.requests, "no generated question reached Tracy's model"
    engine.dispose()


# More than the chat and evolve operations can ask for (examples per mode, hypothesis' retries included).
TRACY_TURNS = 2000
# Examples per operation and generation mode: about a minute for the whole document on two cores.
EXAMPLES = 25


def test_every_operation_answers_within_its_documented_schema(live: dict[str, Any]) -> None:
    # The schema is the one the live server serves; operations are driven one by one through hypothesis
    # (schemathesis' pytest plugin does not load under this pytest).
    schema = schemathesis.openapi.from_url(f"{live['url']}/openapi.json")
    headers = {"authorization": f"Bearer {live['key']}"}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 11
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @settings(
                max_examples=EXAMPLES,
                derandomize=True,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            @given(case=operation.as_strategy(generation_mode=mode))
            def call(case: Any) -> None:
                case.call_and_validate(base_url=live["url"], headers=headers, checks=CHECKS)

            try:
                call()
            except Unsatisfiable:
                # An operation with no parameters has no invalid input to send.
                assert mode is GenerationMode.NEGATIVE, operation.path
