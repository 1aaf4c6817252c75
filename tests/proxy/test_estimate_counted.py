"""Validation counts the token estimate's characters on its walk; the estimate is the reference.

`validate_fast.valid_chars` checks a body and counts what `tokens.estimate_input_tokens` would
count, so routing and message_start need no second walk. Both must agree on every body the
shortcut accepts: Claude Code's shapes, the captured fixtures beside the repository, odd blocks,
and a few thousand seeded mutations.
"""

from __future__ import annotations

import copy
import json
import random
from typing import Any

import orjson
import pytest

from proxy.core.settings import load_settings
from proxy.core.tokens import estimate_input_tokens, text_chars, tokens_from_chars
from proxy.routing.model_map import ModelPair
from proxy.routing.route import route_request
from proxy.translate.validate import validate_messages
from proxy.translate.validate_fast import valid_chars
from tests.conftest import FIXTURES
from tests.proxy.test_validate_fast import ODD_VALUES, PLAIN, _paths, _replaced
from tests.support.claude_code_shapes import SHAPES
from tests.support.claude_code_shapes_v2 import SHAPES as SHAPES_V2

IMAGE = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AA"}}
ODD_BLOCKS: list[dict[str, Any]] = [
    {"type": "text", "text": "é漢字", "cache_control": {"type": "ephemeral"}},
    {"type": "text", "text": "x", "input": {"a": 1}, "content": ["y", {"text": "z"}]},
    {"type": "text", "text": "x", "citations": [{"cited_text": "not counted"}]},
    {"type": "thinking", "thinking": "hmm", "signature": "sig"},
    {"type": "thinking", "thinking": "hmm", "text": "also counted"},
    {"type": "redacted_thinking", "data": "opaque"},
    {"type": "redacted_thinking", "data": "opaque", "content": "counted"},
    {"type": "tool_use", "id": "t1", "name": "Bash", "input": {"n": 1e15, "s": "ü"}},
    {"type": "tool_use", "id": "t1", "name": "Bash", "input": {}, "text": "extra"},
    {"type": "tool_result", "tool_use_id": "t1", "content": "out", "is_error": True},
    {"type": "tool_result", "tool_use_id": "t1", "content": [{"type": "text", "text": "a"}, IMAGE]},
    {"type": "tool_result", "tool_use_id": "t1"},
    {"type": "tool_result", "tool_use_id": "t1", "content": None, "input": "x"},
    IMAGE,
    {"type": "document", "source": {"type": "text", "data": "doc"}, "title": "T"},
    {"type": "server_tool_use", "id": "s", "name": "web_search", "input": {"q": "x"}},
    {"type": "web_search_tool_result", "tool_use_id": "s", "content": [{"title": "t"}]},
    {"type": "mystery", "text": 5, "thinking": None, "content": {"deep": [1, 2]}},
]


def _reference_chars(body: dict[str, Any]) -> int:
    return text_chars(body.get("system")) + text_chars(body.get("messages"))


def _assert_agrees(body: dict[str, Any], flag: bool = True) -> bool:
    chars = valid_chars(body, messages_request=flag)
    if chars < 0:
        return False
    assert chars == _reference_chars(body)
    assert tokens_from_chars(chars, body.get("tools")) == estimate_input_tokens(body)
    return True


def _fixture_bodies() -> list[dict[str, Any]]:
    if not FIXTURES.is_dir():
        return []
    bodies = []
    for path in sorted(FIXTURES.glob("*.json")):
        data = json.loads(path.read_text())
        body = data.get("body", data) if isinstance(data, dict) else None
        if isinstance(body, dict) and "messages" in body:
            bodies.append(body)
    return bodies


def _odd_bodies() -> list[dict[str, Any]]:
    bodies = []
    for block in ODD_BLOCKS:
        for role in ("user", "assistant"):
            bodies.append({**PLAIN, "messages": [{"role": role, "content": [block, block]}]})
    bodies.append({**PLAIN, "messages": [{"role": "user", "content": "x", "text": "extra"}]})
    bodies.append({**PLAIN, "messages": [{"role": "user", "content": [], "type": "image"}]})
    bodies.append({**PLAIN, "system": [{"type": "text", "text": "s", "cache_control": {}}]})
    bodies.append({**PLAIN, "system": [{"text": "s", "content": "more"}]})
    bodies.append({**PLAIN, "system": [{"type": "image", "text": "s", "source": {}}]})
    bodies.append({**PLAIN, "system": None})
    return bodies


ALL = [*SHAPES.values(), *SHAPES_V2.values(), *_fixture_bodies(), *_odd_bodies()]


@pytest.mark.parametrize("body", ALL)
def test_the_counted_characters_are_the_estimates(body: dict[str, Any]) -> None:
    flag = "max_tokens" in body
    assert _assert_agrees(body, flag) or _assert_agrees(body, not flag)


def test_every_accepted_mutation_counts_as_the_estimate() -> None:
    rng = random.Random(7)
    accepted = 0
    for body in [PLAIN, *SHAPES.values(), *_odd_bodies()[::3]]:
        paths = [p for p in _paths(body) if p]
        shallow = [p for p in paths if len(p) <= 4]
        for path in shallow + rng.sample(paths, min(len(paths), 20)):
            for new in ODD_VALUES:
                mutated = _replaced(copy.deepcopy(body), path, new)
                accepted += _assert_agrees(mutated, True) + _assert_agrees(mutated, False)
    assert accepted > 1000


def test_validation_hands_routing_the_estimate() -> None:
    settings = load_settings({"ANTHROPIC_API_KEY": "sk-test-aaaaaaaaaaaa"})
    pair = ModelPair(big="anthropic/claude-sonnet-4-5", small="anthropic/claude-sonnet-4-5")
    body = SHAPES["main-turn-1"] if "main-turn-1" in SHAPES else next(iter(SHAPES.values()))
    chars = validate_messages(body)
    assert chars == _reference_chars(body)
    size = len(orjson.dumps(body))
    routed = route_request(body, None, pair, None, None, settings, size, chars)
    # The tools are not kept (TOOLS learns them from raw bytes): no serialising, no estimate.
    assert routed.input_estimate in (None, estimate_input_tokens(body))
    small = {**PLAIN, "tools": None}
    routed = route_request(small, None, pair, None, None, settings, 10, validate_messages(small))
    assert routed.input_estimate == estimate_input_tokens(small)


def test_an_invalid_body_counts_nothing() -> None:
    body = {**PLAIN, "max_tokens": "10"}
    assert valid_chars(body, messages_request=True) == -1
