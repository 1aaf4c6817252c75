"""Choices survive a restart: the preset (proxy state), the theme and the log filter (TUI state);
a fresh start says `default (.env)`."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Input, Select

from app.ui.proxy_app import ProxyApp
from screens.main import FilterBar
from screens.request_log import LogFilter, RequestLog
from screens.status_bar import StatusBar
from tests.support.fake_upstream import FakeUpstream
from tests.support.tui_support import build_app, isolated_tui, ready, wait_for

__all__ = ["isolated_tui"]


def header(app: ProxyApp) -> str:
    """The status bar's first line as shown."""
    return app.screen.query_one(StatusBar).render_line(0).text


async def test_a_fresh_start_says_default_env(upstream: FakeUpstream, tmp_path: Path) -> None:
    async with build_app(upstream, tmp_path).run_test(size=(120, 30)) as pilot:
        app = await ready(pilot)
        assert app.status.preset_label == "default (.env)"
        await wait_for(lambda: "preset default (.env)" in header(app), pilot=pilot)


async def test_preset_theme_and_filter_come_back(upstream: FakeUpstream, tmp_path: Path) -> None:
    async with build_app(upstream, tmp_path).run_test(size=(120, 30)) as pilot:
        app = await ready(pilot)
        await pilot.press("2")
        await wait_for(lambda: app.status.preset == "gemini_balanced", pilot=pilot)
        await pilot.press("ctrl+t")
        await wait_for(lambda: app.memory.choices.theme == "textual-light", pilot=pilot)
        await pilot.press("f", *"flash")
        await wait_for(lambda: app.memory.choices.filter_model == "flash", pilot=pilot)
        await pilot.press("enter")
        await pilot.press("q")
    assert app.return_code == 0

    async with build_app(upstream, tmp_path).run_test(size=(120, 30)) as pilot:
        app = await ready(pilot)
        assert app.status.preset == "gemini_balanced"
        assert app.status.big == "gemini/gemini-3.1-pro-preview"
        await wait_for(lambda: "preset gemini_balanced" in header(app), pilot=pilot)
        assert app.theme == "textual-light"
        main = app.main_screen
        assert main.query_one(FilterBar).display
        assert main.query_one("#filter-model", Input).value == "flash"
        assert main.query_one(RequestLog).filter == LogFilter("flash", "all")
        # Closing the filter is remembered too; `0` goes back to the .env models.
        await pilot.press("escape")
        await wait_for(lambda: app.memory.choices.filter_model == "", pilot=pilot)
        await pilot.press("0")
        await wait_for(lambda: app.status.preset_label == "default (.env)", pilot=pilot)
        await pilot.press("q")

    async with build_app(upstream, tmp_path).run_test(size=(120, 30)) as pilot:
        app = await ready(pilot)
        assert app.status.preset_label == "default (.env)"
        assert not app.main_screen.query_one(FilterBar).display
        assert app.main_screen.query_one("#filter-status", Select).value == "all"
