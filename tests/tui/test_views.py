"""Pilot tests: request detail and replay, history clear/export, config test, keys, quit."""

from __future__ import annotations

import contextlib
import json
import re
import socket
import stat
from pathlib import Path

import anthropic
from textual.widgets import Input, TextArea

from screens.config_test import ConfigTestScreen
from screens.detail import DetailScreen
from screens.dialogs import ChooseModelScreen, PromptScreen
from screens.history import HistoryScreen
from screens.keys import KeysScreen
from tests.conftest import FAKE_KEYS
from tests.support.fake_upstream import FakeUpstream, Reply
from tests.support.tui_support import (
    TuiFactory,
    build_app,
    isolated_tui,
    make_tui,
    ready,
    screen_svg,
    tui_mode,
    wait_for,
)
from tests.tui.test_switching import ask

__all__ = ["isolated_tui", "make_tui", "tui_mode"]


async def test_detail_and_replay_on_another_model(
    upstream: FakeUpstream, tmp_path: Path, make_tui: TuiFactory
) -> None:
    upstream.script.extend([Reply(text="answer from big"), Reply(text="answer from nano")])
    async with make_tui(upstream, tmp_path).run_test(size=(80, 24)) as pilot:
        app = await ready(pilot)
        await ask(app)
        await wait_for(lambda: len(app.store) == 1 and next(iter(app.store)).status == "ok")
        await pilot.pause(0.1)
        await pilot.press("enter")
        screen = await wait_for(lambda: isinstance(app.screen, DetailScreen) and app.screen)
        upstream_json = screen.query_one("#upstream-json", TextArea)
        await wait_for(lambda: '"model": "gpt-4.1"' in upstream_json.text, pilot=pilot)
        response = screen.query_one("#response-json", TextArea).text
        assert "answer from big" in response
        await pilot.press("r")
        chooser = await wait_for(lambda: isinstance(app.screen, ChooseModelScreen) and app.screen)
        await pilot.press(*"gpt-4.1-nano")
        await wait_for(
            lambda: chooser.query_one("#choices").highlighted_option.id == "openai/gpt-4.1-nano",  # type: ignore[attr-defined]
            pilot=pilot,
        )
        await pilot.press("enter")
        replay_side = await wait_for(lambda: screen.query("#replay-side"), pilot=pilot)
        assert upstream.requests[-1].model == "gpt-4.1-nano"
        # The same client body went out again (only the model differs).
        assert upstream.requests[-1].body["messages"] == upstream.requests[0].body["messages"]  # type: ignore[index]
        svg = screen_svg(app)
        assert "answer&#160;from&#160;big" in svg and "answer&#160;from&#160;nano" in svg
        assert replay_side.first().query_one("Markdown").source == "answer from nano"  # type: ignore[attr-defined]


async def test_history_export_then_clear(
    upstream: FakeUpstream, tmp_path: Path, make_tui: TuiFactory
) -> None:
    upstream.script.extend([Reply(text="first reply"), Reply(text="second reply")])
    async with make_tui(upstream, tmp_path).run_test(size=(80, 24)) as pilot:
        app = await ready(pilot)
        await ask(app, content="first question")
        await ask(app, "claude-haiku-4-5", content="second question")
        await wait_for(lambda: sum(r.status == "ok" for r in app.store) == 2)
        await pilot.press("h")
        screen = await wait_for(lambda: isinstance(app.screen, HistoryScreen) and app.screen)
        status = screen.query_one("#history-status")
        await wait_for(lambda: "4 of" in str(status.render()), pilot=pilot)
        for name in ("export.json", "export.md"):
            await pilot.press("x")
            prompt = await wait_for(lambda: isinstance(app.screen, PromptScreen) and app.screen)
            prompt.query_one(Input).value = str(tmp_path / name)
            await pilot.press("enter")
            await wait_for(lambda n=name: (tmp_path / n).is_file(), pilot=pilot)
        exported = json.loads((tmp_path / "export.json").read_text())
        turns = [(m["role"], m["content"], m["model_used"]) for m in exported["messages"]]
        assert ("assistant", "second reply", "openai/gpt-4.1-mini") in turns
        assert "first reply" in (tmp_path / "export.md").read_text()
        await pilot.press("c", "y")
        await wait_for(lambda: str(status.render()).startswith("0 of"), pilot=pilot)
        assert await app.backend.history() == []
        # Persistence on, to a file, and off again.
        await pilot.press("p")
        prompt = await wait_for(lambda: isinstance(app.screen, PromptScreen) and app.screen)
        prompt.query_one(Input).value = str(tmp_path / "kept.json")
        await pilot.press("enter")
        await wait_for(lambda: "kept.json" in str(status.render()), pilot=pilot)
        assert (tmp_path / "kept.json").is_file()
        await pilot.press("p")
        await wait_for(lambda: "persistence: off" in str(status.render()), pilot=pilot)


