"""SVG snapshots of the Usage view at 80x24 and 160x48, dark and light, on three weeks of
recorded requests (tests/support/usage_month.py; the charts' "today" fixed, clock UTC).

Update with `uv run pytest tests/tui/test_usage_snapshots.py --snapshot-update` and look at them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from app.ui.proxy_app import ProxyApp
from proxy.server.runner import ProxyServer
from screens.usage import FitTable, UsageScreen
from tests.support import usage_month
from tests.support.tui_support import build_app, isolated_tui, wait_for

__all__ = ["isolated_tui"]

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((160, 48), id="160x48")]
THEMES = [pytest.param("textual-dark", id="dark"), pytest.param("textual-light", id="light")]


@pytest.fixture
def app(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> ProxyApp:
    """The real app on a store holding the month, showing the default port's URL."""
    monkeypatch.setattr(ProxyServer, "url", property(lambda self: "http://127.0.0.1:8082"))
    monkeypatch.setattr("screens.usage.today", lambda: usage_month.LAST_DAY)
    usage_month.write_month(tmp_path)
    return build_app(None, tmp_path, RETENTION_DAYS="0")


@pytest.mark.parametrize("theme", THEMES)
@pytest.mark.parametrize("size", SIZES)
def test_usage(snap_compare: Any, app: ProxyApp, size: tuple[int, int], theme: str) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await wait_for(lambda: app.state == "ready", pilot=pilot)
        app.theme = theme
        await pilot.press("u")
        await wait_for(
            lambda: (
                isinstance(app.screen, UsageScreen)
                and app.screen.reports
                and app.screen.query_one(FitTable).row_count == 5
            ),
            pilot=pilot,
        )
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=run_before)
