"""Kept messages (proxy/core/conversation_cache.py): a body parses to exactly what orjson makes
of it, and the checks that skip kept messages answer as if they had walked them.

The shortcut cuts the conversation's first messages out of the raw body when their bytes are
the ones kept; whatever the body holds (those bytes nested elsewhere, duplicate keys, changed
messages, other formatting, a look-alike sentinel, broken JSON), the result equals
`orjson.loads(raw)` or the body is parsed whole. End to end, a growing conversation through
every transport reaches the upstream as sent and the kept messages are never changed.
"""

from __future__ import annotations

import copy
from typing import Any

import orjson
import pytest

from proxy.core.conversation_cache import CONVERSATIONS, FOREIGN_MARK, ConversationCache
from proxy.core.tools_cache import TOOLS
from proxy.server import body_parse
from proxy.translate.carrier import SIGNATURE_PREFIX
from proxy.translate.validate_fast import valid_chars
from tests.conftest import ProxyFactory
from tests.support.claude_code_shapes import SHAPES, headers_for, proxy_env, replay
from tests.support.fake_upstream import FakeUpstream
from tests.support.kept_parts import check_parses_as_orjson

NAME = "main-turn-2-tool-result"


def _turn(i: int) -> list[dict[str, Any]]:
    tool_id = f"toolu_{i:020d}"
    return [
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": f"Reading file {i} \u2014 ok."},
                {"type": "tool_use", "id": tool_id, "name": "Read", "input": {"n": i}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": tool_id, "content": "line\n" * 200},
            ],
        },
    ]


def _conversation(turns: int, **extra: Any) -> dict[str, Any]:
    body = copy.deepcopy(SHAPES[NAME])
    first, rest = body["messages"][:1], body["messages"][1:]
    body["messages"] = first + [m for i in range(turns) for m in _turn(i)] + rest
    body.update(extra)
    return body


def _learn(cache: ConversationCache, body: dict[str, Any]) -> bytes:
    """What serve_messages does for a body parsed whole: validate, then keep its messages."""
    raw = orjson.dumps(body)
    parsed = orjson.loads(raw)
    each: list[int] = []
    assert valid_chars(parsed, messages_request=True, each=each) >= 0
    cache.learn(raw, parsed["messages"], None, each)
    return raw


def _parsed(cache: ConversationCache, raw: bytes) -> tuple[Any, Any]:
    """What read_json gets (the shortcut's body, or the whole parse), and the prefix."""
    found = cache.cut(raw)
    if found is None:
        return orjson.loads(raw), None
    body = body_parse.parse_cut(raw, [found.cut])
    if not cache.adopt(body, found):
        return orjson.loads(raw), None
    return body, found.prefix


def test_a_growing_conversation_is_parsed_from_the_kept_messages() -> None:
    cache = ConversationCache()
    _learn(cache, _conversation(5))
    grown = _conversation(7)
    raw = orjson.dumps(grown)
    body, prefix = _parsed(cache, raw)
    assert body == grown and list(body) == list(grown)  # key order kept
    assert prefix is not None and cache.hits == 1
    # The first message and five turns are the kept ones; the turns' tail moved on.
    assert prefix.known == 11
    assert body["messages"][0] is prefix.conversation.messages[0]


def test_checks_from_a_prefix_count_what_a_whole_walk_counts() -> None:
    cache = ConversationCache()
    _learn(cache, _conversation(5))
    for grown in (_conversation(5), _conversation(6), _conversation(9)):
        raw = orjson.dumps(grown)
        body, prefix = _parsed(cache, raw)
        whole: list[int] = []
        walked: list[int] = []
        expected = valid_chars(orjson.loads(raw), messages_request=True, each=whole)
        assert valid_chars(body, messages_request=True, prefix=prefix, each=walked) == expected
        assert walked == whole[prefix.known :]


def test_a_changed_message_ends_the_kept_run() -> None:
    cache = ConversationCache()
    _learn(cache, _conversation(5))
    changed = _conversation(6)
    changed["messages"][3]["content"][0]["cache_control"] = {"type": "ephemeral"}
    raw = orjson.dumps(changed)
    body, prefix = _parsed(cache, raw)
    assert body == changed
    assert prefix is not None and prefix.known == 3


