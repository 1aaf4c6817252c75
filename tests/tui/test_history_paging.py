"""The History view on 100,000 stored turns: it opens with one page, loads the next when scrolled
to the end, and searches turn text through the store's full-text index (in-process and attached).

Timing is not asserted here: `uv run python -m bench.history_open` measures the open."""

from __future__ import annotations

from pathlib import Path

from screens.history import PAGE, HistoryScreen, TurnLog
from tests.support.history_data import seed_turns
from tests.support.tui_support import TuiFactory, isolated_tui, make_tui, ready, tui_mode, wait_for

__all__ = ["isolated_tui", "make_tui", "tui_mode"]

TURNS = 100_000


def status_text(screen: HistoryScreen) -> str:
    """The status line under the turns."""
    return str(screen.query_one("#history-status").render())


async def test_history_pages_through_100000_turns(tmp_path: Path, make_tui: TuiFactory) -> None:
    seed_turns(tmp_path / "claude-proxy.db", TURNS)
    async with make_tui(None, tmp_path).run_test(size=(120, 40)) as pilot:
        app = await ready(pilot)
        await pilot.press("h")
        screen = await wait_for(lambda: isinstance(app.screen, HistoryScreen) and app.screen)
        await wait_for(lambda: f"{PAGE} of {TURNS} turns" in status_text(screen), pilot=pilot)
        assert len(screen.turns) == PAGE
        # Newest first: the last seeded turn is on top.
        assert screen.turns[0]["content"].endswith(f"item{TURNS - 1}")
        log = screen.query_one(TurnLog)
        assert log.scroll_y == 0
        await pilot.pause(0.2)
        assert len(screen.turns) == PAGE  # nothing more until the reader scrolls

        log.focus()
        await pilot.press("end")
        await wait_for(lambda: len(screen.turns) == 2 * PAGE, pilot=pilot)
        contents = [turn["content"] for turn in screen.turns]
        assert contents[PAGE].endswith(f"item{TURNS - 1 - PAGE}")
        assert len(set(contents)) == 2 * PAGE
        await wait_for(lambda: f"{2 * PAGE} of {TURNS}" in status_text(screen), pilot=pilot)

        await pilot.press("slash", *"item99990", "enter")
        await wait_for(lambda: "found for 'item99990'" in status_text(screen), pilot=pilot)
        assert [turn["content"] for turn in screen.turns] == ["alpha alpha item99990"]
        await pilot.press("slash", *"thet* beta", "enter")
        await wait_for(lambda: "found for 'thet* beta'" in status_text(screen), pilot=pilot)
        assert len(screen.turns) == PAGE and screen.next is not None
        assert all("theta" in t["content"] and "beta" in t["content"] for t in screen.turns)
