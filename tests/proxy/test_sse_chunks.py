"""The OpenAI transport's chunk source, where its shortcut for whole reads meets what it must
still catch: an upstream error event, a line that is not JSON, a payload that is not an object,
the word "error" in the answer's own text, a server that skips `[DONE]`, one that stops early.

Each answer is written by a local upstream in one write (a read of whole lines, the shortcut's
case) and frame by frame (reads that end mid-line when cut), then read through the real proxy by
the official SDK or as raw SSE.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import anthropic
import orjson
import pytest
from aiohttp import web

from proxy.server.runner import ProxyServer
from tests.support.local_server import proxy_before

ROLE = {"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]}
STOP = {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
USAGE = {"choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 4}}
DONE = b"data: [DONE]\n\n"


def text(piece: str) -> dict[str, object]:
    return {"choices": [{"index": 0, "delta": {"content": piece}}]}


def frame(chunk: object) -> bytes:
    return b"data: " + orjson.dumps(chunk) + b"\n\n"


class ScriptedUpstream:
    """Answers /chat/completions with `frames`, in one write or `cut` into writes of 7 bytes."""

    def __init__(self) -> None:
        self.frames: list[bytes] = []
        self.cut = False

    async def completions(self, request: web.Request) -> web.StreamResponse:
        await request.read()
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        body = b"".join(self.frames)
        step = 7 if self.cut else len(body)
        for start in range(0, len(body), step):
            await response.write(body[start : start + step])
            if self.cut:
                await asyncio.sleep(0)
        await response.write_eof()
        return response


@pytest.fixture(params=[False, True], ids=["whole", "cut"])
async def served(
    request: pytest.FixtureRequest,
) -> AsyncIterator[tuple[ScriptedUpstream, ProxyServer]]:
    """The scripted upstream (writing whole, then cut) and a proxy before it."""
    upstream = ScriptedUpstream()
    upstream.cut = request.param
    async with proxy_before(upstream.completions) as proxy:
        yield upstream, proxy


async def streamed(
    served: tuple[ScriptedUpstream, ProxyServer], frames: list[bytes]
) -> list[tuple[str, dict[str, object]]]:
    """(event, data) of a streamed request the upstream answers with `frames`, read as raw SSE."""
    upstream, proxy = served
    upstream.frames = frames
    client = anthropic.AsyncAnthropic(base_url=proxy.url, api_key="sk-test", max_retries=0)
    async with client.messages.with_streaming_response.create(
        model="claude-sonnet-4-5",
        max_tokens=50,
        stream=True,
        messages=[{"role": "user", "content": "hi"}],
    ) as response:
        raw = await response.read()
    await client.close()
    out = []
    for block in raw.decode().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if "event" in lines:
            out.append((lines["event"], orjson.loads(lines["data"])))
    return out


def answer_text(events: list[tuple[str, dict[str, object]]]) -> str:
    return "".join(
        str(data["delta"]["text"])  # type: ignore[index]
        for name, data in events
        if name == "content_block_delta" and data["delta"]["type"] == "text_delta"  # type: ignore[index]
    )


async def test_the_word_error_in_the_answer_is_text(
    served: tuple[ScriptedUpstream, ProxyServer],
) -> None:
    upstream, proxy = served
    upstream.frames = [frame(c) for c in (ROLE, text('say "error"'), text(" twice"), STOP, USAGE)]
    upstream.frames.append(DONE)
    client = anthropic.AsyncAnthropic(base_url=proxy.url, api_key="sk-test", max_retries=0)
    async with client.messages.stream(
        model="claude-sonnet-4-5", max_tokens=50, messages=[{"role": "user", "content": "hi"}]
    ) as stream:
        message = await stream.get_final_message()
    await client.close()
    assert message.content[0].text == 'say "error" twice'  # type: ignore[union-attr]
    assert message.stop_reason == "end_turn"


async def test_an_error_event_ends_the_stream_after_the_text_before_it(
    served: tuple[ScriptedUpstream, ProxyServer],
) -> None:
    error = {"error": {"message": "upstream overloaded", "type": "server_error", "code": 503}}
    events = await streamed(
        served, [frame(c) for c in (ROLE, text("partial"), error, text("never"))]
    )
    assert answer_text(events) == "partial"
    assert events[-1][0] == "error"
    assert "upstream overloaded" in str(events[-1][1])


async def test_lines_that_are_not_json_objects_are_skipped(
    served: tuple[ScriptedUpstream, ProxyServer],
) -> None:
    bad = [b"data: {not json\n\n", b"data: 42\n\n"]
    good = [frame(c) for c in (text(" two"), STOP)]
    events = await streamed(served, [frame(ROLE), frame(text("one")), *bad, *good, DONE])
    assert answer_text(events) == "one two"
    assert events[-1][0] == "message_stop"


async def test_a_finish_reason_without_done_completes_the_answer(
    served: tuple[ScriptedUpstream, ProxyServer],
) -> None:
    events = await streamed(served, [frame(c) for c in (ROLE, text("done soon"), STOP)])
    assert answer_text(events) == "done soon"
    assert [name for name, _ in events[-2:]] == ["message_delta", "message_stop"]


async def test_a_stream_without_finish_or_done_ends_in_an_error(
    served: tuple[ScriptedUpstream, ProxyServer],
) -> None:
    events = await streamed(served, [frame(c) for c in (ROLE, text("cut off"))])
    assert answer_text(events) == "cut off"
    assert events[-1][0] == "error"
    assert "ended before it finished" in str(events[-1][1])
