"""The hand-written validator only ever says yes where pydantic's models say yes.

`looks_valid` is a shortcut in front of the pydantic models (`proxy/translate/validate.py`): a
body it accepts skips them, so it must never accept one they refuse (the client would then get
no error, or a different one). Checked on Claude Code's shapes and on a few thousand seeded
mutations of them (every field swapped for values of every JSON type).
"""

from __future__ import annotations

import copy
import random
from collections.abc import Iterator
from typing import Any

import pytest

from proxy.core.errors import ProxyError
from proxy.translate.validate import (
    CountTokensRequest,
    MessagesRequest,
    validate_count_tokens,
    validate_messages,
)
from proxy.translate.validate_fast import looks_valid
from tests.support.claude_code_shapes import SHAPES

ODD_VALUES: list[Any] = [
    None,
    0,
    -1,
    1,
    1.5,
    2.5,
    -0.5,
    True,
    False,
    "",
    "x",
    "user",
    "auto",
    [],
    [1],
    ["x"],
    [{"type": "text", "text": "x"}],
    {},
    {"type": "text"},
    {"text": "x"},
    {"type": 1, "text": "x"},
]
PLAIN: dict[str, Any] = {
    "model": "claude-sonnet-4-5",
    "max_tokens": 100,
    "messages": [{"role": "user", "content": "hi"}],
    "system": "be brief",
    "temperature": 0.5,
    "top_p": 1,
    "top_k": 5,
    "stop_sequences": ["END"],
    "tool_choice": {"type": "tool", "name": "Bash", "disable_parallel_tool_use": True},
    "stream": False,
}


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for i, item in enumerate(value[:3]):
            yield from _paths(item, (*prefix, i))


def _replaced(body: dict[str, Any], path: tuple[Any, ...], new: Any) -> dict[str, Any]:
    out = copy.deepcopy(body)
    node = out
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = new
    return out


def _pydantic_accepts(cls: type[CountTokensRequest], body: Any) -> bool:
    try:
        cls.model_validate(body)
    except Exception:
        return False
    return True


def _bodies() -> list[dict[str, Any]]:
    shapes = [b for name, b in SHAPES.items() if "count-tokens" not in name]
    return [PLAIN, *shapes]


@pytest.mark.parametrize("body", _bodies(), ids=lambda b: str(b.get("model")))
def test_claude_code_shapes_take_the_shortcut(body: dict[str, Any]) -> None:
    assert looks_valid(body, messages_request=True)
    assert _pydantic_accepts(MessagesRequest, body)
    validate_messages(body)


def test_count_tokens_shapes_take_the_shortcut() -> None:
    for name in ("count-tokens-minimal", "count-tokens-tools"):
        body = SHAPES[name]
        assert looks_valid(body, messages_request=False)
        assert not looks_valid(body, messages_request=True)  # no max_tokens
        validate_count_tokens(body)


def test_every_mutation_the_shortcut_accepts_pydantic_accepts() -> None:
    rng = random.Random(12)
    checked = accepted = refused = 0
    for body in _bodies():
        # Sample the deep paths (tool schemas have hundreds); every top-level one is tried.
        paths = [p for p in _paths(body) if p]
        shallow = [p for p in paths if len(p) <= 3]
        deep = [p for p in paths if len(p) > 3]
        for path in shallow + rng.sample(deep, min(len(deep), 40)):
            for new in ODD_VALUES:
                mutated = _replaced(body, path, new)
                for cls, flag in ((MessagesRequest, True), (CountTokensRequest, False)):
                    checked += 1
                    if looks_valid(mutated, messages_request=flag):
                        accepted += 1
                        assert _pydantic_accepts(cls, mutated), (path, new, cls.__name__)
                    elif not _pydantic_accepts(cls, mutated):
                        refused += 1
    # The shortcut is exercised both ways: it accepts most harmless mutations, and the
    # refusals still reach pydantic for their wording.
    assert checked > 5000 and accepted > 1000 and refused > 1000


def test_errors_are_still_worded_by_pydantic() -> None:
    body = _replaced(PLAIN, ("messages", 0, "role"), "robot")
    with pytest.raises(ProxyError) as caught:
        validate_messages(body)
    assert caught.value.message.startswith("messages.0.role: Input should be")
    body = _replaced(PLAIN, ("max_tokens",), 0)
    with pytest.raises(ProxyError) as caught:
        validate_messages(body)
    assert caught.value.message == "max_tokens: Input should be greater than or equal to 1"
