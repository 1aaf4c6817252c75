"""Nothing fails silently: a refused save or an unwritable history file is a toast with the text
the HTTP API gives, and an entry in the debug log, in-process and attached alike."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual.notifications import Notify

from app.ui.proxy_app import ProxyApp
from screens.dialogs import PromptScreen, SavePresetScreen
from screens.history import HistoryScreen
from screens.presets import PresetsScreen
from tests.support.fake_upstream import FakeUpstream
from tests.support.mgmt import call
from tests.support.tui_support import TuiFactory, isolated_tui, make_tui, ready, tui_mode, wait_for

__all__ = ["isolated_tui", "make_tui", "tui_mode"]


def toasts(seen: list[Any]) -> list[str]:
    """The notifications the app showed, in order."""
    return [str(m.notification.message) for m in seen if isinstance(m, Notify)]


async def api_error(app: ProxyApp, method: str, path: str, body: dict[str, Any]) -> str:
    """What the proxy's HTTP API answers to the same change."""
    return f"{(answer := await call(app.backend.url, method, path, body)).status}: {answer.error}"


async def error_entries(app: ProxyApp) -> list[str]:
    """The debug log's error summaries (the proxy's own, through the backend)."""
    return [str(e["summary"]) for e in await app.backend.debug_entries("error", 500)]


async def test_an_invalid_preset_name_typed_in_the_dialog(
    upstream: FakeUpstream, tmp_path: Path, make_tui: TuiFactory
) -> None:
    seen: list[Any] = []
    app = make_tui(upstream, tmp_path)
    async with app.run_test(size=(80, 24), message_hook=seen.append) as pilot:
        app = await ready(pilot)
        await pilot.press("p")
        screen = await wait_for(lambda: isinstance(app.screen, PresetsScreen) and app.screen)
        await wait_for(lambda: screen.presets, pilot=pilot)
        await pilot.press("n")
        await wait_for(lambda: isinstance(app.screen, SavePresetScreen), pilot=pilot)
        await pilot.press(*"my preset!", "tab", *"mine", "enter")
        expected = await api_error(
            app,
            "POST",
            "/presets",
            {"name": "my preset!", "big_model": app.status.big, "small_model": app.status.small},
        )
        assert expected.startswith("400: name: 1-64 characters")
        await wait_for(lambda: expected in toasts(seen), pilot=pilot)
        assert isinstance(app.screen, PresetsScreen)
        assert len(screen.presets) == 7
        entries = await error_entries(app)
        assert any("1-64 characters" in e for e in entries), entries


async def test_an_unwritable_history_path(
    upstream: FakeUpstream, tmp_path: Path, make_tui: TuiFactory
) -> None:
    # A file where the folder should be: no user, root included, can write below it.
    (tmp_path / "blocker").write_text("not a folder")
    seen: list[Any] = []
    app = make_tui(upstream, tmp_path)
    async with app.run_test(size=(80, 24), message_hook=seen.append) as pilot:
        app = await ready(pilot)
        await pilot.press("h")
        await wait_for(lambda: isinstance(app.screen, HistoryScreen), pilot=pilot)
        await pilot.press("p")
        await wait_for(lambda: isinstance(app.screen, PromptScreen), pilot=pilot)
        await pilot.press("ctrl+a", "ctrl+k", *"blocker/history.json", "enter")
        await wait_for(lambda: any("blocker" in t for t in toasts(seen)), pilot=pilot)
        said = next(t for t in toasts(seen) if "blocker" in t)
        expected = await api_error(
            app, "POST", "/conversation/enable", {"file_path": "blocker/history.json"}
        )
        assert said == expected, (said, expected)
        assert said.startswith("400: file_path:")
        assert isinstance(app.screen, HistoryScreen)
        status = await app.backend.history_status()
        assert not status.get("enabled")
        entries = await error_entries(app)
        assert any("blocker" in e for e in entries), entries
