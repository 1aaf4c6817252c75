"""`claude-proxy statusline`: the JSON Claude Code passes on stdin in, one line out, from the
proxy's own numbers for that session; light enough to run on every prompt; `code` sets it up."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import anthropic
import pytest

from app.cli.launcher import statusline_command, with_statusline
from app.cli.statusline import render
from tests.cli.test_import_hygiene import HEAVY, imported_roots
from tests.conftest import ProxyFactory
from tests.support.fake_upstream import FakeUpstream, Reply
from tests.support.mgmt import call

ROOT = Path(__file__).resolve().parents[2]
SESSION = "f3f42be0-bd9b-44dc-9c0e-3fec9dd99b67"


def claude_code_input(session: str = SESSION, model: str = "claude-opus-5-5") -> str:
    """The statusLine JSON as Claude Code 2.1.197 and 2.1.332 pass it (the fields used here, and
    a few others, with values of our own)."""
    return json.dumps(
        {
            "session_id": session,
            "transcript_path": f"/home/user/.claude/projects/-work/{session}.jsonl",
            "cwd": "/work",
            "model": {"id": model, "display_name": model},
            "workspace": {"current_dir": "/work", "project_dir": "/work", "added_dirs": []},
            "version": "2.1.332",
            "cost": {"total_cost_usd": 0.5, "total_duration_ms": 9339},
        }
    )


async def run_statusline(url: str, stdin: str, **env: str) -> str:
    """`claude-proxy statusline` in a subprocess, as Claude Code runs it (its env inherited)."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "PROXY_"))}
    environ.update({"ANTHROPIC_BASE_URL": url, "ANTHROPIC_AUTH_TOKEN": "any", **env})
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "app.cli", "statusline",
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env=environ, cwd=ROOT,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(stdin.encode()), 30)
    assert process.returncode == 0, err.decode()
    lines = out.decode().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


async def ask(url: str, model: str, session: str = SESSION, key: str = "any") -> None:
    """One request of that Claude Code session."""
    async with anthropic.AsyncAnthropic(
        base_url=url,
        auth_token=key,
        default_headers={"X-Claude-Code-Session-Id": session},
        max_retries=0,
    ) as sdk:
        await sdk.messages.create(
            model=model, max_tokens=8, messages=[{"role": "user", "content": "hi"}]
        )


async def test_the_session_line(make_proxy: ProxyFactory, upstream: FakeUpstream) -> None:
    proxy = await make_proxy(BIG_MODEL="openai/gpt-4.1", SMALL_MODEL="openai/gpt-4.1-mini")
    line = await run_statusline(proxy.url, claude_code_input())
    assert line == "⇄ openai/gpt-4.1 (next) · preset default (.env)"
    upstream.script += [Reply(prompt_tokens=1200, completion_tokens=34)] * 2
    await ask(proxy.url, "claude-opus-5-5")
    # A background call of the same session does not change the model shown.
    await ask(proxy.url, "claude-haiku-4-5")
    line = await run_statusline(proxy.url, claude_code_input())
    # 2 x (1200 + 34) tokens, priced by the proxy for gpt-4.1 and gpt-4.1-mini.
    assert line.startswith("⇄ openai/gpt-4.1 · preset default (.env) · 2.5k tok · $0.00")
    # `/model openai/gpt-4o-mini` in Claude Code, then a preset switched in the TUI.
    await ask(proxy.url, "openai/gpt-4o-mini")
    await call(proxy.url, "POST", "/switch_model", {"preset": "cross_premium"})
    line = await run_statusline(proxy.url, claude_code_input(model="openai/gpt-4o-mini"))
    assert line.startswith("⇄ openai/gpt-4o-mini (/model) · preset cross_premium · ")
    # Another session has its own numbers.
    other = await run_statusline(proxy.url, claude_code_input(session="another"))
    assert other == "⇄ openai/gpt-5.5 (next) · preset cross_premium"


