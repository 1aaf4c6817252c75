"""Kept tools (proxy/core/tools_cache.py): a body parses to exactly what orjson makes of it.

The shortcut splices a kept tools array out of the raw body; these check that whatever the body
holds (the same array nested elsewhere, duplicate keys, other formatting, a look-alike sentinel,
broken JSON), the result equals `orjson.loads(raw)` or the body is parsed whole. And end to end:
the kept list is never changed by a request through any transport.
"""

from __future__ import annotations

import copy
from typing import Any

import orjson
import pytest

from proxy.core.tools_cache import TOOLS as KEPT
from proxy.core.tools_cache import ToolsCache
from proxy.translate.json_depth import check_depth
from tests.conftest import ProxyFactory
from tests.support.claude_code_shapes import SHAPES, headers_for, proxy_env, replay
from tests.support.fake_upstream import FakeUpstream

TOOLS = SHAPES["main-turn-2-tool-result"]["tools"]
TOOLS_JSON = orjson.dumps(TOOLS)


def _body(**extra: Any) -> dict[str, Any]:
    body = copy.deepcopy(SHAPES["main-turn-2-tool-result"])
    body.update(extra)
    return body


def _learned(cache: ToolsCache) -> None:
    raw = orjson.dumps(_body())
    body = orjson.loads(raw)
    cache.learn(raw, body["tools"], orjson.dumps(body["tools"]))


def _parsed(cache: ToolsCache, raw: bytes) -> Any:
    """What read_json gets: the shortcut's body, or the whole parse."""
    body = cache.parse(raw)
    return orjson.loads(raw) if body is None else body


def test_the_same_tools_are_parsed_once() -> None:
    cache = ToolsCache()
    _learned(cache)
    first = cache.parse(orjson.dumps(_body()))
    other = _body(messages=[{"role": "user", "content": "something else"}])
    second = cache.parse(orjson.dumps(other))
    assert first is not None and second is not None
    assert first == _body() and second == other
    assert first["tools"] is second["tools"]  # one list, shared
    assert list(second) == list(other)  # key order kept
    assert cache.hits == 2


@pytest.mark.parametrize(
    "raw",
    [
        # the same array nested in a tool_use input, before the real one (and as the only one)
        orjson.dumps(
            _body(
                messages=[
                    {
                        "role": "assistant",
                        "content": [{"type": "tool_use", "id": "t", "name": "x", "input": {}}],
                    }
                ]
            )
        ).replace(b'"input":{}', b'"input":{"tools":' + TOOLS_JSON + b"}"),
        orjson.dumps({k: v for k, v in _body().items() if k != "tools"}).replace(
            b'"system":', b'"extra":{"tools":' + TOOLS_JSON + b'},"system":'
        ),
        # duplicate top-level keys: the last one wins, as orjson decides
        orjson.dumps(_body()).replace(b'"metadata":', b'"tools":[],"metadata":'),
        orjson.dumps(_body()).replace(b'"model":', b'"tools":[1],"model":'),
        # the array inside a string (escaped), and a key that ends in "tools"
        orjson.dumps(_body(note=TOOLS_JSON.decode())),
        orjson.dumps(_body()).replace(b'"tools":', b'"my\\"tools":', 1)[:-1]
        + b',"tools":'
        + TOOLS_JSON
        + b"}",
        # other formatting of the same tools: never found
        orjson.dumps(_body(), option=orjson.OPT_INDENT_2),
        # changed tools
        orjson.dumps(_body(tools=TOOLS[:-1])),
        orjson.dumps(_body(tools=[*TOOLS, {"name": "More", "input_schema": {}}])),
    ],
    ids=[
        "nested-first",
        "nested-only",
        "duplicate-after",
        "duplicate-before",
        "in-a-string",
        "key-suffix",
        "indented",
        "fewer",
        "more",
    ],
)
def test_any_body_parses_as_orjson_parses_it(raw: bytes) -> None:
    cache = ToolsCache()
    _learned(cache)
    assert _parsed(cache, raw) == orjson.loads(raw)


def test_a_body_naming_another_sentinel_is_parsed_whole() -> None:
    cache = ToolsCache()
    _learned(cache)
    # Another process' sentinel (or a guess) in the client's own top-level tools.
    raw = orjson.dumps(_body(tools="claude-proxy-tools-0123456789abcdef01234567"))
    assert cache.parse(raw) is None


def test_broken_json_around_kept_tools_is_still_an_error() -> None:
    cache = ToolsCache()
    _learned(cache)
    raw = orjson.dumps(_body())[:-1]  # the closing brace missing
    assert cache.parse(raw) is None
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(raw)


def test_only_compact_arrays_worth_it_are_kept_and_only_a_few() -> None:
    cache = ToolsCache(entries=2)
    small = [{"name": "a", "input_schema": {}}]
    raw = orjson.dumps(_body(tools=small))
    cache.learn(raw, small, orjson.dumps(small))
    assert cache.parse(raw) is None  # too small to bother
    spaced = orjson.dumps(_body()).replace(b'"tools":[', b'"tools": [')
    cache.learn(spaced, TOOLS, TOOLS_JSON)
    assert cache.parse(spaced) is None  # not as orjson writes it
    bodies = [_body(tools=TOOLS[: n + 3]) for n in range(3)]
    for body in bodies:
        raw = orjson.dumps(body)
        cache.learn(raw, body["tools"], orjson.dumps(body["tools"]))
    assert cache.parse(orjson.dumps(bodies[0])) is None  # evicted
    assert cache.parse(orjson.dumps(bodies[2])) is not None


def test_too_deep_tools_are_refused_before_they_are_kept() -> None:
    deep: Any = {}
    for _ in range(300):
        deep = {"d": deep}
    tools = [{"name": "Deep", "input_schema": {"type": "object", "properties": deep}}]
    body = {"model": "m", "tools": tools}
    with pytest.raises(orjson.JSONEncodeError):
        check_depth(b"", body, known_tools=False)


async def test_kept_tools_reach_every_upstream_and_are_never_changed(
    make_proxy: ProxyFactory, upstream: FakeUpstream, dialect: str, engine: str
) -> None:
    proxy = await make_proxy(**proxy_env(dialect, engine))
    name = "main-turn-2-tool-result"
    hits = KEPT.hits
    for stream in (True, False, True):
        body = {**_body(), "stream": stream}
        # The upstream gets the tools as they were sent, the second time from the kept list.
        await replay(proxy, upstream, name, body, headers_for(name, body), dialect, engine)
    assert KEPT.hits >= hits + 2
    kept = KEPT.parse(orjson.dumps(_body()))
    assert kept is not None
    assert orjson.dumps(kept["tools"]) == TOOLS_JSON
