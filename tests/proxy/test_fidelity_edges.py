"""Issue 13 edges: the answer's model, validation like the Anthropic API, error messages fit for a
client, mid-stream failures named as such, refusals without an empty text block."""

from __future__ import annotations

from typing import Any

import pytest

from proxy.server.runner import ProxyServer
from proxy.translate.model_echo import rewrite_message_start
from proxy.translate.sse import frames
from proxy.translate.stream_translator import StreamTranslator
from tests.conftest import DIALECT_MODELS, ProxyFactory
from tests.support.fake_upstream import FakeUpstream, Reply
from tests.support.messages_support import SDK, error_of, raw_post
from tests.support.stream_validator import validate_anthropic_stream

REQUEST: dict[str, Any] = {
    "model": "claude-sonnet-5-5",
    "max_tokens": 1000,
    "messages": [{"role": "user", "content": "hello"}],
}


@pytest.fixture(params=[False, True], ids=["whole", "stream"])
def stream(request: pytest.FixtureRequest) -> bool:
    """Non-streaming and streaming in turn."""
    return bool(request.param)


# ------------------------------------------------------------------- the answer's model


async def test_answer_names_the_requested_model(
    proxy: ProxyServer, upstream: FakeUpstream, dialect: str, stream: bool
) -> None:
    """Claude Code 2.1.197 keeps a turn's thinking only when the answer names the model it asked
    for; the routed model stays in x-claude-proxy-model."""
    upstream.script.append(Reply(text="hi", reasoning="Say hi."))
    response = await raw_post(proxy, {**REQUEST, "stream": stream})
    assert response.status_code == 200, response.text
    message = validate_anthropic_stream(response.content) if stream else response.json()
    assert message["model"] == "claude-sonnet-5-5"
    assert response.headers["x-claude-proxy-model"] == DIALECT_MODELS[dialect][0]


def test_message_start_rewrite_waits_for_the_whole_first_frame() -> None:
    translator = StreamTranslator("claude-upstream-test")
    raw = frames(translator.start())
    for cut in (1, 20, raw.index(b"\n\n")):
        assert rewrite_message_start(raw[:cut], "claude-sonnet-5-5") is None
    rewritten = rewrite_message_start(raw, "claude-sonnet-5-5")
    assert rewritten is not None
    message = validate_anthropic_stream(rewritten + frames(translator.finish()))
    assert message["model"] == "claude-sonnet-5-5"
    assert rewritten.endswith(raw[raw.index(b"\n\n") + 2 :])  # the ping is untouched


def test_message_start_rewrite_leaves_other_first_frames_alone() -> None:
    error = b'event: error\ndata: {"type":"error","error":{"type":"x","message":"y"}}\n\n'
    assert rewrite_message_start(error, "m") == error
    crlf = b'event: message_start\r\ndata: {"type":"message_start","message":{"model":"a"}}\r\n\r\n'
    assert rewrite_message_start(crlf, "b") == crlf.replace(b'"a"', b'"b"')


# ------------------------------------------------------------------- validation

BAD_FIELDS = [
    ({"max_tokens": True}, "max_tokens"),
    ({"max_tokens": "10"}, "max_tokens"),
    ({"max_tokens": 5.0}, "max_tokens"),
    ({"temperature": "0.5"}, "temperature"),
    ({"top_p": True}, "top_p"),
    ({"top_k": 2.5}, "top_k"),
    ({"stop_sequences": ["a", 3]}, "stop_sequences.1"),
    ({"system": 7}, "system"),
    ({"thinking": {"type": "enabled", "budget_tokens": "1024"}}, "thinking.budget_tokens"),
    ({"output_config": {"effort": 3}}, "output_config.effort"),
    ({"messages": [{"role": "user", "content": [{"type": "text", "text": 5}]}]}, "messages.0"),
    (
        {"messages": [{"role": "assistant", "content": [{"type": "tool_use", "id": "t"}]}]},
        "messages.0.content.0",
    ),
]


@pytest.mark.parametrize(("patch", "field"), BAD_FIELDS, ids=[f for _, f in BAD_FIELDS])
async def test_wrong_types_are_a_400_naming_the_field(
    make_proxy: ProxyFactory, upstream: FakeUpstream, patch: dict[str, Any], field: str
) -> None:
    proxy = await make_proxy()
    response = await raw_post(proxy, {**REQUEST, **patch})
    assert response.status_code == 400, response.text
    error = error_of(response)
    assert error["type"] == "invalid_request_error"
    assert error["message"].startswith(field), error["message"]
    assert not upstream.requests, "a request with a wrong type must not be forwarded"


async def test_new_fields_and_block_types_still_pass(
    make_proxy: ProxyFactory, upstream: FakeUpstream
) -> None:
    proxy = await make_proxy()
    body = {
        **REQUEST,
        "temperature": 1,
        "thinking": {"type": "adaptive", "display": "omitted"},
        "output_config": {"effort": "medium"},
        "a_field_from_next_year": {"x": 1},
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "hi"}, {"type": "hologram"}]}
        ],
    }
    response = await raw_post(proxy, body)
    assert response.status_code == 200, response.text


# ------------------------------------------------------------------- error messages

TRACEBACK = (
    "quota exceeded\nTraceback (most recent call last):\n"
    '  File "/srv/proxy/.venv/lib/python3.11/site-packages/litellm/main.py", line 12, in x\n'
    "    raise ValueError(boom)\nValueError: boom"
)


async def test_error_messages_carry_no_traceback_or_server_path(
    proxy: ProxyServer, upstream: FakeUpstream, stream: bool
) -> None:
    upstream.script.append(Reply(status=400, error_message=TRACEBACK))
    response = await raw_post(proxy, {**REQUEST, "stream": stream})
    assert response.status_code == 400, response.text
    message = error_of(response)["message"]
    assert "quota exceeded" in message
    assert "Traceback" not in message and "/srv/proxy" not in message and ".py" not in message


async def test_mid_stream_error_is_not_cannot_reach(
    make_proxy: ProxyFactory, upstream: FakeUpstream, engine: str
) -> None:
    """An upstream that answered and then failed was reached: the error says what happened."""
    proxy = await make_proxy(UPSTREAM_ENGINE=engine, MAX_RETRIES=0)
    upstream.script.append(
        Reply(text="half an answer", fault="sse_error", error_message="it broke", chunk_size=3)
    )
    response = await raw_post(proxy, {**REQUEST, "stream": True})
    result = validate_anthropic_stream(response.content)
    assert result["type"] == "error"
    assert "it broke" in result["error"]["message"]
    assert "cannot reach" not in result["error"]["message"]


# ------------------------------------------------------------------- refusals


async def test_refusal_has_no_empty_text_block(
    proxy: ProxyServer, upstream: FakeUpstream, stream: bool
) -> None:
    upstream.script.append(Reply(text="", finish="content_filter"))
    async with SDK(proxy) as sdk:
        message = await sdk.ask(REQUEST, stream)
    assert message["stop_reason"] == "refusal"
    assert not [b for b in message["content"] if b["type"] == "text" and not b["text"]]
