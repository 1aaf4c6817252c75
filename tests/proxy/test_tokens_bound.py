"""A body's size bounds its token estimate: routing skips the walk for bodies far below a window."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from proxy.core.settings import load_settings
from proxy.core.tokens import estimate_input_tokens, tokens_bound
from proxy.routing.model_map import ModelPair
from proxy.routing.route import route_request
from tests.support.claude_code_shapes import SHAPES

IMAGE = {"type": "image", "source": {}}
WORST: list[dict[str, Any]] = [
    {},
    {"messages": [{"role": "user", "content": "x"}]},
    # Media blocks in their shortest form: the most counted characters per byte.
    {"messages": [{"role": "user", "content": [IMAGE] * 40}]},
    {"messages": [{"role": "user", "content": [{"type": "document", "source": {}}] * 9}]},
    # orjson writes 1e15 as 1000000000000000.0: a re-serialised input outgrows what was sent.
    {
        "messages": [
            {"role": "assistant", "content": [{"type": "tool_use", "input": {"a": [1e15] * 60}}]}
        ]
    },
    {"system": "s", "tools": [{"name": "t", "input_schema": {"v": [1e15] * 30}}]},
]


@pytest.mark.parametrize("body", [*SHAPES.values(), *WORST])
def test_the_bound_is_never_below_the_estimate(body: dict[str, Any]) -> None:
    raw = orjson.dumps(body)
    assert tokens_bound(len(raw)) >= estimate_input_tokens(orjson.loads(raw))


def test_escaped_image_types_are_longer_than_the_shortest_form() -> None:
    raw = (
        b'{"messages":[{"role":"user","content":['
        + b",".join([b'{"type":"im\\u0061ge","source":{}}'] * 50)
        + b"]}]}"
    )
    assert tokens_bound(len(raw)) >= estimate_input_tokens(orjson.loads(raw))


def test_a_small_body_skips_the_estimate_a_large_one_does_not() -> None:
    settings = load_settings({"ANTHROPIC_API_KEY": "sk-test-aaaaaaaaaaaa"})
    pair = ModelPair(big="anthropic/claude-sonnet-4-5", small="anthropic/claude-sonnet-4-5")
    body = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 5,
        "messages": [{"role": "user", "content": "hi"}],
    }
    size = len(orjson.dumps(body))
    skipped = route_request(body, None, pair, None, None, settings, size)
    assert skipped.input_estimate is None
    walked = route_request(body, None, pair, None, None, settings, 10**7)
    assert walked.input_estimate == estimate_input_tokens(body)
    assert route_request(body, None, pair, None, None, settings).input_estimate is not None