def test_an_invalid_new_message_is_still_refused() -> None:
    cache = ConversationCache()
    _learn(cache, _conversation(5))
    bad = _conversation(6)
    bad["messages"][-1]["content"].append({"type": "text", "text": 5})
    body, prefix = _parsed(cache, orjson.dumps(bad))
    assert prefix is not None
    assert valid_chars(body, messages_request=True, prefix=prefix) < 0  # pydantic decides


def _tricky() -> list[bytes]:
    body = _conversation(3)
    raw = orjson.dumps(body)
    kept = raw[raw.index(b'"messages":[') : raw.index(b',{"role":"system"')]
    nested = orjson.dumps(body["messages"][:7])
    return [
        # The kept messages nested in another field before the top-level ones.
        raw.replace(b'{"model":', b'{"metadata":{"messages":' + nested + b'},"model":', 1),
        raw.replace(b'"metadata":{', b'"metadata":{' + kept + b"],", 1),
        # Duplicate top-level messages: orjson keeps the last.
        raw[:-1] + b',"messages":[{"role":"user","content":"the last one wins"}]}',
        raw.replace(b'{"model":', b'{"messages":[{"role":"user","content":"x"}],"model":', 1),
        # Only the first message kept; a look-alike sentinel in the client's body.
        raw.replace(b'"messages":[', b'"messages":["claude-proxy-messages-00000000",', 1),
        # Other formatting, and broken JSON after the kept bytes.
        raw.replace(b'"messages":[', b'"messages": [', 1),
        raw[:-1],
        raw.replace(b',{"role":"system"', b',,{"role":"system"', 1),
    ]


@pytest.mark.parametrize("index", range(len(_tricky())))
def test_any_body_parses_as_orjson_parses_it(index: int) -> None:
    cache = ConversationCache()
    _learn(cache, _conversation(3))
    check_parses_as_orjson(cache, _tricky()[index], lambda raw: _parsed(cache, raw)[0])


def test_tools_and_messages_cut_together_parse_as_orjson_does() -> None:
    body = _conversation(4)
    raw = orjson.dumps(body)
    TOOLS.learn(raw, body["tools"], orjson.dumps(body["tools"]))
    parsed = orjson.loads(raw)
    each: list[int] = []
    valid_chars(parsed, messages_request=True, each=each)
    CONVERSATIONS.learn(raw, parsed["messages"], None, each)
    grown = _conversation(6)
    raw = orjson.dumps(grown)
    again, known = body_parse.parse_known(raw)
    assert again == grown
    assert known.tools is not None and known.messages is not None
    spans = known.raw_body(raw).kept  # the system blocks' too, when kept by an earlier test
    assert any(raw[: span.start].endswith(b'"messages":[') for span in spans)
    assert any(raw[span.start - 8 :].startswith(b'"tools":[') for span in spans)


def test_only_bodies_worth_it_in_orjsons_format_are_kept_and_only_a_few() -> None:
    cache = ConversationCache(entries=2)
    small = {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}
    _learn(cache, small)
    assert cache.cut(orjson.dumps(small)) is None  # too small to bother
    spaced = orjson.dumps(_conversation(3)).replace(b'{"role"', b'{ "role"')
    cache.learn(spaced, orjson.loads(spaced)["messages"], None, [0] * 20)
    assert cache.cut(spaced) is None  # not as orjson writes it
    bodies = [_conversation(3, model=f"claude-{n}") for n in range(3)]
    for n, body in enumerate(bodies):
        body["messages"][0]["content"][0]["text"] += str(n)  # three conversations
        _learn(cache, body)
    assert cache.cut(orjson.dumps(bodies[0])) is None  # evicted
    assert cache.cut(orjson.dumps(bodies[2])) is not None


def test_the_foreign_thinking_mark_is_the_carriers_prefix() -> None:
    assert b'"' + SIGNATURE_PREFIX.encode() == FOREIGN_MARK


def test_messages_before_proxy_signed_thinking_are_known_clean() -> None:
    cache = ConversationCache()
    body = _conversation(4)
    signed = {"type": "thinking", "thinking": "hm", "signature": SIGNATURE_PREFIX + "abc"}
    body["messages"][5]["content"].insert(0, signed)
    _learn(cache, body)
    _, prefix = _parsed(cache, orjson.dumps(body))
    assert prefix is not None and prefix.known == len(body["messages"])
    assert prefix.unmarked == 5


