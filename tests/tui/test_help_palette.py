"""Help lists the keys of the screen it is opened from; the palette has one entry per name;
the model search puts the closest names first."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from app.client.model_search import search
from app.ui.proxy_app import ProxyApp
from screens.help import HelpScreen, key_name
from tests.support.fake_upstream import FakeUpstream, Reply
from tests.support.tui_support import build_app, isolated_tui, ready, wait_for
from tests.tui.test_switching import ask

__all__ = ["isolated_tui"]

# The view's key, then keys its help must list (as printed) besides Esc and the app's keys.
VIEWS = {
    "main": ("", {"Enter", "f", "End", "Esc", "↑ ↓"}),
    "models": ("m", {"b", "s", "/", "↓ Enter"}),
    "presets": ("p", {"Enter", "n", "Delete"}),
    "history": ("h", {"x", "c", "p", "r", "Tab"}),
    "debug": ("d", {"v", "x", "Tab"}),
    "stats": ("s", set()),
    "usage": ("u", set()),
    "detail": ("enter", {"r", "← →", "Tab"}),
}


async def open_help(pilot: Pilot[Any], view_key: str) -> HelpScreen:
    """Open a view (from the log), then the help over it with F1 (works in a text input too)."""
    app = pilot.app
    if view_key:
        await pilot.press(view_key)
        await wait_for(lambda: len(app.screen_stack) == 2, pilot=pilot)
    below = app.screen
    await pilot.press("f1")
    await wait_for(lambda: isinstance(app.screen, HelpScreen), pilot=pilot)
    help_screen = app.screen
    assert isinstance(help_screen, HelpScreen)
    await pilot.press("escape")
    await wait_for(lambda: app.screen is below, pilot=pilot)
    return help_screen


@pytest.mark.parametrize("view", sorted(VIEWS))
async def test_help_lists_the_keys_of_the_screen_below(
    upstream: FakeUpstream, tmp_path: Path, view: str
) -> None:
    upstream.script.append(Reply(text="an answer"))
    async with build_app(upstream, tmp_path).run_test(size=(100, 30)) as pilot:
        app = await ready(pilot)
        assert isinstance(app, ProxyApp)
        await ask(app)
        await wait_for(lambda: len(app.store) == 1, pilot=pilot)
        view_key, expected = VIEWS[view]
        help_screen = await open_help(pilot, view_key)
        here = {key.key for key in help_screen.here}
        assert expected <= here, here
        if view != "main":
            assert "Esc" in here  # back to the log
        everywhere = {key.key for key in help_screen.everywhere}
        assert {"m", "p", "h", "d", "s", "u", "t", "k", "c", "?", "q", "Ctrl+T"} <= everywhere
        # Every line says what the key does.
        assert all(key.does for key in [*help_screen.here, *help_screen.everywhere])


def test_key_names() -> None:
    assert [key_name(k) for k in ("question_mark", "ctrl+t", "escape", "delete", "b")] == [
        "?",
        "Ctrl+T",
        "Esc",
        "Delete",
        "b",
    ]


async def test_the_palette_has_no_two_entries_with_the_same_name(tmp_path: Path) -> None:
    async with build_app(None, tmp_path).run_test(size=(80, 24)) as pilot:
        app = await ready(pilot)
        titles = [command.title for command in app.get_system_commands(app.screen)]
        assert len(titles) == len(set(titles)), titles
        assert {"Models", "Usage", "Help", "Provider keys", "Quit"} <= set(titles)


CATALOGUE = [
    {"id": name}
    for name in (
        "openai/chatgpt-4o-latest",
        "openai/gpt-4o-2024-05-13",
        "openai/gpt-4o-audio-preview",
        "openai/gpt-4o-mini-2024-07-18",
        "openai/gpt-4o-mini",
        "openai/gpt-4o",
        "gemini/gemini-2.5-flash-lite-preview-09-2025",
        "gemini/gemini-2.5-flash",
        "gemini/gemini-2.5-pro",
        "anthropic/claude-sonnet-4-5-20250929",
        "anthropic/claude-sonnet-4-5",
    )
]


def ids(query: str) -> list[str]:
    return [m["id"] for m in search(CATALOGUE, query)]


def test_the_closest_names_come_first() -> None:
    assert ids("gpt-4o")[:4] == [
        "openai/gpt-4o",
        "openai/gpt-4o-mini",
        "openai/gpt-4o-2024-05-13",
        "openai/gpt-4o-audio-preview",
    ]
    assert ids("gpt-4o")[-1] == "openai/chatgpt-4o-latest"  # 'gpt-4o' only inside a part
    assert ids("openai/gpt-4o-mini")[0] == "openai/gpt-4o-mini"
    assert ids("gemini flash") == [
        "gemini/gemini-2.5-flash",
        "gemini/gemini-2.5-flash-lite-preview-09-2025",
    ]
    assert ids("sonnet")[0] == "anthropic/claude-sonnet-4-5"
    assert ids("") == [m["id"] for m in CATALOGUE]
    assert ids("nothing-like-this") == []
