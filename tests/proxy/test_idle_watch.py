"""The stream idle timeout (STREAM_IDLE_TIMEOUT) once an answer has started: `UpstreamClock`.

It is checked a few times a period rather than re-armed on every read, so a stream that keeps
trickling within the period must live on, however long it takes, and one that stops must end
with an error event soon after the period.
"""

from __future__ import annotations

import pytest

from tests.conftest import DIALECT_MODELS, ProxyFactory
from tests.support.fake_upstream import FakeUpstream, Reply
from tests.support.messages_support import raw_post
from tests.support.stream_validator import validate_anthropic_stream

REQUEST = {
    "model": "claude-sonnet-4-5",
    "max_tokens": 50,
    "stream": True,
    "messages": [{"role": "user", "content": "hi"}],
}


@pytest.mark.parametrize("dialect_", ["openai", "anthropic"])
async def test_a_trickling_stream_outlives_the_idle_period(
    make_proxy: ProxyFactory, upstream: FakeUpstream, dialect_: str
) -> None:
    big, small = DIALECT_MODELS[dialect_]
    proxy = await make_proxy(BIG_MODEL=big, SMALL_MODEL=small, STREAM_IDLE_TIMEOUT=0.6)
    # Eight pieces 0.25 s apart: two seconds in all, never 0.6 s without a byte.
    upstream.script.append(Reply(text="abcdefgh", chunk_size=1, delay_between_chunks=0.25))
    response = await raw_post(proxy, REQUEST)
    assert response.status_code == 200
    message = validate_anthropic_stream(response.content)
    assert message["type"] == "message", message
    assert "".join(b.get("text", "") for b in message["content"]) == "abcdefgh"


@pytest.mark.parametrize("dialect_", ["openai", "anthropic"])
async def test_a_stream_that_stops_ends_with_an_error_event(
    make_proxy: ProxyFactory, upstream: FakeUpstream, dialect_: str
) -> None:
    big, small = DIALECT_MODELS[dialect_]
    proxy = await make_proxy(BIG_MODEL=big, SMALL_MODEL=small, STREAM_IDLE_TIMEOUT=0.4)
    upstream.script.append(Reply(text="ab cd", chunk_size=2, delay_between_chunks=30))
    response = await raw_post(proxy, REQUEST)
    assert response.status_code == 200
    result = validate_anthropic_stream(response.content)
    assert result["type"] == "error"
    assert result["error"]["type"] in ("timeout_error", "api_error")
