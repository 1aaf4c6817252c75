"""The depth check the validation walk does agrees with serialising the whole body.

A Messages body is refused when orjson could not write it back (json_depth). Since the walk
checks only what it does not bound itself (tool inputs, cache_control, unknown fields...), it
must refuse exactly the bodies `orjson.dumps` refuses: checked here by hiding a nest just past,
and just within, the limit at every kind of place in Claude Code's shapes and odd blocks.
"""

from __future__ import annotations

import copy
import random
from typing import Any

import orjson
import pytest

from proxy.core.errors import ProxyError
from proxy.translate.json_depth import MAX_DEPTH, too_deep, wrapped
from proxy.translate.validate import validate_messages
from tests.proxy.test_estimate_counted import ALL
from tests.proxy.test_validate_fast import PLAIN, _paths


def _nest(levels: int) -> Any:
    value: Any = 1
    for level in range(levels):
        value = [value] if level % 3 else {"n": value}
    return value


def _depth(body: Any, path: tuple[Any, ...]) -> int:
    """Containers enclosing the value at `path` (the body counts)."""
    return len(path)


def _too_deep_to_write(body: Any) -> bool:
    try:
        orjson.dumps(body)
    except orjson.JSONEncodeError:
        return True
    return False


def _refused_as_deep(body: dict[str, Any]) -> bool:
    try:
        validate_messages(body, depth_checked=False)
    except ProxyError as exc:
        return "deeper than" in exc.message
    return False


def _planted(body: dict[str, Any], path: tuple[Any, ...], extra: int) -> dict[str, Any]:
    """`body` with a new key beside the value at `path`, nesting `extra` levels past the limit."""
    planted = copy.deepcopy(body)
    parent: Any = planted
    for step in path[:-1]:
        parent = parent[step]
    enclosing = len(path)  # the parent and everything around it
    nest = _nest(MAX_DEPTH - enclosing + extra)
    if isinstance(parent, dict):
        parent["zz_planted"] = nest
    else:
        parent.append(nest)
    return planted


def test_too_deep_is_exactly_what_orjson_refuses() -> None:
    for enclosing in (0, 1, 5, 7):
        for levels in range(MAX_DEPTH - enclosing - 3, MAX_DEPTH - enclosing + 3):
            value = _nest(levels)
            assert too_deep(value, enclosing) == _too_deep_to_write(wrapped(value, enclosing))
    assert not too_deep({"type": "ephemeral"}, 5)
    assert too_deep({"type": "ephemeral"}, MAX_DEPTH)


def test_a_nest_anywhere_is_refused_exactly_when_the_body_cannot_be_written() -> None:
    rng = random.Random(11)
    bodies = [b for b in ALL if isinstance(b, dict)]
    checked = refused = 0
    for body in bodies[:: max(1, len(bodies) // 40)]:
        body = {k: v for k, v in body.items() if k != "tools"}  # tools: checked when parsed
        paths = [p for p in _paths(body) if p]
        for path in rng.sample(paths, min(len(paths), 12)):
            for extra in (-1, 0, 1):
                planted = _planted(body, path, extra)
                expected = _too_deep_to_write(planted)
                assert _refused_as_deep(planted) == expected, (path, extra)
                checked += 1
                refused += expected
    assert checked > 300
    assert 0 < refused < checked


@pytest.mark.parametrize(
    "place",
    ["tool_input", "cache_control", "citations", "result_item", "message", "system", "top"],
)
def test_each_place_the_walk_bounds_by_serialising(place: str) -> None:
    body: dict[str, Any] = copy.deepcopy(PLAIN)
    block: dict[str, Any] = {"type": "text", "text": "é"}
    if place == "tool_input":
        block = {"type": "tool_use", "id": "t", "name": "Bash", "input": {"a": _nest(250)}}
        body["messages"] = [{"role": "assistant", "content": [block]}]
    elif place in ("cache_control", "citations"):
        block[place] = _nest(250)
        body["messages"] = [{"role": "user", "content": [block]}]
    elif place == "result_item":
        item = {"type": "text", "text": "x", "cache_control": _nest(248)}
        result = {"type": "tool_result", "tool_use_id": "t", "content": [item]}
        body["messages"] = [{"role": "user", "content": [result]}]
    elif place == "message":
        body["messages"] = [{"role": "user", "content": "hi", "extra": _nest(252)}]
    elif place == "system":
        body["system"] = [{"type": "text", "text": "s", "cache_control": _nest(252)}]
    else:
        body["metadata"] = {"user_id": _nest(254)}
    assert _too_deep_to_write(body)
    with pytest.raises(ProxyError) as refused:
        validate_messages(body, depth_checked=False)
    assert refused.value.status == 400
    assert "deeper than" in refused.value.message
