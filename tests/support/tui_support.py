"""Helpers for the TUI tests: build the real app against the fake upstream, wait for things.

`make_tui` builds the app both ways (a parametrized fixture): in-process, and attached over HTTP
to a headless proxy on a loopback port (its own thread and loop, like a separate process).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from app.ui.proxy_app import ProxyApp
from app.ui.tui import make_app
from proxy.core.settings import Settings, load_settings
from proxy.server.runner import ProxyThread
from tests.conftest import proxy_env
from tests.support.fake_upstream import FakeUpstream

BIG, SMALL = "openai/gpt-4.1", "openai/gpt-4.1-mini"


@pytest.fixture(autouse=True)
def isolated_tui(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No developer config, no LiteLLM import (seconds of CPU the tests do not need), UTC clock."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    # The proxy starts importing LiteLLM in the background; no test here routes through it.
    monkeypatch.setattr("proxy.server.runner.start_import", lambda: None)
    yield
    monkeypatch.undo()
    time.tzset()


def tui_settings(upstream: FakeUpstream | None, tmp_path: Path, **env: str) -> Any:
    """Settings on port 0 against the fake upstream (or an unreachable one), presets in tmp."""
    base: dict[str, str] = {"BIG_MODEL": BIG, "SMALL_MODEL": SMALL}
    base["PRESETS_FILE"] = str(tmp_path / "presets.toml")
    # History files named in the TUI must be inside the data folder: tmp_path here.
    base["DATA_DIR"] = str(tmp_path)
    base.update(env)
    if upstream is not None:
        environ = proxy_env(upstream, **base)
    else:
        environ = {
            "OPENAI_API_KEY": "sk-test-openai-0000000000001234",
            "OPENAI_API_BASE": "http://127.0.0.1:9/v1",
            "HOST": "127.0.0.1",
            "PORT": "0",
            **base,
        }
    return load_settings(environ=environ)


def build_app(
    upstream: FakeUpstream | None, tmp_path: Path, first_run_prompt: bool = False, **env: str
) -> ProxyApp:
    """The app exactly as the CLI builds it, configured for a test."""
    settings = tui_settings(upstream, tmp_path, **env)
    return make_app(settings, env_file=tmp_path / ".env", first_run_prompt=first_run_prompt)


def start_headless(settings: Settings) -> ProxyThread:
    """A headless proxy on its own thread and loop (the test stops it)."""
    proxy = ProxyThread(settings)
    proxy.start()
    return proxy


def attach_app(url: str, tmp_path: Path, api_key: str | None = None) -> ProxyApp:
    """The app as `claude-proxy` builds it with PROXY_SERVER_ENABLED=false and PROXY_URL."""
    environ = {"PROXY_SERVER_ENABLED": "false", "PROXY_URL": url}
    if api_key:
        environ["PROXY_API_KEY"] = api_key
    settings = load_settings(environ=environ, listen_checks=False)
    return make_app(settings, env_file=tmp_path / ".env")


TuiFactory = Callable[..., ProxyApp]


@pytest.fixture(params=["local", "attach"])
def tui_mode(request: pytest.FixtureRequest) -> str:
    """In-process proxy, or the app attached to a headless one."""
    return str(request.param)


@pytest.fixture
async def make_tui(tui_mode: str) -> AsyncIterator[TuiFactory]:
    """`build_app` either way; in attach mode the proxy gets the same settings, headless."""
    headless: list[ProxyThread] = []

    def factory(upstream: FakeUpstream | None, tmp_path: Path, **env: str) -> ProxyApp:
        if tui_mode == "local":
            return build_app(upstream, tmp_path, **env)
        proxy = start_headless(tui_settings(upstream, tmp_path, **env))
        headless.append(proxy)
        return attach_app(proxy.server.url, tmp_path, api_key=env.get("PROXY_API_KEY"))

    yield factory
    for proxy in headless:
        await asyncio.to_thread(proxy.stop)


async def wait_for(
    condition: Callable[[], Any], timeout: float = 15.0, pilot: Pilot[Any] | None = None
) -> Any:
    """Poll until `condition()` is truthy (letting the app run); fails the test on timeout.

    The default is generous: a passing wait returns at once, and a 2-core CI machine running
    two test workers can take seconds to start an embedded proxy."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {condition}")
        if pilot is not None:
            await pilot.pause(0.02)
        else:
            await asyncio.sleep(0.02)


async def ready(pilot: Pilot[Any]) -> ProxyApp:
    """Wait until the embedded proxy listens (or the attached one is connected); the app."""
    app = pilot.app
    assert isinstance(app, ProxyApp)
    await wait_for(lambda: app.state == "ready", pilot=pilot)
    return app


def screen_svg(app: ProxyApp) -> str:
    """The screen as an SVG export (its text is what a user sees)."""
    return app.export_screenshot()
