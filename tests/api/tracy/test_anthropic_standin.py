"""The Messages API stand-in itself: what the SDK reads back from it when it does not stream, and what it
records and refuses (the loop's tests cover streaming)."""

from __future__ import annotations

import anthropic
import pytest

from tests.anthropic_standin import API_KEY, MODEL, StandIn, Text, ToolUse, Turn


def test_a_non_streaming_request_gets_the_scripted_message(standin: StandIn):
    standin.script(
        Turn(
            [Text("hi"), ToolUse("trace_card", {"trace_id": "t"}, id="toolu_1")],
            usage={"input_tokens": 5, "output_tokens": 2},
        )
    )
    client = anthropic.Anthropic(api_key=API_KEY, base_url=standin.url, max_retries=0)
    with client:
        message = client.messages.create(model=MODEL, max_tokens=64, messages=[{"role": "user", "content": "q"}])
    assert [block.type for block in message.content] == ["text", "tool_use"]
    assert message.content[1].input == {"trace_id": "t"} and message.content[1].id == "toolu_1"
    assert (message.stop_reason, message.usage.input_tokens, message.usage.output_tokens) == ("tool_use", 5, 2)
    (request,) = standin.requests
    assert request["body"]["messages"] == [{"role": "user", "content": "q"}]
    assert request["headers"]["authorization"] == f"Bearer {API_KEY}"


def test_a_wrong_key_is_refused_and_recorded_without_playing_a_turn(standin: StandIn):
    standin.script(Turn([Text("kept")]))
    with anthropic.Anthropic(api_key="sk-ant-other", base_url=standin.url, max_retries=0) as client:
        with pytest.raises(anthropic.AuthenticationError):
            client.messages.create(model=MODEL, max_tokens=64, messages=[{"role": "user", "content": "q"}])
    assert len(standin.requests) == 1 and len(standin.turns) == 1


def test_running_out_of_turns_is_a_server_error(standin: StandIn):
    with anthropic.Anthropic(api_key=API_KEY, base_url=standin.url, max_retries=0) as client:
        with pytest.raises(anthropic.InternalServerError, match="no scripted turn"):
            client.messages.create(model=MODEL, max_tokens=64, messages=[{"role": "user", "content": "q"}])
