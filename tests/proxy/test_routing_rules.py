"""Issue 7 routing: preset rules, the subagent marker, session pins, truthful context."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from proxy.state.presets import PresetFileError, parse_presets
from tests.conftest import ProxyFactory
from tests.support.fake_upstream import FakeUpstream
from tests.support.mgmt import ask, call, turn

RULES_PRESET = """
[presets.routed]
description = "rules under test"
big = "openai/gpt-4.1"
small = "openai/gpt-4.1-mini"

[[presets.routed.rules]]
when = "think"
model = "openai/o3"

[[presets.routed.rules]]
when = "background"
model = "gemini/gemini-2.5-flash"

[[presets.routed.rules]]
when = "long_context"
threshold = 200
model = "gemini/gemini-2.5-pro"

[[presets.routed.rules]]
when = "web_search"
model = "openai/gpt-4o"
"""


@pytest.fixture
async def routed(make_proxy: ProxyFactory, tmp_path: Path) -> Any:
    """A proxy whose active preset carries the four rules above."""
    presets = tmp_path / "presets.toml"
    presets.write_text(RULES_PRESET)
    proxy = await make_proxy(PRESETS_FILE=str(presets))
    switched = await call(proxy.url, "POST", "/switch_model", {"preset": "routed"})
    assert switched.status == 200, switched.text
    return proxy


async def test_rules_pick_the_target_in_order(routed: Any, upstream: FakeUpstream) -> None:
    await ask(routed.url, turn("plain"))
    assert upstream.requests[-1].model == "gpt-4.1"
    await ask(routed.url, turn("quick", model="claude-haiku-4-5"))
    assert upstream.requests[-1].model == "gemini-2.5-flash"
    await ask(routed.url, turn("long " * 400))
    assert upstream.requests[-1].model == "gemini-2.5-pro"
    thinking = {
        **turn("hmm", model="claude-haiku-4-5"),
        "thinking": {"type": "enabled", "budget_tokens": 2048},
    }
    await ask(routed.url, thinking)  # think comes before background: first match wins
    assert upstream.requests[-1].model == "o3"
    search = {**turn("news"), "tools": [{"type": "web_search_20250305", "name": "web_search"}]}
    await ask(routed.url, search)
    assert upstream.requests[-1].model == "gpt-4o"
    logs = await call(routed.url, "GET", "/debug_logs?log_type=model_mapping&limit=10")
    reasons = [e["details"]["reason"] for e in logs.json["entries"]]
    assert (
        "rule think of preset routed" in reasons and "rule web_search of preset routed" in reasons
    )


async def test_subagent_marker_picks_the_model_and_is_stripped(
    make_proxy: ProxyFactory, upstream: FakeUpstream
) -> None:
    proxy = await make_proxy()
    body = {
        **turn("explore"),
        "system": [
            {"type": "text", "text": "x-anthropic-billing-header: cc_version=2.1.197.abc;"},
            {
                "type": "text",
                "text": "<proxy-model>gemini/gemini-2.5-flash</proxy-model>You are an explorer.",
            },
        ],
    }
    await ask(proxy.url, body)
    sent = upstream.requests[-1]
    assert sent.model == "gemini-2.5-flash"
    assert b"proxy-model" not in sent.raw
    assert b"You are an explorer." in sent.raw


async def test_session_pin(make_proxy: ProxyFactory, upstream: FakeUpstream) -> None:
    proxy = await make_proxy()
    pinned = await call(
        proxy.url, "POST", "/sessions/s-1/model", {"model": "gemini/gemini-2.5-pro"}
    )
    assert pinned.status == 200, pinned.text
    await ask(proxy.url, turn("hi"), session="s-1")
    assert upstream.requests[-1].model == "gemini-2.5-pro"
    await ask(proxy.url, turn("hi"), session="s-2")
    assert upstream.requests[-1].model == "gpt-4.1"
    listed = await call(proxy.url, "GET", "/sessions")
    assert listed.json["pins"] == {"s-1": "gemini/gemini-2.5-pro"}
    await call(proxy.url, "DELETE", "/sessions/s-1/model")
    await ask(proxy.url, turn("hi"), session="s-1")
    assert upstream.requests[-1].model == "gpt-4.1"
    bad = await call(proxy.url, "POST", "/sessions/s-1/model", {"model": "nosuch/x"})
    assert bad.status == 400 and "valid prefixes" in bad.error


async def test_truthful_context_before_calling_the_upstream(
    make_proxy: ProxyFactory, upstream: FakeUpstream
) -> None:
    proxy = await make_proxy(BIG_MODEL="openai/gpt-4")  # an 8k window in the catalogue
    answer = await call(proxy.url, "POST", "/v1/messages", turn("word " * 40_000))
    assert answer.status == 400
    assert answer.error.startswith("prompt is too long:")
    assert upstream.requests == []


async def test_rules_saved_over_http_and_bad_rules_refused(make_proxy: ProxyFactory) -> None:
    proxy = await make_proxy()
    preset = {
        "name": "mine",
        "big_model": "openai/gpt-4.1",
        "small_model": "openai/gpt-4.1-mini",
        "rules": [{"when": "long_context", "model": "gemini-2.5-pro"}],
    }
    saved = await call(proxy.url, "POST", "/presets", preset)
    assert saved.status == 201, saved.text
    assert saved.json["preset"]["rules"] == [
        {"when": "long_context", "model": "gemini/gemini-2.5-pro", "threshold": 60_000}
    ]
    bad = await call(
        proxy.url, "POST", "/presets", {**preset, "rules": [{"when": "sometimes", "model": "x"}]}
    )
    assert bad.status == 400 and "rules.0" in bad.error


def test_bad_rule_in_file_names_file_and_line(tmp_path: Path) -> None:
    text = RULES_PRESET.replace('when = "web_search"', 'when = "whenever"')
    with pytest.raises(PresetFileError, match=r"presets.toml: line \d+: preset 'routed': rule"):
        parse_presets(text, tmp_path / "presets.toml", builtin=False)


async def test_a_request_refused_before_routing_is_still_logged(make_proxy: ProxyFactory) -> None:
    proxy = await make_proxy(BIG_MODEL="gemini/gemini-2.5-pro", GEMINI_API_KEY="")
    answer = await call(proxy.url, "POST", "/v1/messages", turn("hi"))
    assert answer.status == 401 and "GEMINI_API_KEY" in answer.error
    errors = await call(proxy.url, "GET", "/debug_logs?log_type=error")
    assert any("GEMINI_API_KEY" in entry["summary"] for entry in errors.json["entries"]), (
        errors.text
    )
    stats = await call(proxy.url, "GET", "/stats")
    assert stats.json["totals"]["errors"] >= 1
