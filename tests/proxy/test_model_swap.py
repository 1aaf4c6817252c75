"""The Anthropic transport sends the client's own bytes when only the model changes.

`model_swap.swapped_model` must rewrite the top-level model and nothing else, and give up (the
body is then serialised as before) wherever that is not certain from the bytes: duplicate or
escaped `model` keys, a `"model"` string elsewhere, an escaped model value. End to end, a real
proxy forwards a Claude Code body byte for byte but the model, and falls back to a fresh
serialisation when it changes something else (a clamped max_tokens).
"""

from __future__ import annotations

import copy
from typing import Any

import httpx
import orjson
import pytest

from proxy.core.tools_cache import ToolsCache, ToolsSpan
from proxy.translate.model_swap import RawBody, swapped_model
from tests.conftest import ProxyFactory
from tests.proxy.test_estimate_counted import ALL
from tests.support.claude_code_shapes import SHAPES, headers_for, script_answer
from tests.support.fake_upstream import FakeUpstream

NEW = "claude-sonnet-4-5-20250929"
NAME = "main-turn-2-tool-result"


def _cc_body(**extra: Any) -> dict[str, Any]:
    body = copy.deepcopy(SHAPES[NAME])
    body["messages"][0]["content"][0]["text"] += " — café ✓ a/b"  # non-ASCII, as prompts are
    # Claude Code's Task tool has a `model` parameter (2.1.x): a nested key in the tools.
    schema = {"type": "object", "properties": {"model": {"type": "string", "enum": ["opus"]}}}
    body["tools"] = [*body["tools"], {"name": "Task", "input_schema": schema}]
    body.update(extra)
    return body


def _spanned(raw: bytes) -> RawBody:
    cache = ToolsCache()
    body = orjson.loads(raw)
    cache.learn(raw, body["tools"], orjson.dumps(body["tools"]))
    parsed = cache.parse_spanned(raw)
    assert parsed is not None
    return RawBody(raw, (parsed[1],))


def _expect_swapped(raw: bytes, tools: ToolsSpan | None = None) -> bytes:
    old = orjson.loads(raw)
    out = swapped_model(RawBody(raw, () if tools is None else (tools,)), old["model"], NEW)
    assert out is not None
    assert orjson.loads(out) == {**old, "model": NEW}
    return out


def test_claude_codes_body_keeps_every_byte_but_the_model() -> None:
    body = _cc_body()
    raw = orjson.dumps(body)
    assert raw.count(b'"model"') > 1
    out = _expect_swapped(raw, _spanned(raw).kept[0])
    assert out == raw.replace(orjson.dumps(body["model"]), orjson.dumps(NEW), 1)
    assert swapped_model(RawBody(raw), body["model"], NEW) is None  # unknown tools: no


@pytest.mark.parametrize(
    "raw",
    [
        b'{"model":"claude-x","max_tokens":5,"messages":[{"role":"user","content":"\xc3\xa9"}]}',
        b'{ "model" : "claude-x", "messages": [{"role": "user", "content": "\xc3\xa9"}]}',
        b'{"max_tokens": 5, "messages": [{"role": "user", "content": "\xc3\xa9"}], "model": "claude-x"}',
        b'{"messages":[{"role":"user","content":"\xc3\xa9 \\"model\\": \\"y\\""}],"model":"claude-x"}',
    ],
)
def test_a_model_key_anywhere_at_the_top_is_swapped(raw: bytes) -> None:
    _expect_swapped(raw)


@pytest.mark.parametrize(
    "raw",
    [
        # Two top-level model keys (orjson keeps the last; an upstream might keep the first).
        b'{"model":"claude-x","messages":[{"role":"user","content":"\xc3\xa9"}],"model":"claude-x"}',
        b'{"model":"claude-x","mod\\u0065l":"claude-x","messages":[{"role":"user","content":"\xc3\xa9"}]}',
        # "model" as a value, or as a nested key (a tool input), outside kept tools.
        b'{"model":"claude-x","messages":[{"role":"user","content":[{"type":"text","text":"\xc3\xa9","x":"model"}]}]}',
        b'{"model":"claude-x","messages":[{"role":"assistant","content":[{"type":"tool_use","id":"t","name":"Task","input":{"model":"opus"}}]},{"role":"user","content":"\xc3\xa9"}]}',
        # The value written with an escape: not as orjson writes the parsed string.
        b'{"model":"claude\\u002dx","messages":[{"role":"user","content":"\xc3\xa9"}]}',
        # All ASCII: serialising is as cheap as the checks.
        b'{"model":"claude-x","messages":[{"role":"user","content":"plain"}]}',
    ],
)
def test_anything_uncertain_is_serialised_instead(raw: bytes) -> None:
    model = orjson.loads(raw)["model"]
    assert swapped_model(RawBody(raw), model, NEW) is None


def test_the_same_model_sends_the_bytes_as_they_came() -> None:
    raw = orjson.dumps(_cc_body())
    assert swapped_model(RawBody(raw), "x", "x") is None  # not the body's model
    model = orjson.loads(raw)["model"]
    assert swapped_model(_spanned(raw), model, model) is raw


def test_every_body_swapped_parses_to_the_body_with_the_new_model() -> None:
    swapped = 0
    for body in ALL:
        if not isinstance(body, dict) or not isinstance(body.get("model"), str):
            continue
        body = {**body, "metadata": {"note": "ü"}}
        for raw in (orjson.dumps(body), orjson.dumps(body, option=orjson.OPT_INDENT_2)):
            out = swapped_model(RawBody(raw), body["model"], NEW)
            if out is not None:
                assert orjson.loads(out) == {**body, "model": NEW}
                swapped += 1
    assert swapped > 20


async def _send(proxy: Any, body: dict[str, Any]) -> bytes:
    # `\/` is how some encoders write "/"; orjson writes "/": the bytes show which went upstream.
    raw = orjson.dumps(body).replace(b"a/b", b"a\\/b")
    assert orjson.loads(raw) == body
    async with httpx.AsyncClient(timeout=30) as http:
        answer = await http.post(
            proxy.url + "/v1/messages?beta=true", content=raw, headers=headers_for(NAME, body)
        )
    assert answer.status_code == 200, answer.text[:300]
    return raw


async def test_the_upstream_receives_the_clients_bytes_but_the_model(
    make_proxy: ProxyFactory, upstream: FakeUpstream
) -> None:
    proxy = await make_proxy(BIG_MODEL=f"anthropic/{NEW}", SMALL_MODEL=f"anthropic/{NEW}")
    body = _cc_body(max_tokens=1000)
    for stream in (False, True, False):  # the first teaches the proxy the tools' bytes
        sent = {**body, "stream": stream}
        script_answer(upstream, sent)
        raw = await _send(proxy, sent)
        received = upstream.requests[-1]
        assert orjson.loads(received.raw) == {**sent, "model": NEW}
    assert received.raw == raw.replace(orjson.dumps(body["model"]), orjson.dumps(NEW), 1)
    # A change beside the model (max_tokens above the model's limit): serialised afresh.
    clamped = {**body, "max_tokens": 10_000_000}
    script_answer(upstream, clamped)
    raw = await _send(proxy, clamped)
    received = upstream.requests[-1]
    assert b"a/b" in received.raw and b"a\\/b" not in received.raw
    assert orjson.loads(received.raw)["max_tokens"] < 10_000_000
    assert orjson.loads(received.raw)["messages"] == clamped["messages"]
