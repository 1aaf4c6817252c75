"""Replay every request Claude Code 2.1.197 really sent (../shared/fixtures/claude-code/) through
the proxy to each upstream dialect, with both engines, and check the answer and the translation."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import FIXTURES, ProxyFactory
from tests.support.claude_code_shapes import BASE_HEADERS, headers_for, is_count, proxy_env, replay
from tests.support.fake_upstream import FakeUpstream

if not FIXTURES.is_dir():
    pytest.skip(
        f"Claude Code fixtures not found at {FIXTURES} (a fresh clone has no ../shared); "
        "tests/proxy/test_messages_claude_code_shapes.py replays synthetic requests of the same shapes",
        allow_module_level=True,
    )

FILES = sorted(p for p in FIXTURES.glob("*.json") if p.name != "headers.json")
# headers.json holds the captured headers of each kind of request, keyed by a description.
CAPTURED_HEADERS: dict[str, Any] = json.loads((FIXTURES / "headers.json").read_text())
HEADER_KEYS = {  # fixture file prefix -> words in the headers.json key of its kind
    "count-tokens": "count_tokens",
    "main-nonstream": "non-streaming",
    "model-haiku": "--model haiku",
    "model-sonnet": "--model sonnet",
    "subagent": "subagent",
    "small-title": "title generation",
    "custom-model-small": "custom small",
}
# Hop-by-hop and size headers belong to the original connection, not to a replay.
DROPPED_HEADERS = {"host", "content-length", "connection"}


def captured_headers(name: str) -> dict[str, str]:
    """The real headers Claude Code sent with this kind of request."""
    words = next((w for prefix, w in HEADER_KEYS.items() if name.startswith(prefix)), "main (")
    key = next(k for k in CAPTURED_HEADERS if words in k)
    headers = CAPTURED_HEADERS[key]["headers"]
    return {k: v for k, v in headers.items() if k.lower() not in DROPPED_HEADERS}


def test_every_fixture_is_replayed() -> None:
    assert len(FILES) >= 17, [p.name for p in FILES]
    assert any(is_count(p.stem) for p in FILES)


def test_captured_headers_match_the_synthetic_ones() -> None:
    """tests/support/claude_code_shapes.py imitates these headers; keep it honest."""
    main = captured_headers("main-turn-1")
    for name in ("anthropic-version", "x-app", "anthropic-dangerous-direct-browser-access"):
        assert main[name] == BASE_HEADERS[name]
    assert main["anthropic-beta"] == headers_for("main-turn-1", {})["anthropic-beta"]


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
async def test_replay_fixture(
    make_proxy: ProxyFactory, upstream: FakeUpstream, dialect: str, engine: str, path: Path
) -> None:
    body = json.loads(path.read_text())
    proxy = await make_proxy(**proxy_env(dialect, engine))
    await replay(proxy, upstream, path.stem, body, captured_headers(path.stem), dialect, engine)