async def test_a_growing_conversation_reaches_every_upstream_unchanged(
    make_proxy: ProxyFactory, upstream: FakeUpstream, dialect: str, engine: str
) -> None:
    proxy = await make_proxy(**proxy_env(dialect, engine))
    hits = CONVERSATIONS.hits
    for turns, stream in ((2, True), (3, False), (5, True)):
        body = {**_conversation(turns), "stream": stream}
        # check_upstream (in replay) compares what the upstream got with what was sent.
        await replay(proxy, upstream, NAME, body, headers_for(NAME, body), dialect, engine)
    assert CONVERSATIONS.hits >= hits + 2
    for entry in CONVERSATIONS._entries:
        assert b"".join(entry.chunks)[:1] == b"{"
        assert orjson.dumps(entry.messages)[1:-1] == b"".join(entry.chunks)  # never changed


def test_the_kept_bytes_stay_within_their_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    from proxy.core import conversation_cache

    cache = ConversationCache()
    bodies = [_conversation(3 + n) for n in range(3)]
    for n, body in enumerate(bodies):
        body["messages"][0]["content"][0]["text"] += str(n)  # three conversations
    size = len(orjson.dumps(bodies[2]["messages"]))
    monkeypatch.setattr(conversation_cache, "TOTAL_BYTES", 2 * size)
    for body in bodies:
        _learn(cache, body)
    assert [len(e.messages) for e in cache._entries] == [
        len(bodies[2]["messages"]),
        len(bodies[1]["messages"]),
    ]


def test_random_edits_of_a_kept_body_parse_as_orjson_parses_them() -> None:
    """Seeded: bytes inserted, dropped or changed anywhere (inside the kept messages too)."""
    import random

    cache = ConversationCache()
    _learn(cache, _conversation(3))
    raw = orjson.dumps(_conversation(4))
    rng = random.Random(20261201)
    alphabet = b'{}[]",:\\0a"model"messages'
    checked = adopted = 0
    for _ in range(400):
        data = bytearray(raw)
        for _ in range(rng.randint(1, 3)):
            at = rng.randrange(len(data))
            edit = rng.random()
            if edit < 0.4:
                data[at] = rng.choice(alphabet)
            elif edit < 0.7:
                del data[at]
            else:
                data.insert(at, rng.choice(alphabet))
        mutated = bytes(data)
        found = cache.cut(mutated)
        parsed = None
        if found is not None:
            parsed = body_parse.parse_cut(mutated, [found.cut])
            if not cache.adopt(parsed, found):
                parsed = None
        try:
            expected = orjson.loads(mutated)
        except orjson.JSONDecodeError:
            assert parsed is None  # the caller parses it whole and reports the error
            continue
        checked += 1
        if parsed is not None:
            adopted += 1
            assert parsed == expected
    assert checked > 20 and adopted > 20  # both kinds of outcome were exercised


def test_the_foreign_thinking_strip_from_known_clean_messages_strips_the_same() -> None:
    from proxy.upstreams.anthropic import strip_foreign_thinking

    body = _conversation(4)
    signed = {"type": "thinking", "thinking": "hm", "signature": SIGNATURE_PREFIX + "abc"}
    body["messages"][5]["content"].insert(0, signed)
    messages = body["messages"]
    whole = strip_foreign_thinking(messages)
    assert whole is not messages  # the proxy's own thinking went
    for clean in (0, 3, 5):
        assert strip_foreign_thinking(messages, clean) == whole
    untouched = _conversation(4)["messages"]
    assert strip_foreign_thinking(untouched, 6) is untouched  # nothing to strip: the same list


def test_a_conversation_is_reused_only_for_the_client_that_sent_it() -> None:
    cache = ConversationCache()
    raw = orjson.dumps(_conversation(3))
    parsed = orjson.loads(raw)
    each: list[int] = []
    valid_chars(parsed, messages_request=True, each=each)
    cache.learn(raw, parsed["messages"], None, each, "10.0.0.1")
    grown = orjson.dumps(_conversation(4))
    assert cache.cut(grown, "10.0.0.2") is None  # another client: parsed whole, nothing timed
    found = cache.cut(grown, "10.0.0.1")
    assert found is not None and found.prefix.known > 1
