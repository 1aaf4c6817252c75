"""The presets view marks a preset whose provider has no key or whose model the catalogue lacks."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Static

from app.ui.proxy_app import ProxyApp
from screens.presets import PresetsScreen
from tests.support.fake_upstream import FakeUpstream
from tests.support.tui_support import TuiFactory, isolated_tui, make_tui, ready, tui_mode, wait_for

__all__ = ["isolated_tui", "make_tui", "tui_mode"]

USER_PRESET = '[presets.dreams]\nbig = "openai/gpt-99-imaginary"\nsmall = "openai/gpt-5.4-mini"\n'


async def open_presets(app: ProxyApp, pilot: object) -> PresetsScreen:
    """Press p and wait until the rows and their marks are in."""
    await pilot.press("p")  # type: ignore[attr-defined]
    screen = await wait_for(lambda: isinstance(app.screen, PresetsScreen) and app.screen)
    await wait_for(lambda: len(screen.presets) == 8, pilot=pilot)  # type: ignore[arg-type]
    return screen


async def test_no_key_and_unknown_model_are_marked(
    upstream: FakeUpstream, tmp_path: Path, make_tui: TuiFactory
) -> None:
    (tmp_path / "presets.toml").write_text(USER_PRESET)
    app = make_tui(upstream, tmp_path, GEMINI_API_KEY="")
    async with app.run_test(size=(160, 48)) as pilot:
        app = await ready(pilot)
        screen = await open_presets(app, pilot)
        await wait_for(lambda: screen.problems, pilot=pilot)
        # Every preset with a Gemini model, and only those, says which key to set.
        gemini = {p.name for p in screen.presets if "gemini/" in p.big + p.small}
        no_key = {
            name
            for name, found in screen.problems.items()
            if any("set GEMINI_API_KEY" in why for why in found.values())
        }
        assert (
            no_key
            == gemini
            == {
                "gemini_balanced",
                "cross_premium",
                "cross_balanced",
                "cross_speed",
            }
        )
        assert screen.problems["dreams"] == {
            "big": "not in LiteLLM's catalogue (no price, no context window)"
        }
        assert "openai_premium" not in screen.problems
        # The table flags them; the line under it says why for the highlighted one.
        table = screen.query_one("#presets")
        assert str(table.get_cell("gemini_balanced", "name")).endswith(" !")
        assert not str(table.get_cell("openai_premium", "name")).endswith(" !")
        await pilot.press("ctrl+end")
        await pilot.pause()
        hint = str(screen.query_one("#preset-description", Static).render())
        assert "! big not in LiteLLM's catalogue" in hint


async def test_the_mark_fits_at_80_columns(
    upstream: FakeUpstream, tmp_path: Path, make_tui: TuiFactory
) -> None:
    """At 80 columns every marked name keeps its `!` (gemini_balanced's was cut off)."""
    (tmp_path / "presets.toml").write_text(
        USER_PRESET.replace("dreams", "a_very_long_name_of_mine")
    )
    app = make_tui(upstream, tmp_path, GEMINI_API_KEY="")
    async with app.run_test(size=(80, 24)) as pilot:
        app = await ready(pilot)
        screen = await open_presets(app, pilot)
        await wait_for(lambda: screen.problems, pilot=pilot)
        table = screen.query_one("#presets")
        width = table.columns["name"].width  # type: ignore[attr-defined]
        for name in screen.problems:
            label = table.get_cell(name, "name")  # type: ignore[attr-defined]
            assert label.cell_len <= width and label.plain.endswith(" !"), label.plain