async def test_a_keyed_proxy_and_a_proxy_that_is_gone(make_proxy: ProxyFactory) -> None:
    key = "sk-test-proxy-key-000000000000099"
    proxy = await make_proxy(PROXY_API_KEY=key)
    refused = await run_statusline(proxy.url, claude_code_input())
    assert refused.startswith("claude-proxy: key refused")
    line = await run_statusline(proxy.url, claude_code_input(), ANTHROPIC_AUTH_TOKEN=key)
    assert line.startswith("⇄ ")
    url = proxy.url
    await proxy.stop()
    gone = await run_statusline(url, claude_code_input())
    assert gone == f"claude-proxy: not reachable at {url.removeprefix('http://')}"


async def test_without_the_store(make_proxy: ProxyFactory, upstream: FakeUpstream) -> None:
    proxy = await make_proxy(STORE_ENABLED="false")
    await ask(proxy.url, "claude-opus-5-5")
    status = (await call(proxy.url, "GET", f"/sessions/{SESSION}/status")).json
    assert status["usage"] is None and status["recording"]
    line = await run_statusline(proxy.url, claude_code_input())
    assert "preset default (.env)" in line and "tok" not in line


def test_render_never_fails_on_a_sparse_answer() -> None:
    assert render({}) == "⇄ - (next) · preset custom"
    assert render({"model": "gemini/x", "pinned": "gemini/x", "usage": {}}) == (
        "⇄ gemini/x (pinned) · preset custom · 0 tok · $0"
    )


def test_statusline_loads_nothing_heavy() -> None:
    found = imported_roots(["-m", "app.cli.main", "statusline", "--help"]) & HEAVY
    assert not found, f"claude-proxy statusline imports {sorted(found)}"


def test_code_configures_the_statusline(tmp_path: Path) -> None:
    args = with_statusline(["-p", "hi"], home=tmp_path)
    assert args[0] == "--settings" and args[2:] == ["-p", "hi"]
    settings: dict[str, Any] = json.loads(args[1])
    assert settings == {"statusLine": {"type": "command", "command": statusline_command()}}
    assert statusline_command().endswith("statusline")
    # Never over the user's own choice.
    assert with_statusline(["--settings", "{}", "-p", "hi"], home=tmp_path)[0] == "--settings"
    assert with_statusline(["--settings", "{}"], home=tmp_path) == ["--settings", "{}"]
    (tmp_path / ".claude").mkdir()
    (tmp_path / ".claude" / "settings.json").write_text('{"statusLine": {"type": "command"}}')
    assert with_statusline(["-p", "hi"], home=tmp_path) == ["-p", "hi"]


@pytest.mark.parametrize("readme", ["README.md", "README.zh-CN.md"])
def test_the_readme_shows_the_settings_snippet(readme: str) -> None:
    text = (ROOT / readme).read_text()
    assert '"statusLine": {"type": "command", "command": "claude-proxy statusline"}' in text


def test_the_aliases_match_the_routing() -> None:
    from app.cli import statusline
    from proxy.routing import model_map

    assert statusline.CLAUDE_ALIASES == model_map.CLAUDE_ALIASES


async def test_the_model_is_known_while_the_first_request_runs(
    make_proxy: ProxyFactory, upstream: FakeUpstream
) -> None:
    proxy = await make_proxy(BIG_MODEL="openai/gpt-4.1", SMALL_MODEL="openai/gpt-4.1-mini")
    upstream.script.append(Reply(text="slow " * 40, delay_between_chunks=0.05))
    running = asyncio.create_task(ask(proxy.url, "openai/gpt-4o-mini"))
    while not upstream.requests:
        await asyncio.sleep(0.01)
    line = await run_statusline(proxy.url, claude_code_input())
    assert line.startswith("⇄ openai/gpt-4o-mini (/model) · preset default (.env)")
    await running
