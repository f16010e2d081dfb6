"""The order of a tick's steps. Its in-process executor runs the steps that are ready by their `dagster/priority`
tag, higher first (ties by step key, so `billing_models` came before `silver_models`). A run becomes readable
through the API once silver and the graph have run, so those two go first and the steps no reader waits on
(billing, the dead letters' check) after them: an arrival-triggered tick shows its run a billing step sooner."""

READ_PATH = {"dagster/priority": "10"}
"""Silver and the graph: what `GET /v1/traces/{id}` reads."""

AFTER_READ_PATH = {"dagster/priority": "-10"}
"""Billing and the dead letters: nobody's read waits on them."""
