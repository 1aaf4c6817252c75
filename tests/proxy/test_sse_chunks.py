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
from tests.support.local_server import openai_proxy, serve_app

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


@pytest.fixture
async def served() -> AsyncIterator[tuple[ScriptedUpstream, ProxyServer]]:
    upstream = ScriptedUpstream()
    app = web.Application()
    app.router.add_post("/v1/chat/completions", upstream.completions)
    runner, port = await serve_app(app)
    proxy = await openai_proxy(port)
    try:
        yield upstream, proxy
    finally:
        await proxy.stop()
        await runner.cleanup()


async def events_of(proxy: ProxyServer) -> list[tuple[str, dict[str, object]]]:
    """(event, data) of a streamed request, read as raw SSE."""
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


@pytest.mark.parametrize("cut", [False, True], ids=["whole", "cut"])
async def test_the_word_error_in_the_answer_is_text(
    served: tuple[ScriptedUpstream, ProxyServer], cut: bool
) -> None:
    upstream, proxy = served
    upstream.cut = cut
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


@pytest.mark.parametrize("cut", [False, True], ids=["whole", "cut"])
async def test_an_error_event_ends_the_stream_after_the_text_before_it(
    served: tuple[ScriptedUpstream, ProxyServer], cut: bool
) -> None:
    upstream, proxy = served
    upstream.cut = cut
    error = {"error": {"message": "upstream overloaded", "type": "server_error", "code": 503}}
    upstream.frames = [frame(c) for c in (ROLE, text("partial"), error, text("never"))]
    events = await events_of(proxy)
    assert answer_text(events) == "partial"
    assert events[-1][0] == "error"
    assert "upstream overloaded" in str(events[-1][1])


@pytest.mark.parametrize("cut", [False, True], ids=["whole", "cut"])
async def test_lines_that_are_not_json_objects_are_skipped(
    served: tuple[ScriptedUpstream, ProxyServer], cut: bool
) -> None:
    upstream, proxy = served
    upstream.cut = cut
    upstream.frames = [frame(ROLE), frame(text("one")), b"data: {not json\n\n", b"data: 42\n\n"]
    upstream.frames += [frame(text(" two")), frame(STOP), DONE]
    events = await events_of(proxy)
    assert answer_text(events) == "one two"
    assert events[-1][0] == "message_stop"


@pytest.mark.parametrize("cut", [False, True], ids=["whole", "cut"])
async def test_a_finish_reason_without_done_completes_the_answer(
    served: tuple[ScriptedUpstream, ProxyServer], cut: bool
) -> None:
    upstream, proxy = served
    upstream.cut = cut
    upstream.frames = [frame(c) for c in (ROLE, text("done soon"), STOP)]
    events = await events_of(proxy)
    assert answer_text(events) == "done soon"
    assert [name for name, _ in events[-2:]] == ["message_delta", "message_stop"]


@pytest.mark.parametrize("cut", [False, True], ids=["whole", "cut"])
async def test_a_stream_without_finish_or_done_ends_in_an_error(
    served: tuple[ScriptedUpstream, ProxyServer], cut: bool
) -> None:
    upstream, proxy = served
    upstream.cut = cut
    upstream.frames = [frame(c) for c in (ROLE, text("cut off"))]
    events = await events_of(proxy)
    assert answer_text(events) == "cut off"
    assert events[-1][0] == "error"
    assert "ended before it finished" in str(events[-1][1])
