"""Claude Code 2.1.332 sends a deferred tool (its placeholder) with every request: the tools a
model may see are then a list made from the kept one. That list is made once per set of loaded
deferred tools and kept with the kept list, so its OpenAI translation and JSON are made once too
(they were made for every request: ~30 KB of tool schemas each time)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from proxy.core.tools_cache import TOOLS
from proxy.translate.deferred import visible_tools
from proxy.translate.to_openai import convert_kept_tools, convert_tools
from proxy.upstreams.http import encode_body

SCHEMA = {"type": "object", "properties": {"path": {"type": "string", "description": "x" * 300}}}
TOOLS_SENT = [
    {"name": "Read", "description": "read a file", "input_schema": SCHEMA},
    {"name": "Edit", "description": "edit a file", "input_schema": SCHEMA},
    {
        "name": "Placeholder",
        "description": "never call",
        "input_schema": SCHEMA,
        "defer_loading": True,
    },
    {"name": "WebFetch", "description": "fetch", "input_schema": SCHEMA, "defer_loading": True},
]


def _reference(name: str) -> dict[str, Any]:
    return {
        "role": "user",
        "content": [
            {
                "type": "tool_result",
                "tool_use_id": "t1",
                "content": [{"type": "tool_reference", "tool_name": name}],
            }
        ],
    }


@pytest.fixture
def kept() -> Iterator[list[dict[str, Any]]]:
    """The tools as a body parsed with the kept list would hold them."""
    raw = orjson.dumps({"model": "m", "tools": TOOLS_SENT, "messages": []})
    TOOLS.learn(raw, orjson.loads(raw)["tools"], orjson.dumps(TOOLS_SENT))
    body = TOOLS.parse(raw)
    assert body is not None
    yield body["tools"]
    TOOLS.clear()


def _body(tools: list[dict[str, Any]], *loaded: str) -> dict[str, Any]:
    messages = [{"role": "user", "content": "hi"}, *(_reference(name) for name in loaded)]
    return {"model": "m", "tools": tools, "messages": messages}


def test_the_same_loaded_tools_give_the_same_list(kept: list[dict[str, Any]]) -> None:
    notes: list[str] = []
    first = visible_tools(_body(kept), notes)
    again: list[str] = []
    assert visible_tools(_body(kept), again) is first
    assert [t["name"] for t in first] == ["Read", "Edit"]
    # The notes are the request's own, every time.
    assert (
        notes
        == again
        == [
            "deferred tool 'Placeholder' not loaded yet: not offered",
            "deferred tool 'WebFetch' not loaded yet: not offered",
        ]
    )


def test_a_newly_loaded_tool_gives_a_new_list(kept: list[dict[str, Any]]) -> None:
    before = visible_tools(_body(kept), [])
    notes: list[str] = []
    after = visible_tools(_body(kept, "WebFetch"), notes)
    assert after is not before
    assert [t["name"] for t in after] == ["Read", "Edit", "WebFetch"]
    assert "defer_loading" not in after[-1]
    assert notes == ["deferred tool 'Placeholder' not loaded yet: not offered"]
    assert visible_tools(_body(kept, "WebFetch"), []) is after


def test_translation_and_json_are_made_once(kept: list[dict[str, Any]]) -> None:
    visible = visible_tools(_body(kept, "WebFetch"), [])
    converted = convert_kept_tools(visible, [])
    assert convert_kept_tools(visible_tools(_body(kept, "WebFetch"), []), []) is converted
    assert converted == convert_tools(visible, [])
    sent = encode_body({"model": "m", "tools": converted})
    assert TOOLS.json_of(converted) is not None
    assert orjson.loads(sent)["tools"] == orjson.loads(orjson.dumps(converted))


def test_a_list_that_is_not_kept_is_made_each_time() -> None:
    body = _body([dict(t) for t in TOOLS_SENT])
    first = visible_tools(body, [])
    assert visible_tools(body, []) is not first
    assert first == visible_tools(body, [])
