"""`StreamTranslator.feed_batch` gives what `coalesce` of `feed` per chunk gives, event for event.

The streamed path gathers plain text deltas into one event per run as they come (instead of one
event per chunk merged afterwards); every recorded OpenAI-dialect stream in tests/corpus and a
few mixed sequences (think tags, tool markup in text, native tool calls, reasoning, several
choices, finish reasons) are fed both ways, sliced as the transport slices them.
"""

from __future__ import annotations

import re
from typing import Any

import orjson
import pytest

from proxy.translate.sse import LineSplitter, coalesce
from proxy.translate.stream_translator import StreamTranslator
from proxy.translate.tool_recovery import RecoveringTranslator, offered_tools
from tests.support.corpus import load_cases

TOOLS = [
    {"name": "Bash", "input_schema": {"type": "object", "properties": {"command": {}}}},
    {"name": "Read", "input_schema": {"type": "object", "properties": {"file_path": {}}}},
]
FRESH_ID = re.compile(r"(toolu_|msg_)[0-9a-f]{24}")


def _text(content: Any, finish: str | None = None, **delta: Any) -> dict[str, Any]:
    return {
        "choices": [{"index": 0, "delta": {"content": content, **delta}, "finish_reason": finish}]
    }


def _call(index: int, name: str | None, args: str, call_id: str | None = None) -> dict[str, Any]:
    function: dict[str, Any] = {"arguments": args}
    if name is not None:
        function["name"] = name
    call = {"index": index, "function": function, **({"id": call_id} if call_id else {})}
    return {"choices": [{"index": 0, "delta": {"tool_calls": [call]}, "finish_reason": None}]}


WORDS = [_text(w) for w in ("Hello", " there", ",", " how", " are", " you", "?")]
MIXED: dict[str, list[dict[str, Any]]] = {
    "words": [{"choices": [{"delta": {"role": "assistant", "content": ""}}]}, *WORDS],
    "think-tags": [_text("<think>"), _text("hmm"), _text(" ok</think>"), *WORDS],
    "reasoning-then-text": [
        {"choices": [{"delta": {"reasoning_content": "plan"}}]},
        {"choices": [{"delta": {"reasoning_content": " more"}}]},
        *WORDS,
    ],
    "text-markup": [
        *WORDS,
        _text("\n<tool_call>"),
        _text('{"name": "Bash", "arguments": '),
        _text('{"command": "ls"}}'),
        _text("</tool_call>"),
        *WORDS,
    ],
    "native-calls": [
        *WORDS,
        _call(0, "Bash", '{"comm', "call_1"),
        _call(0, None, 'and": "ls"}'),
        _text(" after"),
        _text(" call"),
    ],
    "newlines": [_text("a\n"), _text("b"), _text("[x]"), _text("c"), _text("d")],
    "two-choices": [
        {
            "choices": [
                {"index": 0, "delta": {"content": "x"}},
                {"index": 1, "delta": {"content": "y"}},
            ]
        },
        *WORDS,
    ],
    "finish-mid-run": [
        *WORDS[:3],
        _text(" end", "stop"),
        *WORDS[3:],
        {"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 4}},
    ],
    "refusal-key": [_text("I", refusal=None), _text(" cannot", refusal=None)],
    "null-content": [_text(None), *WORDS, _text(None, "length")],
    # Shapes the per-chunk path tolerates and the gathered path must hand over to it.
    "odd-shapes": [
        *WORDS[:2],
        {"choices": None},
        {"choices": [{"delta": None}]},
        {"choices": [{"message": {"content": " whole"}}]},
        *WORDS[2:4],
        {"choices": [{"delta": {"content": " counted"}}], "usage": {"prompt_tokens": 3}},
        {"choices": [{"delta": {"content": ["a", "list"]}}]},
        *WORDS[4:],
    ],
}


def _corpus_streams() -> dict[str, list[dict[str, Any]]]:
    streams = {}
    for case in load_cases("openai"):
        if not case.is_sse:
            continue
        splitter = LineSplitter()
        chunks = []
        for payload in [*splitter.feed(case.body.encode()), *splitter.flush()]:
            if payload == b"[DONE]":
                continue
            try:
                chunk = orjson.loads(payload)
            except orjson.JSONDecodeError:
                continue
            if isinstance(chunk, dict) and "error" not in chunk:
                chunks.append(chunk)
        streams[case.id] = chunks
    return streams


STREAMS = {**MIXED, **_corpus_streams()}


def _normalised(events: list[dict[str, Any]]) -> bytes:
    # Fresh ids are random per translator; everything else must match byte for byte.
    def scrub(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: scrub(v) for k, v in value.items()}
        if isinstance(value, list):
            return [scrub(v) for v in value]
        if isinstance(value, str):
            return FRESH_ID.sub("<id>", value)  # signatures hold the message id too
        return value

    return orjson.dumps(scrub(events))


def _translator(recovering: bool) -> StreamTranslator:
    if recovering:
        return RecoveringTranslator("claude-sonnet-4-5", 12, offered_tools(TOOLS))
    return StreamTranslator("claude-sonnet-4-5", 12)


@pytest.mark.parametrize("recovering", [False, True])
@pytest.mark.parametrize("size", [1, 3, 32])
@pytest.mark.parametrize("name", sorted(STREAMS))
def test_feed_batch_is_coalesced_feed(name: str, size: int, recovering: bool) -> None:
    chunks = STREAMS[name]
    one, other = _translator(recovering), _translator(recovering)
    one_events, other_events = [], []
    for low in range(0, len(chunks), size):
        slice_ = chunks[low : low + size]
        one_events.append(coalesce([e for chunk in slice_ for e in one.feed(chunk)]))
        other_events.append(other.feed_batch(slice_))
    one_events.append(one.finish())
    other_events.append(other.finish())
    assert _normalised(other_events) == _normalised(one_events)
    assert one.text == other.text and one.output_chars == other.output_chars
    assert _normalised(one.tools) == _normalised(other.tools)


def test_words_are_gathered_into_one_event() -> None:
    translator = StreamTranslator("claude-sonnet-4-5")
    events = translator.feed_batch(MIXED["words"])
    deltas = [e for e in events if e["type"] == "content_block_delta"]
    assert deltas == [
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "text_delta", "text": "Hello there, how are you?"},
        }
    ]
