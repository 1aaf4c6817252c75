"""Attach mode: the app driving a headless proxy over HTTP (key, connection loss, what it cannot do)."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import anthropic
import pytest

from app.cli.main import attach_target, build_parser, main
from app.client import event_feed
from app.ui.proxy_app import ProxyApp
from proxy.core.settings import ConfigError, load_settings
from proxy.server import runner
from screens.keys import KeysScreen
from screens.main import FilterBar
from screens.request_log import RequestLog
from screens.status_bar import StatusBar
from tests.support.fake_upstream import FakeUpstream
from tests.support.tui_support import (
    attach_app,
    isolated_tui,
    ready,
    screen_svg,
    start_headless,
    tui_settings,
    wait_for,
)

__all__ = ["isolated_tui"]

PROXY_KEY = "proxy-key-for-the-attach-tests-0123456789"


async def ask(app: ProxyApp, api_key: str = "dummy", model: str = "claude-sonnet-4-5") -> None:
    """One small request straight to the proxy the app is attached to."""
    async with anthropic.AsyncAnthropic(
        base_url=app.backend.url, api_key=api_key, max_retries=0
    ) as sdk:
        await sdk.messages.create(
            model=model, max_tokens=8, messages=[{"role": "user", "content": "x"}]
        )


async def test_attached_with_the_proxy_key_and_refused_without_it(
    upstream: FakeUpstream, tmp_path: Path
) -> None:
    proxy = start_headless(tui_settings(upstream, tmp_path, PROXY_API_KEY=PROXY_KEY))
    try:
        app = attach_app(proxy.server.url, tmp_path, api_key=PROXY_KEY)
        async with app.run_test(size=(100, 24)) as pilot:
            await ready(pilot)
            where = proxy.server.url.removeprefix("http://")
            await wait_for(
                lambda: header(app).startswith(f"● attached to {where}  preset"), pilot=pilot
            )
            assert app.status.big == "openai/gpt-4.1"
            assert PROXY_KEY not in screen_svg(app)
            await ask(app, PROXY_KEY)
            log = app.main_screen.query_one(RequestLog)
            await wait_for(lambda: log.row_count == 1, pilot=pilot)
            await pilot.press("1")
            await wait_for(lambda: app.status.preset == "openai_premium", pilot=pilot)
            await ask(app, PROXY_KEY)
            assert upstream.requests[-1].model == "gpt-5.5"
            await wait_for(lambda: log.row_count == 2 and app.status.requests == 2, pilot=pilot)

        refused = attach_app(proxy.server.url, tmp_path)
        async with refused.run_test(size=(100, 24)) as pilot:
            await wait_for(lambda: refused.status.state == "error", pilot=pilot)
            assert "401" in refused.status.message and "PROXY_API_KEY" in refused.status.message
            notice = refused.main_screen.query_one("#notice")
            await wait_for(lambda: notice.display, pilot=pilot)
            assert "--api-key" in str(notice.render())
            await pilot.press("q")
            await wait_for(lambda: refused.return_code is not None, pilot=pilot)
        assert refused.return_code == 1
    finally:
        await asyncio.to_thread(proxy.stop)


def header(app: ProxyApp) -> str:
    """The status bar's text."""
    return str(app.screen.query_one(StatusBar).render())


