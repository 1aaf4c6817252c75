"""Behaviours that once could break without any test failing (issue 12): now each has one."""

from __future__ import annotations

from typing import Any

from proxy.translate.sse import collect_message, frames
from proxy.translate.stream_translator import StreamTranslator
from tests.conftest import ProxyFactory
from tests.support.fake_upstream import FakeUpstream, Reply
from tests.support.mgmt import ask, call, turn
from tests.support.stream_validator import validate_anthropic_stream


def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    """One OpenAI chat.completion.chunk with a single choice."""
    return {"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


def call_delta(index: int, call_id: str | None, name: str | None, args: str) -> dict[str, Any]:
    """A tool_calls delta as OpenAI streams it."""
    function: dict[str, Any] = {"arguments": args}
    if name:
        function["name"] = name
    call: dict[str, Any] = {"index": index, "function": function}
    if call_id:
        call["id"] = call_id
    return chunk({"tool_calls": [call]})


def translate(chunks: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], StreamTranslator]:
    """All events of one translated answer."""
    translator = StreamTranslator("openai/gpt-4.1", 10)
    events = translator.start()
    for c in chunks:
        events += translator.feed(c)
    return events + translator.finish(), translator


def test_tool_use_finish_without_tool_calls_is_end_turn() -> None:
    events, _ = translate([chunk({"content": "no tool after all"}), chunk({}, "tool_calls")])
    message = collect_message(events)
    assert message["stop_reason"] == "end_turn"
    assert [b["type"] for b in message["content"]] == ["text"]


async def test_tool_use_finish_without_tool_calls_through_the_proxy(
    make_proxy: ProxyFactory, upstream: FakeUpstream
) -> None:
    proxy = await make_proxy()
    upstream.script = [Reply(text="nothing to call", finish="tool_calls")] * 2
    streamed = await ask(proxy.url, turn("hi", stream=True))
    assert validate_anthropic_stream(streamed.text.encode())["stop_reason"] == "end_turn"
    whole = await ask(proxy.url, turn("hi"))
    assert whole.json["stop_reason"] == "end_turn"


def test_tool_arguments_arriving_after_their_block_closed_are_dropped_not_misplaced() -> None:
    events, translator = translate(
        [
            call_delta(0, "call_a", "Read", '{"file_path":'),
            call_delta(0, None, None, '"a.txt"}'),
            call_delta(1, "call_b", "Bash", '{"command":"ls"}'),
            # Late: more arguments for call 0, whose block is already closed.
            call_delta(0, None, None, ', "limit": 5}'),
            chunk({}, "tool_calls"),
        ]
    )
    message = collect_message(events)
    assert [(b["name"], b["input"]) for b in message["content"]] == [
        ("Read", {"file_path": "a.txt"}),
        ("Bash", {"command": "ls"}),
    ]
    assert message["stop_reason"] == "tool_use"
    assert translator.dropped == ["late arguments for tool call 0"]
    # The stream grammar stays valid: no delta for a closed block.
    validate_anthropic_stream(frames(events))


async def test_no_fallback_for_a_status_outside_the_list(
    make_proxy: ProxyFactory, upstream: FakeUpstream
) -> None:
    proxy = await make_proxy(MAX_RETRIES=0, FALLBACK_MODELS="gemini/gemini-2.5-flash")
    upstream.script = [Reply(status=400, error_message="your request is wrong")]
    answer = await call(proxy.url, "POST", "/v1/messages", turn("hi"))
    assert answer.status == 400
    assert "your request is wrong" in answer.error
    assert [r.dialect for r in upstream.requests] == ["openai"]  # the fallback was not tried


async def test_session_pin_beats_the_subagent_marker(
    make_proxy: ProxyFactory, upstream: FakeUpstream
) -> None:
    proxy = await make_proxy()
    pinned = await call(
        proxy.url, "POST", "/sessions/s-9/model", {"model": "gemini/gemini-2.5-pro"}
    )
    assert pinned.status == 200, pinned.text
    body = {
        **turn("explore"),
        "system": "<proxy-model>openai/gpt-4o</proxy-model>You are an explorer.",
    }
    await ask(proxy.url, body, session="s-9")
    sent = upstream.requests[-1]
    assert sent.model == "gemini-2.5-pro"
    assert b"proxy-model" not in sent.raw  # the marker is stripped even when the pin wins
