"""Helpers for the TUI tests: build the real app against the fake upstream, wait for things."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from app.proxy_app import ProxyApp
from app.tui import make_app
from proxy.settings import load_settings
from tests.conftest import proxy_env
from tests.fake_upstream import FakeUpstream

BIG, SMALL = "openai/gpt-4.1", "openai/gpt-4.1-mini"


@pytest.fixture(autouse=True)
def isolated_tui(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No developer config, no LiteLLM import (seconds of CPU the tests do not need), UTC clock."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    # The proxy starts importing LiteLLM in the background; no test here routes through it.
    monkeypatch.setattr("proxy.runner.start_import", lambda: None)
    yield
    monkeypatch.undo()
    time.tzset()


def tui_settings(upstream: FakeUpstream | None, tmp_path: Path, **env: str) -> Any:
    """Settings on port 0 against the fake upstream (or an unreachable one), presets in tmp."""
    base: dict[str, str] = {"BIG_MODEL": BIG, "SMALL_MODEL": SMALL}
    base["PRESETS_FILE"] = str(tmp_path / "presets.toml")
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


async def wait_for(
    condition: Callable[[], Any], timeout: float = 5.0, pilot: Pilot[Any] | None = None
) -> Any:
    """Poll until `condition()` is truthy (letting the app run); fails the test on timeout."""
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
    """Wait until the embedded proxy listens; returns the app."""
    app = pilot.app
    assert isinstance(app, ProxyApp)
    await wait_for(lambda: app.state == "ready", pilot=pilot)
    return app


def screen_svg(app: ProxyApp) -> str:
    """The screen as an SVG export (its text is what a user sees)."""
    return app.export_screenshot()