async def test_debug_log_export_writes_jsonl_with_keys_masked(
    upstream: FakeUpstream, tmp_path: Path, make_tui: TuiFactory
) -> None:
    key = FAKE_KEYS["OPENAI_API_KEY"]
    upstream.script.append(Reply(status=401, error_message=f"Incorrect API key provided: {key}"))
    async with make_tui(upstream, tmp_path).run_test(size=(80, 24)) as pilot:
        app = await ready(pilot)
        with contextlib.suppress(anthropic.AuthenticationError):
            await ask(app)
        await wait_for(lambda: len(app.store) == 1 and next(iter(app.store)).status == "error")
        await pilot.press("d", "x")
        prompt = await wait_for(lambda: isinstance(app.screen, PromptScreen) and app.screen)
        prompt.query_one(Input).value = str(tmp_path / "out" / "debug.jsonl")
        await pilot.press("enter")
        target = tmp_path / "out" / "debug.jsonl"
        await wait_for(lambda: target.is_file(), pilot=pilot)
    text = target.read_text()
    entries = [json.loads(line) for line in text.splitlines()]
    assert {e["type"] for e in entries} >= {"request", "model_mapping", "error"}
    assert "Incorrect API key provided" in text and key not in text


async def test_config_test_shows_latency_or_the_exact_error(
    upstream: FakeUpstream, tmp_path: Path, make_tui: TuiFactory
) -> None:
    # Big answers; small maps to Gemini, which has no key here: the probe shows why.
    env = {"SMALL_MODEL": "gemini/gemini-2.5-flash", "GEMINI_API_KEY": ""}
    async with make_tui(upstream, tmp_path, **env).run_test(size=(80, 24)) as pilot:
        app = await ready(pilot)
        await pilot.press("t")
        screen = await wait_for(lambda: isinstance(app.screen, ConfigTestScreen) and app.screen)
        big, small = screen.query_one("#probe-big"), screen.query_one("#probe-small")
        await wait_for(lambda: "✓ ok" in str(big.render()), pilot=pilot)
        await wait_for(lambda: "✗ 401" in str(small.render()), pilot=pilot)
        assert "set GEMINI_API_KEY" in str(small.render())
        # A latency, however long the probe took under load: "850ms", "1.2s" or "1m05s".
        assert re.search(r"\d(ms|s)\b", str(big.render())), str(big.render())
        # The header said so before anyone sent a request.
        assert app.status.small_key_missing == "GEMINI_API_KEY"


async def test_first_run_asks_for_keys_and_writes_env_0600(tmp_path: Path) -> None:
    env = {
        "OPENAI_API_KEY": "",
        "OPENAI_API_BASE": "",
    }
    app = build_app(None, tmp_path, first_run_prompt=True, **env)
    assert app.backend.settings.openai_api_key is None  # type: ignore[attr-defined]
    secret = "sk-test-entered-in-the-tui-7777"
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        assert app.status.no_provider_key
        await wait_for(lambda: isinstance(app.screen, KeysScreen))
        await wait_for(lambda: isinstance(app.focused, Input), pilot=pilot)
        await pilot.press(*secret)
        # Masked while typed: the key never appears on screen.
        assert secret not in screen_svg(app)
        await pilot.press("enter")
        await wait_for(lambda: not isinstance(app.screen, KeysScreen), pilot=pilot)
        await wait_for(lambda: not app.status.no_provider_key, pilot=pilot)
        assert app.backend.proxy.service.settings.openai_api_key == secret  # type: ignore[attr-defined]
    env_file = tmp_path / ".env"
    assert f"OPENAI_API_KEY={secret}" in env_file.read_text().splitlines()
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600


async def test_quit_stops_the_proxy_and_releases_the_port(
    upstream: FakeUpstream, tmp_path: Path
) -> None:
    app = build_app(upstream, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        proxy = app.backend.proxy  # type: ignore[attr-defined]
        port = proxy.server.port
        await ask(app)
        await pilot.press("q")
        await wait_for(lambda: app.return_code is not None, pilot=pilot)
    assert app.return_code == 0
    assert proxy.thread is not None and not proxy.thread.is_alive()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


async def test_port_in_use_is_a_message_not_a_traceback(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        app = build_app(None, tmp_path, PORT=str(port))
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for(lambda: app.state == "error", pilot=pilot)
            assert f"cannot listen on 127.0.0.1:{port}" in app.status.message
            notice = app.main_screen.query_one("#notice")
            # The notice follows the status on the next frame (under load, a few frames later).
            await wait_for(
                lambda: notice.display and "Press q to quit" in str(notice.render()), pilot=pilot
            )
            await pilot.press("q")
            await wait_for(lambda: app.return_code is not None, pilot=pilot)
        assert app.return_code == 1
