"""The Usage view (`u`): charts and tables from the store's usage report, in-process and attached;
pure helpers for the day series and the bars."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from screens.usage import FitTable, UsageScreen, bar, per_day, session_cells, totals_line
from tests.support import usage_month
from tests.support.tui_support import TuiFactory, isolated_tui, make_tui, ready, tui_mode, wait_for

__all__ = ["isolated_tui", "make_tui", "tui_mode"]


def test_per_day_fills_the_days_without_requests() -> None:
    rows = [{"day": "2026-01-19", "cost": 1.0}, {"day": "2026-01-21", "cost": 2.0}]
    days = per_day(rows, date(2026, 1, 21), days=4)
    assert [d.get("cost", 0) for d in days] == [0, 1.0, 0, 2.0]


def test_bars_are_proportional_in_eighths() -> None:
    assert bar(1.0, 4) == "████"
    assert bar(0.5, 4) == "██  "
    assert bar(1 / 32, 4) == "▏   "
    assert bar(0.0, 3) == "   "


async def usage_report(url: str, by: str) -> dict[str, Any]:
    """GET /usage?by=... of the proxy at `url`."""
    async with aiohttp.ClientSession() as http, http.get(f"{url}/usage?by={by}") as response:
        data: dict[str, Any] = await response.json()
        return data


async def test_the_usage_view_shows_the_reports(
    tmp_path: Path, make_tui: TuiFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    usage_month.write_month(tmp_path)
    monkeypatch.setattr("screens.usage.today", lambda: usage_month.LAST_DAY)
    async with make_tui(None, tmp_path, RETENTION_DAYS="0").run_test(size=(100, 30)) as pilot:
        app = await ready(pilot)
        await pilot.press("u")
        screen = await wait_for(lambda: isinstance(app.screen, UsageScreen) and app.screen)
        table = screen.query_one(FitTable)
        await wait_for(lambda: screen.reports and table.row_count > 1, pilot=pilot)
        by_model = await usage_report(app.backend.url, "model")
        by_session = await usage_report(app.backend.url, "session")
        by_day = await usage_report(app.backend.url, "day")
        assert screen.reports == {"model": by_model, "session": by_session, "day": by_day}
        shown = str(screen.query_one("#usage-totals").render())
        assert shown == totals_line(by_model["totals"])
        assert "133 requests · 8 errors" in shown
        # Sessions by cost, highest first, each row as the report has it.
        rows = sorted(by_session["rows"], key=lambda row: -row["cost"])
        assert [tuple(table.get_row_at(i)) for i in range(table.row_count)] == [
            session_cells(row, table.size.width >= 100) for row in rows
        ]
        chart = str(screen.query_one("#usage-models").render())
        assert chart.splitlines()[0].startswith("claude-sonnet-4-5")
        assert len(chart.splitlines()) == len(by_model["rows"])
        # 30 days, the last 21 with requests: the day chart has them where they belong.
        costs = screen.query_one("#usage-cost").data
        assert len(costs) == 30 and costs[:9] == [0.0] * 9 and all(costs[9:])
        assert sum(costs) == pytest.approx(by_day["totals"]["cost"], abs=1e-6)


async def test_without_a_store_the_view_says_why(tmp_path: Path, make_tui: TuiFactory) -> None:
    seen: list[Any] = []
    app = make_tui(None, tmp_path, STORE_ENABLED="false")
    async with app.run_test(size=(80, 24), message_hook=seen.append) as pilot:
        app = await ready(pilot)
        await pilot.press("u")
        screen = await wait_for(lambda: isinstance(app.screen, UsageScreen) and app.screen)
        totals = screen.query_one("#usage-totals")
        await wait_for(lambda: "usage is not available" in str(totals.render()), pilot=pilot)
        assert "STORE_ENABLED" in str(totals.render())
        assert not [m for m in seen if type(m).__name__ == "Notify"]
