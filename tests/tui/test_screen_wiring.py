"""Screens get their dependencies in the constructor; their workers' failures reach the app."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from textual.notifications import Notify
from textual.widgets import Input

from screens.dialogs import SavePresetScreen
from screens.presets import PresetsScreen
from tests.support.fake_upstream import FakeUpstream
from tests.support.tui_support import TuiFactory, isolated_tui, make_tui, ready, tui_mode, wait_for

__all__ = ["isolated_tui", "make_tui", "tui_mode"]

ROOT = Path(__file__).resolve().parents[2]


def test_screens_never_reach_into_the_app_untyped() -> None:
    sources = [*sorted((ROOT / "screens").glob("*.py")), ROOT / "app" / "ui" / "commands.py"]
    found = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in sources
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if re.search(r"type:\s*ignore\[attr-defined\]", line)
    ]
    assert found == []


async def test_a_failing_screen_worker_is_a_toast_and_a_debug_entry(
    upstream: FakeUpstream, tmp_path: Path, make_tui: TuiFactory, tui_mode: str
) -> None:
    seen: list[Any] = []
    async with make_tui(upstream, tmp_path).run_test(
        size=(80, 24), message_hook=seen.append
    ) as pilot:
        app = await ready(pilot)
        await pilot.press("p")
        screen = await wait_for(lambda: isinstance(app.screen, PresetsScreen) and app.screen)
        await wait_for(lambda: screen.presets, pilot=pilot)
        await pilot.press("n")
        dialog = await wait_for(lambda: isinstance(app.screen, SavePresetScreen) and app.screen)
        dialog.query_one("#preset-name", Input).value = "not a valid name!"
        dialog.query_one("#preset-description", Input).focus()
        await pilot.press("enter")

        def toasts() -> list[str]:
            return [str(m.notification.message) for m in seen if isinstance(m, Notify)]

        # The worker that saves runs on the presets screen; the proxy refuses the name.
        await wait_for(lambda: any("1-64 characters" in t for t in toasts()), pilot=pilot)
        assert any(t.startswith("400: name:") for t in toasts()), toasts()
        if tui_mode == "local":
            entries = await app.backend.debug_entries("error")
            assert any("1-64 characters" in e["summary"] for e in entries), entries
