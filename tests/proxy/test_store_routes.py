"""GET /requests (the newest stored requests, for a TUI's log) and GET /conversation/page
(history pages and full-text search, for its History view), on a real store file."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import DIALECT_MODELS, ProxyFactory
from tests.support.fake_upstream import FakeUpstream, Reply
from tests.support.mgmt import ask, call, turn

BIG, SMALL = DIALECT_MODELS["openai"]


async def test_recent_requests_newest_first_messages_only(
    make_proxy: ProxyFactory,
    upstream: FakeUpstream,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    proxy = await make_proxy(BIG_MODEL=BIG, SMALL_MODEL=SMALL, MAX_RETRIES=0)
    upstream.script += [Reply(prompt_tokens=10 + i, completion_tokens=1) for i in range(3)]
    for i in range(3):
        await ask(proxy.url, turn(f"question {i}"), session="s1")
    count = await call(proxy.url, "POST", "/v1/messages/count_tokens", turn("count me"))
    assert count.status == 200

    found = (await call(proxy.url, "GET", "/requests?limit=2")).json["requests"]
    assert [row["input_tokens"] for row in found] == [12, 11]
    assert {row["session_id"] for row in found} == {"s1"}
    everything = (await call(proxy.url, "GET", "/requests")).json["requests"]
    assert len(everything) == 3  # count_tokens is not a request of the log
    for bad in ("0", "-1", "x", "100000"):
        answer = await call(proxy.url, "GET", f"/requests?limit={bad}")
        assert answer.status == 400, bad
        assert "limit" in answer.json["error"]["message"]


async def test_history_pages_and_search(
    make_proxy: ProxyFactory,
    upstream: FakeUpstream,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    proxy = await make_proxy(BIG_MODEL=BIG, SMALL_MODEL=SMALL, MAX_RETRIES=0)
    upstream.script += [Reply(text=f"answer number {i}") for i in range(3)]
    for word in ("apple", "banana", "cherry"):
        await ask(proxy.url, turn(f"tell me about {word}"), session="s1")

    first = (await call(proxy.url, "GET", "/conversation/page?limit=4")).json
    assert [t["role"] for t in first["turns"]] == ["assistant", "user"] * 2
    assert first["turns"][1]["content"] == "tell me about cherry"
    rest = (await call(proxy.url, "GET", f"/conversation/page?limit=4&before={first['next']}")).json
    assert len(rest["turns"]) == 2 and rest["next"] is None
    found = (await call(proxy.url, "GET", "/conversation/page?q=banana")).json
    assert [t["content"] for t in found["turns"]] == ["tell me about banana"]
    assert "[banana]" in found["turns"][0]["snippet"]
