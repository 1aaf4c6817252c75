"""Conversation history over HTTP: recording once, sessions, limits, export/import, continue."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import FIXTURES, ProxyFactory
from tests.support import claude_code_shapes
from tests.support.fake_upstream import FakeUpstream, Reply, ToolCall
from tests.support.mgmt import BIG, SMALL, ask, call, streamed_text, turn

SOURCES = {
    # source: (turn 1, turn 2, subagent, the tool's output, the subagent's prompt)
    "captured": (
        "main-turn-1",
        "main-turn-2-tool-result",
        "subagent-explore-haiku-turn-1",
        "README.md",
        "List the files in the working directory and report their names.",
    ),
    "synthetic": (
        "main-turn-1",
        "main-turn-2-tool-result",
        "subagent-explore-haiku",
        "a.txt",
        "Explore the repository layout",
    ),
}


def fixture(source: str, name: str) -> dict[str, Any]:
    """A Claude Code request body: captured (../shared, when present) or our synthetic twin."""
    if source == "synthetic":
        return copy.deepcopy(claude_code_shapes._shapes()[name])
    if not FIXTURES.is_dir():
        pytest.skip(
            f"Claude Code fixtures not found at {FIXTURES} (a fresh clone has no ../shared)"
        )
    return json.loads((FIXTURES / f"{name}.json").read_text())


async def conversation(base: str, query: str = "") -> dict[str, Any]:
    """GET /conversation."""
    answer = await call(base, "GET", "/conversation" + query)
    assert answer.status == 200, answer.text
    return answer.json  # type: ignore[no-any-return]


async def test_records_streamed_and_plain_turns(
    make_proxy: ProxyFactory, upstream: FakeUpstream
) -> None:
    proxy = await make_proxy(BIG_MODEL=BIG, SMALL_MODEL=SMALL)
    upstream.script += [Reply(text="first answer"), Reply(text="second answer")]
    await ask(proxy.url, turn("hello there"), session="s1")
    await ask(proxy.url, turn("and again", stream=True), session="s1")
    body = await conversation(proxy.url)
    assert body["total_count"] == 4
    rows = [(m["role"], m["content"], m["model_used"], m["session_id"]) for m in body["messages"]]
    assert rows == [
        ("user", "hello there", BIG, "s1"),
        ("assistant", "first answer", BIG, "s1"),
        ("user", "and again", BIG, "s1"),
        ("assistant", "second answer", BIG, "s1"),
    ]
    first = body["messages"][0]
    assert set(first) == {"timestamp", "role", "content", "model_used", "request_id", "session_id"}
    assert first["request_id"].startswith("req_")
    assert first["timestamp"].endswith("+00:00")


@pytest.mark.parametrize("source", sorted(SOURCES))
async def test_claude_code_replay_records_each_turn_once(
    make_proxy: ProxyFactory, upstream: FakeUpstream, source: str
) -> None:
    first, second, subagent, tool_output, subagent_prompt = SOURCES[source]
    turn1, turn2 = fixture(source, first), fixture(source, second)
    proxy = await make_proxy(BIG_MODEL=BIG, SMALL_MODEL=SMALL)
    session = "a00a8bf5-cb55-4b41-9250-925c67caa9d8"
    upstream.script += [
        Reply(
            text="I'll run that.", tool_calls=[ToolCall("Bash", {"command": "ls && echo hello"})]
        ),
        Reply(text="Listed: README.md app.py notes.txt red.png"),
    ]
    await ask(proxy.url, turn1, session=session)
    await ask(proxy.url, turn2, session=session)
    # Claude Code resending the same turns (a retry, a replay) adds nothing.
    await ask(proxy.url, copy.deepcopy(turn1), session=session)
    await ask(proxy.url, copy.deepcopy(turn2), session=session)
    messages = (await conversation(proxy.url))["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "user", "assistant"]
    assert messages[0]["content"] == "list the files here and run echo hello"
    assert "<system-reminder>" not in messages[0]["content"]
    assert messages[1]["content"].startswith("I'll run that.\n[tool_use Bash(")
    assert messages[2]["content"].startswith(f"[tool_result: {tool_output}")
    assert messages[3]["content"] == "Listed: README.md app.py notes.txt red.png"

    # A subagent in the same Claude Code session is its own thread: recorded, not confused.
    await ask(proxy.url, fixture(source, subagent), session=session)
    messages = (await conversation(proxy.url))["messages"]
    assert len(messages) == 6
    assert messages[4]["content"] == subagent_prompt
    assert messages[4]["model_used"] == SMALL


async def test_sessions_stay_apart(make_proxy: ProxyFactory) -> None:
    proxy = await make_proxy(BIG_MODEL=BIG, SMALL_MODEL=SMALL)
    # Two sessions sending the very same first turn each get it recorded.
    await ask(proxy.url, turn("same words"), session="alpha")
    await ask(proxy.url, turn("same words"), session="beta")
    await ask(proxy.url, turn("no header"))
    assert (await conversation(proxy.url))["total_count"] == 6
    alpha = await conversation(proxy.url, "?session=alpha")
    assert alpha["total_count"] == 2
    assert {m["session_id"] for m in alpha["messages"]} == {"alpha"}
    last = await conversation(proxy.url, "?limit=1")
    assert last["total_count"] == 6
    assert [m["session_id"] for m in last["messages"]] == [None]
    assert (await conversation(proxy.url, "?limit=0"))["messages"] == []
    assert proxy.service.history.sessions() == ["alpha", "beta"]
    bad = await call(proxy.url, "GET", "/conversation?limit=-3")
    assert bad.status == 400
    assert "limit" in bad.error


async def test_failed_requests_record_nothing(
    make_proxy: ProxyFactory, upstream: FakeUpstream
) -> None:
    proxy = await make_proxy(BIG_MODEL=BIG, SMALL_MODEL=SMALL, MAX_RETRIES=0)
    upstream.script.append(Reply(status=400, error_message="bad request upstream"))
    answer = await call(proxy.url, "POST", "/v1/messages", turn("will fail"))
    assert answer.status == 400
    # The retry of the same turn is then recorded once.
    await ask(proxy.url, turn("will fail"))
    assert [m["role"] for m in (await conversation(proxy.url))["messages"]] == [
        "user",
        "assistant",
    ]


async def test_limit_bounds_memory_and_the_default_page(make_proxy: ProxyFactory) -> None:
    """CONVERSATION_LIMIT bounds the turns held in memory and what /conversation returns by
    default; the store keeps every turn (total_count, ?limit=, status count)."""
    proxy = await make_proxy(BIG_MODEL=BIG, SMALL_MODEL=SMALL, CONVERSATION_LIMIT=3)
    for i in range(3):
        await ask(proxy.url, turn(f"turn {i}"), session=f"s{i}")
    body = await conversation(proxy.url)
    assert body["total_count"] == 6
    assert [m["role"] for m in body["messages"]] == ["assistant", "user", "assistant"]
    assert [m["session_id"] for m in body["messages"]] == ["s1", "s2", "s2"]
    assert len((await conversation(proxy.url, "?limit=10"))["messages"]) == 6
    assert len(proxy.service.history) == 3
    status = (await call(proxy.url, "GET", "/conversation/status")).json
    assert (status["count"], status["limit"], status["sessions"]) == (6, 3, 3)


async def test_limit_drops_oldest_without_the_store(make_proxy: ProxyFactory) -> None:
    """With recording off, memory is the history: the oldest turns go past the limit."""
    proxy = await make_proxy(
        BIG_MODEL=BIG, SMALL_MODEL=SMALL, CONVERSATION_LIMIT=3, STORE_ENABLED="false"
    )
    for i in range(3):
        await ask(proxy.url, turn(f"turn {i}"), session=f"s{i}")
    body = await conversation(proxy.url)
    assert body["total_count"] == 3
    assert [m["role"] for m in body["messages"]] == ["assistant", "user", "assistant"]
    assert [m["session_id"] for m in body["messages"]] == ["s1", "s2", "s2"]
    status = (await call(proxy.url, "GET", "/conversation/status")).json
    assert status["count"] == 3
    assert status["limit"] == 3


async def test_clear(make_proxy: ProxyFactory) -> None:
    proxy = await make_proxy(BIG_MODEL=BIG, SMALL_MODEL=SMALL)
    await ask(proxy.url, turn("hi"))
    answer = await call(proxy.url, "DELETE", "/conversation")
    assert answer.json == {"status": "cleared", "removed": 2}
    assert (await conversation(proxy.url))["total_count"] == 0


async def test_export_and_import(make_proxy: ProxyFactory, tmp_path: Path) -> None:
    proxy = await make_proxy(BIG_MODEL=BIG, SMALL_MODEL=SMALL)
    await ask(proxy.url, turn("export me"), session="x")
    exported = await call(proxy.url, "GET", "/conversation/export?format=json")
    assert exported.status == 200
    assert exported.headers["Content-Type"].startswith("application/json")
    data = exported.json
    assert data["total_count"] == 2
    markdown = await call(proxy.url, "GET", "/conversation/export?format=markdown")
    assert markdown.headers["Content-Type"].startswith("text/markdown")
    assert "## user" in markdown.text
    assert "export me" in markdown.text
    assert "session `x`" in markdown.text
    bad_format = await call(proxy.url, "GET", "/conversation/export?format=csv")
    assert bad_format.status == 400
    assert "format" in bad_format.error

    # The export imported where it came from finds its turns already recorded.
    same = await call(proxy.url, "POST", "/conversation/import", data)
    assert same.json == {"status": "imported", "imported": 0, "total_count": 2}

    # Importing into a fresh proxy (its own data folder) brings the records back; importing
    # twice adds nothing.
    other = await make_proxy(BIG_MODEL=BIG, SMALL_MODEL=SMALL, DATA_DIR=str(tmp_path / "other"))
    first = await call(other.url, "POST", "/conversation/import", data)
    assert first.json == {"status": "imported", "imported": 2, "total_count": 2}
    again = await call(other.url, "POST", "/conversation/import", data)
    assert again.json["imported"] == 0
    assert (await conversation(other.url))["messages"] == data["messages"]


async def test_import_is_validated(make_proxy: ProxyFactory) -> None:
    proxy = await make_proxy(BIG_MODEL=BIG, SMALL_MODEL=SMALL)
    good = {"role": "user", "content": "x", "timestamp": "2026-01-01T00:00:00+00:00"}
    cases = [
        ({"nothing": 1}, "`messages` must be a list"),
        ({"messages": [{**good, "role": "system"}]}, "messages[0].role"),
        ({"messages": [good, {**good, "content": 3}]}, "messages[1].content"),
        ({"messages": [{**good, "session_id": 7}]}, "messages[0].session_id"),
        ([good], "JSON object"),
    ]
    for body, needle in cases:
        answer = await call(proxy.url, "POST", "/conversation/import", body)
        assert answer.status == 400, answer.text
        assert needle in answer.error
    assert (await conversation(proxy.url))["total_count"] == 0


async def test_continue_prepends_history(make_proxy: ProxyFactory, upstream: FakeUpstream) -> None:
    proxy = await make_proxy(
        BIG_MODEL="anthropic/claude-sonnet-4-5", SMALL_MODEL="anthropic/claude-haiku-4-5"
    )
    upstream.script += [Reply(text="Paris."), Reply(text="About 2.1 million.")]
    await ask(proxy.url, turn("What is the capital of France?"), session="c")
    answer = await ask(
        proxy.url, turn("And its population?", stream=True), path="/conversation/continue"
    )
    assert streamed_text(answer.text) == "About 2.1 million."
    sent = upstream.requests[-1].body
    assert sent is not None
    assert sent["messages"] == [
        {"role": "user", "content": "What is the capital of France?"},
        {"role": "assistant", "content": "Paris."},
        {"role": "user", "content": "And its population?"},
    ]
    # The continued turn is recorded like any other, once.
    contents = [m["content"] for m in (await conversation(proxy.url))["messages"]]
    assert contents == [
        "What is the capital of France?",
        "Paris.",
        "And its population?",
        "About 2.1 million.",
    ]


async def test_continue_merges_at_the_seam(
    make_proxy: ProxyFactory, upstream: FakeUpstream
) -> None:
    proxy = await make_proxy(
        BIG_MODEL="anthropic/claude-sonnet-4-5", SMALL_MODEL="anthropic/claude-haiku-4-5"
    )
    await proxy.service.import_history(
        {
            "messages": [
                {"role": "assistant", "content": "orphan answer", "timestamp": "t0"},
                {"role": "user", "content": "q1", "timestamp": "t1"},
                {"role": "user", "content": "q1 again", "timestamp": "t2"},
            ]
        }
    )
    body = turn("q2")
    body["messages"][0]["content"] = [{"type": "text", "text": "q2"}]
    await ask(proxy.url, body, path="/conversation/continue?session=")
    sent = upstream.requests[-1].body
    assert sent is not None
    # Roles alternate and start with the user: the orphan answer goes, the user turns merge.
    assert sent["messages"] == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "q1\n\nq1 again"},
                {"type": "text", "text": "q2"},
            ],
        }
    ]
    missing = await call(proxy.url, "POST", "/conversation/continue", {"model": "claude-x"})
    assert missing.status == 400
    assert "messages" in missing.error


async def test_a_resend_after_a_restart_is_not_a_new_turn(
    make_proxy: ProxyFactory, upstream: FakeUpstream, tmp_path: Path
) -> None:
    """Claude Code resends a turn whose answer it did not get: the store's keys outlive the
    process, so a restart in between records it once."""
    body = turn("resent after a restart")
    first = await make_proxy(BIG_MODEL=BIG, SMALL_MODEL=SMALL, DATA_DIR=str(tmp_path))
    await ask(first.url, body, session="s")
    await first.stop()
    second = await make_proxy(BIG_MODEL=BIG, SMALL_MODEL=SMALL, DATA_DIR=str(tmp_path))
    await ask(second.url, body, session="s")
    await ask(second.url, turn("a new turn"), session="s")
    listed = await conversation(second.url)
    assert [m["content"] for m in listed["messages"] if m["role"] == "user"] == [
        "resent after a restart",
        "a new turn",
    ]
    assert listed["total_count"] == 4
