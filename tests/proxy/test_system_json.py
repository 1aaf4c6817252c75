"""The OpenAI transport writes its joined system message from the texts' own JSON: same bytes.

`to_openai.with_system_json` joins the JSON of the system texts instead of encoding the joined
string again, and takes it from a kept conversation when the texts are the ones it sent last.
What the upstream receives must be exactly what serialising the translated request gives.
"""

from __future__ import annotations

from typing import Any

import anthropic
import orjson
import pytest

from proxy.routing.model_map import Target
from proxy.translate.to_openai import to_openai, with_system_json
from tests.conftest import ProxyFactory
from tests.support.claude_code_shapes import SHAPES, proxy_env
from tests.support.fake_upstream import FakeUpstream

TRICKY = [
    "plain ascii",
    "Latin-1: café, naïve, ©",
    "arrows → ↓ and CJK 漢字",
    "emoji 🙂 and astral 𝄞",
    'quotes " and backslashes \\ and slash /',
    "controls \t \r \x00 \x1f \x7f and newlines\n\n",
    "\u2028 line separator \u2029",
    "",
]
TARGET = Target("claude-sonnet-4-5", "openai/gpt-4.1", "openai", "gpt-4.1", "openai", None, None)


def _body(system: list[dict[str, Any]], extra: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "model": "claude-sonnet-4-5",
        "max_tokens": 100,
        "system": system,
        "messages": [{"role": "user", "content": "hi"}, *extra],
    }


@pytest.mark.parametrize("first", TRICKY)
@pytest.mark.parametrize("second", TRICKY)
def test_the_bytes_are_the_joined_strings(first: str, second: str) -> None:
    system = [{"type": "text", "text": first}, {"type": "text", "text": second}]
    extra = [{"role": "system", "content": second + first}]
    texts: list[str] = []
    payload = to_openai(_body(system, extra), TARGET, [], system_texts=texts)
    sent = with_system_json(payload, texts)
    assert orjson.dumps(sent) == orjson.dumps(payload)
    expected = [t for t in (first, second, second + first) if t]
    if expected:
        assert payload["messages"][0] == {"role": "system", "content": "\n\n".join(expected)}
    else:
        assert payload["messages"][0]["role"] == "user"


def test_nothing_to_gain_or_not_encodable_keeps_the_payload() -> None:
    texts: list[str] = []
    payload = to_openai(
        _body([{"type": "text", "text": "one"}], []), TARGET, [], system_texts=texts
    )
    assert texts == ["one"] and with_system_json(payload, texts) is payload
    lone = [{"type": "text", "text": "a\ud800"}, {"type": "text", "text": "b"}]
    texts = []
    payload = to_openai(_body(lone, []), TARGET, [], system_texts=texts)
    assert with_system_json(payload, texts) is payload


@pytest.mark.parametrize("name", [n for n in sorted(SHAPES) if not n.startswith("count-tokens")])
def test_claude_code_shapes_serialise_the_same(name: str) -> None:
    texts: list[str] = []
    payload = to_openai(SHAPES[name], TARGET, [], system_texts=texts)
    assert orjson.dumps(with_system_json(payload, texts)) == orjson.dumps(payload)


async def test_the_upstream_receives_what_serialising_gives(
    make_proxy: ProxyFactory, upstream: FakeUpstream
) -> None:
    proxy = await make_proxy(**proxy_env("openai", "native"))
    system = [{"type": "text", "text": t} for t in TRICKY]
    client = anthropic.AsyncAnthropic(base_url=proxy.url, api_key="sk-test-system", max_retries=0)
    async with client:
        await client.messages.create(
            model="claude-sonnet-4-5",
            max_tokens=50,
            system=system,  # type: ignore[arg-type]
            messages=[
                {"role": "user", "content": "hi → 漢字"},
                {"role": "assistant", "content": "ok"},
                {"role": "system", "content": "mid-conversation → note"},  # type: ignore[typeddict-item]
                {"role": "user", "content": "again"},
            ],
        )
    raw = upstream.requests[-1].raw
    sent = orjson.loads(raw)
    assert orjson.dumps(sent) == raw  # exactly what orjson writes for the translated request
    joined = "\n\n".join([t for t in TRICKY if t] + ["mid-conversation → note"])
    assert sent["messages"][0] == {"role": "system", "content": joined}


def _fresh(text: str) -> str:
    return "".join(list(text))  # an equal string, not the same object (a new request's)


@pytest.mark.parametrize("parts", [1, 3])
def test_a_kept_conversation_sends_its_system_json_again(parts: int) -> None:
    """Equal texts (new strings, as a new request parses them) reuse the kept JSON; another
    text replaces it; the bytes are always those of serialising the payload."""
    memo: list[Any] = []
    kept: Any = None
    for round_ in range(4):
        texts_in = TRICKY[:parts] if round_ < 3 else ["changed", *TRICKY[1:parts]]
        system = [{"type": "text", "text": _fresh(t)} for t in texts_in if t]
        texts: list[str] = []
        payload = to_openai(_body(system, []), TARGET, [], system_texts=texts)
        sent = with_system_json(payload, texts, None, memo)
        assert orjson.dumps(sent) == orjson.dumps(payload)
        assert sent is not payload and len(memo) == 1
        if round_ in (1, 2):
            assert memo[0][1] is kept  # taken as kept, not encoded again
        if round_ == 3:
            assert memo[0][1] is not kept and memo[0][0][0] == "changed"
        kept = memo[0][1]
