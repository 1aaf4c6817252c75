"""Kept system blocks (`SYSTEM`, proxy/core/tools_cache.py): Claude Code sends the same ~6 KB of
system blocks with every request of a session; the second body on is parsed without them, and
their validation walk is done once. Whatever the body holds, it parses to what orjson makes of
it, and the system that reaches the upstream is the one the client sent."""

from __future__ import annotations

import copy
from typing import Any

import orjson
import pytest

from proxy.core.tools_cache import SYSTEM, ToolsCache
from proxy.server import body_parse
from proxy.translate.validate_fast import valid_chars
from tests.conftest import ProxyFactory
from tests.support.claude_code_shapes import SHAPES, headers_for, proxy_env, replay
from tests.support.fake_upstream import FakeUpstream
from tests.support.kept_parts import check_parses_as_orjson

NAME = "main-turn-2-tool-result"


def _body(**extra: Any) -> dict[str, Any]:
    body = copy.deepcopy(SHAPES[NAME])
    # The synthetic shape's system is short; Claude Code's is ~6 KB (kept from 512 bytes).
    body["system"][-1]["text"] += " Follow the project's conventions." * 40
    body.update(extra)
    return body


def _parsed(cache: ToolsCache, raw: bytes) -> Any:
    found = cache.cut(raw)
    if found is not None:
        body = body_parse.parse_cut(raw, [found.cut])
        if cache.adopt(body, found):
            return body
    return orjson.loads(raw)


def _learned() -> ToolsCache:
    cache = ToolsCache(field="system")
    raw = orjson.dumps(_body())
    system = orjson.loads(raw)["system"]
    cache.learn(raw, system, orjson.dumps(system))
    return cache


def test_the_same_system_blocks_are_parsed_once() -> None:
    cache = _learned()
    first = _parsed(cache, orjson.dumps(_body()))
    other = _body(messages=[{"role": "user", "content": "something else"}])
    second = _parsed(cache, orjson.dumps(other))
    assert first == _body() and second == other
    assert first["system"] is second["system"]  # one list, shared
    assert list(second) == list(other)  # key order kept
    assert cache.hits == 2


def _tricky() -> list[bytes]:
    system = _body()["system"]
    nested = _body()
    # The same blocks as a tool's input, under the same key, before the real ones.
    nested["messages"][2]["content"].insert(
        0, {"type": "tool_use", "id": "toolu_x", "name": "Echo", "input": {"system": system}}
    )
    changed = _body()
    changed["system"][-1]["text"] += " (changed)"
    raw = orjson.dumps(_body())
    return [
        orjson.dumps(nested),
        orjson.dumps(changed),
        orjson.dumps(_body(system="a plain string system prompt")),
        raw.replace(b'"system":[', b'"system": [', 1),
        raw.replace(b'"system":[', b'"system":[],"x":[', 1),
        raw[:-1] + b',"system":"last one wins"}',
        raw[:-1],
    ]


@pytest.mark.parametrize("index", range(len(_tricky())))
def test_any_body_parses_as_orjson_parses_it(index: int) -> None:
    cache = _learned()
    check_parses_as_orjson(cache, _tricky()[index], lambda raw: _parsed(cache, raw))


def test_system_tools_and_messages_cut_together_parse_as_orjson_does() -> None:
    raw = orjson.dumps(_body())
    body_parse.learn_system(raw, orjson.loads(raw))
    hits = SYSTEM.hits
    again, known = body_parse.parse_known(raw)
    assert again == orjson.loads(raw)
    assert known.system is not None and SYSTEM.hits == hits + 1
    spans = known.raw_body(raw).kept
    assert any(raw[span.start - 9 :].startswith(b'"system":[') for span in spans)


def test_a_kept_system_counts_and_validates_as_a_new_one() -> None:
    raw = orjson.dumps(_body())
    body_parse.learn_system(raw, orjson.loads(raw))
    kept, known = body_parse.parse_known(raw)
    assert known.system is not None
    fresh = orjson.loads(raw)
    expected = valid_chars(fresh, messages_request=True)
    assert expected > 0
    assert valid_chars(kept, messages_request=True) == expected  # walked once, then remembered
    assert valid_chars(kept, messages_request=True) == expected


def test_an_invalid_system_kept_stays_invalid() -> None:
    body = _body()
    body["system"][1]["text"] = 5  # not a string: pydantic's 400
    body["system"][1]["padding"] = "x" * 600
    raw = orjson.dumps(body)
    body_parse.learn_system(raw, orjson.loads(raw))
    for _ in range(2):
        parsed, _known = body_parse.parse_known(raw)
        parsed = parsed if parsed is not None else orjson.loads(raw)
        assert valid_chars(parsed, messages_request=True) < 0


async def test_kept_system_blocks_reach_every_upstream_and_are_never_changed(
    make_proxy: ProxyFactory, upstream: FakeUpstream, dialect: str, engine: str
) -> None:
    proxy = await make_proxy(**proxy_env(dialect, engine))
    hits = SYSTEM.hits
    for stream in (True, False, True):
        body = {**_body(), "stream": stream}
        # check_upstream (in replay) compares what the upstream got with what was sent.
        await replay(proxy, upstream, NAME, body, headers_for(NAME, body), dialect, engine)
    assert SYSTEM.hits >= hits + 2
    for entry in SYSTEM._entries:
        assert orjson.dumps(entry.tools) == entry.json  # never changed
