"""A whole plain-text answer is translated without the events (`StreamTranslator.plain_answer`):
it must give exactly what the state machine gives (`translated.fed_whole`), and step aside for
every answer it does not cover. Checked on every recorded non-streaming OpenAI-style answer of
the corpus and on generated ones."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from proxy.translate.stream_translator import StreamTranslator, plain_message
from proxy.translate.tool_recovery import RecoveringTranslator, offered_tools
from proxy.translate.tool_text import ToolTextScanner, passes_at_start
from proxy.upstreams.translated import fed_whole
from tests.support.corpus import load_cases

JSON_CASES = [
    c
    for c in load_cases()
    if c.dialect == "openai" and not c.stream and not c.is_error and not c.is_sse
]


def _pair(make: Any) -> tuple[StreamTranslator, StreamTranslator]:
    fast, slow = make(), make()
    slow.message_id = fast.message_id
    return fast, slow


def _same(choice: dict[str, Any], usage: Any, make: Any = None) -> dict[str, Any]:
    """Both ways agree on the message and on the translator state read afterwards."""
    fast, slow = _pair(make or (lambda: StreamTranslator("claude-sonnet-4-5", 321)))
    fast_choice = orjson.loads(orjson.dumps(choice))
    message = fast_choice.get("message")
    got = (
        fast.plain_answer(message, fast_choice, usage) if isinstance(message, dict) else None
    ) or fed_whole(fast, fast_choice, usage)
    want = fed_whole(slow, orjson.loads(orjson.dumps(choice)), usage)
    for block in got["content"] + want["content"]:
        if block["type"] == "tool_use":
            block["id"] = "toolu_random"  # a call without an upstream id gets a fresh one
    assert got == want
    assert orjson.dumps(got) == orjson.dumps(want)  # the same key order too
    assert fast.text == slow.text
    assert fast.output_chars == slow.output_chars
    assert (fast.tool_signatures, fast.renamed) == (slow.tool_signatures, slow.renamed)
    assert fast.stop_reason() == slow.stop_reason()
    return got


@pytest.mark.parametrize("scanner", [False, True], ids=["plain", "tools-offered"])
@pytest.mark.parametrize("case", JSON_CASES, ids=[c.id for c in JSON_CASES])
def test_recorded_answers_agree(case: Any, scanner: bool) -> None:
    body = orjson.loads(case.body)
    _same(body["choices"][0], body.get("usage"), _recovering if scanner else None)


def test_recorded_corpus_has_plain_answers() -> None:
    """The fast path is exercised by real answers, not only generated ones."""
    plain = []
    for case in JSON_CASES:
        body = orjson.loads(case.body)
        translator = StreamTranslator("m", 1)
        choice = body["choices"][0]
        if translator.plain_answer(choice["message"], choice, body.get("usage")) is not None:
            plain.append(case.id)
    assert plain


def test_plain_text_is_taken_and_others_are_fed() -> None:
    usage = {"prompt_tokens": 10, "completion_tokens": 3}
    choice = {"message": {"role": "assistant", "content": "Hi there"}, "finish_reason": "stop"}
    assert StreamTranslator("m").plain_answer(choice["message"], choice, usage) is not None
    for message in (
        {"content": "<think>hm</think>Hi"},
        {"content": "   "},
        {"content": ""},
        {"content": None},
        {"content": [{"type": "text", "text": "Hi"}]},
        {"content": "Hi", "reasoning_content": "hm"},
        {"content": "Hi", "tool_calls": [{"id": "a", "function": {"name": "f"}}]},
    ):
        assert StreamTranslator("m").plain_answer(message, {"message": message}, usage) is None
        _same({"message": message, "finish_reason": "stop"}, usage)


TOOLS = [
    {"name": "Bash", "input_schema": {"type": "object", "properties": {}}},
    {"name": "Read", "input_schema": {"type": "object", "properties": {"path": {}}}},
]


def _recovering() -> RecoveringTranslator:
    return RecoveringTranslator("m", 1, offered_tools(TOOLS))


def test_a_tool_call_scanner_gets_text_that_could_hold_a_call() -> None:
    """With tools offered and recovery on, text that may hold a call in text form is fed; text
    that cannot (no markup, brace or backtick) is taken as it is."""
    message = {"content": "Just text."}
    assert _recovering().plain_answer(message, {"message": message}, None) is not None
    _same({"message": message, "finish_reason": "stop"}, None, _recovering)
    for content in (
        '{"name": "Bash", "arguments": {}}',
        'Running it.\n{"name": "Bash", "arguments": {}}',
        '<tool_call>\n{"name": "Bash", "arguments": {}}\n</tool_call>',
        "Sure [TOOL_CALLS]Bash{}",
        '```json\n{"name": "Read", "arguments": {"path": "a"}}\n```',
        "Done <",
        "Done [",
        "x <function=Bash></function>",
    ):
        message = {"content": content}
        assert _recovering().plain_answer(message, {"message": message}, None) is None, content
        _same({"message": message, "finish_reason": "stop"}, None, _recovering)


TEXT = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["<think>a</think>b", " <thi", "\n\nHi", "a<b", "<", "  x", "{}"]),
    st.sampled_from(
        [
            'a {"name": "Bash", "arguments": {}}',
            "x\n<tool_call>{}</tool_call>",
            "[TOOL_CALLS]Read",
            "Bash(`ls`)",
            "a [b] <c> d",
        ]
    ),
)
USAGE = st.one_of(
    st.none(),
    st.just({}),
    st.fixed_dictionaries(
        {},
        optional={
            "prompt_tokens": st.integers(0, 500),
            "completion_tokens": st.one_of(st.integers(0, 500), st.none()),
            "total_tokens": st.integers(0, 2000),
            "prompt_tokens_details": st.one_of(
                st.none(), st.fixed_dictionaries({"cached_tokens": st.integers(0, 50)})
            ),
            "completion_tokens_details": st.fixed_dictionaries(
                {"reasoning_tokens": st.integers(0, 50)}
            ),
            "num_cached_tokens": st.integers(0, 9),
        },
    ),
)
MESSAGE = st.fixed_dictionaries(
    {"content": st.one_of(st.none(), TEXT)},
    optional={
        "role": st.just("assistant"),
        "refusal": st.one_of(st.none(), st.just("no")),
        "annotations": st.just([]),
        "tool_calls": st.one_of(st.none(), st.just([])),
        "function_call": st.none(),
        "reasoning_content": st.one_of(st.none(), st.just(""), st.just("hm")),
        "thinking_blocks": st.one_of(st.none(), st.just([])),
    },
)
CHOICE = st.fixed_dictionaries(
    {"message": MESSAGE},
    optional={
        "finish_reason": st.sampled_from(
            [None, "", "stop", "length", "tool_calls", "content_filter", "weird", "end_turn"]
        ),
        "stop_reason": st.one_of(st.none(), st.just("\n\nHuman:")),
        "native_finish_reason": st.sampled_from(["STOP", "SAFETY", "MODEL_ARMOR"]),
        "provider_specific_fields": st.one_of(
            st.none(), st.fixed_dictionaries({"native_finish_reason": st.just("RECITATION")})
        ),
        "index": st.just(0),
        "logprobs": st.none(),
    },
)


@settings(max_examples=400, deadline=None)
@given(CHOICE, USAGE)
def test_generated_answers_agree(choice: dict[str, Any], usage: Any) -> None:
    _same(choice, usage)


@settings(max_examples=300, deadline=None)
@given(CHOICE, USAGE)
def test_generated_answers_agree_with_a_scanner(choice: dict[str, Any], usage: Any) -> None:
    _same(choice, usage, _recovering)


@settings(max_examples=400, deadline=None)
@given(TEXT)
def test_a_whole_answer_is_judged_as_a_new_scanner_judges_it(text: str) -> None:
    """`complete_message` builds no scanner: `passes_at_start` must be a new one's verdict."""
    assert passes_at_start(text) == ToolTextScanner(["Bash"]).passes_whole(text)


@settings(max_examples=300, deadline=None)
@given(CHOICE, USAGE, st.booleans())
def test_the_answer_without_a_translator_is_the_translators(
    choice: dict[str, Any], usage: Any, tools: bool
) -> None:
    """`plain_message` as `complete_message` calls it (the scanner's verdict worked out without
    one) gives what the translator's `plain_answer` gives, or steps aside the same."""
    translator = _recovering() if tools else StreamTranslator("m", 321)
    message = choice["message"]
    text = message.get("content")
    scanned = tools and isinstance(text, str) and not passes_at_start(text)
    estimate = translator.estimated_input_tokens
    light = plain_message("m", lambda: estimate, message, choice, usage, scanned, "msg_1")
    translator.message_id = "msg_1"
    assert light == translator.plain_answer(message, choice, usage)