def free_port() -> int:
    """A loopback port nobody listens on (right now)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_proxy_goes_away_and_comes_back(
    upstream: FakeUpstream, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(event_feed, "INITIAL_BACKOFF", 0.2)
    monkeypatch.setattr(event_feed, "MAX_BACKOFF", 0.8)
    # An open /events stream holds the proxy's shutdown for its whole grace (twice); not the
    # subject here.
    monkeypatch.setattr(runner, "SHUTDOWN_GRACE", 0.2)
    settings = tui_settings(upstream, tmp_path, PORT=str(free_port()))
    proxy = start_headless(settings)
    try:
        app = attach_app(proxy.server.url, tmp_path)
        async with app.run_test(size=(100, 24)) as pilot:
            await ready(pilot)
            await ask(app)
            log = app.main_screen.query_one(RequestLog)
            await wait_for(lambda: log.row_count == 1, pilot=pilot)

            await asyncio.to_thread(proxy.stop)
            await wait_for(lambda: app.state == "disconnected", pilot=pilot, timeout=10)
            await wait_for(
                lambda: header(app).startswith("● disconnected, retrying in "), pilot=pilot
            )
            assert "disconnected,&#160;retrying&#160;in" in screen_svg(app)
            # Nothing froze: keys work while the proxy is away.
            await pilot.press("f")
            assert app.main_screen.query_one(FilterBar).display
            await pilot.press("escape")

            proxy = start_headless(settings)
            await wait_for(lambda: app.state == "ready", pilot=pilot, timeout=10)
            await ask(app, model="claude-haiku-4-5")
            await wait_for(lambda: log.row_count == 2, pilot=pilot)
            newest = list(app.store)[-1]
            await wait_for(lambda: newest.status == "ok", pilot=pilot)
            assert newest.model == "openai/gpt-4.1-mini"
    finally:
        await asyncio.to_thread(proxy.stop)


async def test_local_only_features_say_so(upstream: FakeUpstream, tmp_path: Path) -> None:
    env = {
        "OPENAI_API_KEY": "",
        "OPENAI_API_BASE": "",
        "GEMINI_API_KEY": "",
        "ANTHROPIC_API_KEY": "",
    }
    proxy = start_headless(tui_settings(upstream, tmp_path, **env))
    try:
        app = attach_app(proxy.server.url, tmp_path)
        said: list[str] = []
        app.notify = lambda message, **_: said.append(message)  # type: ignore[method-assign]
        async with app.run_test(size=(100, 24)) as pilot:
            await ready(pilot)
            notice = app.main_screen.query_one("#notice")
            await wait_for(lambda: "no provider key" in str(notice.render()), pilot=pilot)
            await pilot.press("k")
            await pilot.pause()
            assert not isinstance(app.screen, KeysScreen)
            assert any("Unavailable in attach mode" in message for message in said)
    finally:
        await asyncio.to_thread(proxy.stop)


def test_attach_options_and_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PROXY_API_KEY", raising=False)
    parser = build_parser()
    # PROXY_SERVER_ENABLED=false + PROXY_URL attach; HOST/PORT are not checked (nothing binds).
    env = {"PROXY_SERVER_ENABLED": "false", "PROXY_URL": "http://10.0.0.5:8082/", "HOST": "0.0.0.0"}
    settings = load_settings(environ=env, listen_checks=False)
    assert attach_target(parser.parse_args([]), settings) == "http://10.0.0.5:8082"
    args = parser.parse_args(["--attach", "http://127.0.0.1:9/", "--api-key", "k-123"])
    assert attach_target(args, load_settings(environ={}, listen_checks=False)) == (
        "http://127.0.0.1:9"
    )
    no_url = load_settings(environ={"PROXY_SERVER_ENABLED": "false"}, listen_checks=False)
    with pytest.raises(ConfigError, match="needs PROXY_URL"):
        attach_target(parser.parse_args([]), no_url)
    with pytest.raises(ConfigError, match="cannot be --headless"):
        attach_target(parser.parse_args(["--headless", "--attach", "http://x:1"]), no_url)
    # --headless always serves, so the listen checks still hold with the TUI setting in .env.
    env_file = tmp_path / ".env"
    env_file.write_text("PROXY_SERVER_ENABLED=false\nHOST=0.0.0.0\n")
    assert main(["--headless", "--env-file", str(env_file)]) == 2
    # The TUI needs a terminal (pytest captures stdout).
    assert main(["--attach", "http://127.0.0.1:9"]) == 2
