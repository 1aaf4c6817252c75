"""Pilot tests: preset number keys, the model search list and saving a preset steer the proxy."""

from __future__ import annotations

import tomllib
from pathlib import Path

import anthropic

from app.ui.proxy_app import ProxyApp
from screens.models import ModelPickerScreen, ModelTable
from screens.presets import PresetsScreen
from tests.support.fake_upstream import FakeUpstream
from tests.support.tui_support import TuiFactory, isolated_tui, make_tui, ready, tui_mode, wait_for

__all__ = ["isolated_tui", "make_tui", "tui_mode"]


async def ask(app: ProxyApp, model: str = "claude-sonnet-4-5", content: str = "x") -> None:
    """One small request through the app's proxy."""
    async with anthropic.AsyncAnthropic(
        base_url=app.backend.url, api_key="dummy", max_retries=0
    ) as sdk:
        await sdk.messages.create(
            model=model, max_tokens=8, messages=[{"role": "user", "content": content}]
        )


async def test_number_keys_apply_presets(
    upstream: FakeUpstream, tmp_path: Path, make_tui: TuiFactory
) -> None:
    async with make_tui(upstream, tmp_path).run_test(size=(80, 24)) as pilot:
        app = await ready(pilot)
        await ask(app)
        assert upstream.requests[-1].model == "gpt-4.1"
        # Preset 1 is openai_premium (gpt-5.5 / gpt-5.4-mini), from anywhere: here the log.
        await pilot.press("1")
        await wait_for(lambda: app.status.preset == "openai_premium", pilot=pilot)
        await ask(app)
        assert upstream.requests[-1].model == "gpt-5.5"
        await ask(app, "claude-haiku-4-5")
        assert upstream.requests[-1].model == "gpt-5.4-mini"
        # ...and from another view.
        await pilot.press("p")
        await wait_for(lambda: isinstance(app.screen, PresetsScreen), pilot=pilot)
        await pilot.press("4")  # cross_premium: gpt-5.5 / gemini-3.5-flash
        await wait_for(lambda: app.status.preset == "cross_premium", pilot=pilot)
        await ask(app, "claude-haiku-4-5")
        assert upstream.requests[-1].dialect == "gemini"
        assert upstream.requests[-1].model == "gemini-3.5-flash"
        # Enter on a row applies it too.
        await pilot.press("ctrl+home", "enter")
        await wait_for(lambda: app.status.preset == "openai_premium", pilot=pilot)


async def test_pick_a_model_through_the_search_list(
    upstream: FakeUpstream, tmp_path: Path, make_tui: TuiFactory
) -> None:
    async with make_tui(upstream, tmp_path).run_test(size=(80, 24)) as pilot:
        app = await ready(pilot)
        await pilot.press("m")
        screen = await wait_for(lambda: isinstance(app.screen, ModelPickerScreen) and app.screen)
        table = screen.query_one(ModelTable)
        await wait_for(lambda: table.row_count > 60, pilot=pilot)
        await pilot.press(*"4.1-nano")
        await wait_for(lambda: screen.highlighted == "openai/gpt-4.1-nano", pilot=pilot)
        await pilot.press("down", "b")
        await wait_for(lambda: app.status.big == "openai/gpt-4.1-nano", pilot=pilot)
        await pilot.press("slash", "ctrl+a", "ctrl+k", *"4o-mini")
        await wait_for(lambda: screen.highlighted == "openai/gpt-4o-mini", pilot=pilot)
        await pilot.press("enter", "s")
        await wait_for(lambda: app.status.small == "openai/gpt-4o-mini", pilot=pilot)
        assert app.status.preset is None
        await ask(app)
        assert upstream.requests[-1].model == "gpt-4.1-nano"
        await ask(app, "claude-3-5-haiku-20241022")
        assert upstream.requests[-1].model == "gpt-4o-mini"


async def test_save_the_current_pair_as_a_preset(
    upstream: FakeUpstream, tmp_path: Path, make_tui: TuiFactory
) -> None:
    async with make_tui(upstream, tmp_path).run_test(size=(80, 24)) as pilot:
        app = await ready(pilot)
        await pilot.press("p")
        screen = await wait_for(lambda: isinstance(app.screen, PresetsScreen) and app.screen)
        await wait_for(lambda: len(screen.presets) == 7, pilot=pilot)
        await pilot.press("n", *"team-default", "enter", *"what we use", "enter")
        await wait_for(lambda: len(screen.presets) == 8, pilot=pilot)
        saved = tomllib.loads((tmp_path / "presets.toml").read_text())
        assert saved["presets"]["team-default"]["big"] == "openai/gpt-4.1"
        # It is the 8th preset: key 8 applies it.
        await pilot.press("1")
        await wait_for(lambda: app.status.preset == "openai_premium", pilot=pilot)
        await pilot.press("8")
        await wait_for(lambda: app.status.preset == "team-default", pilot=pilot)
        assert app.status.big == "openai/gpt-4.1"
        # A user preset can be deleted (after a confirmation).
        await pilot.press("ctrl+end", "delete", "y")
        await wait_for(lambda: len(screen.presets) == 7, pilot=pilot)
