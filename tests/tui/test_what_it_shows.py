"""What the screens show is right and fits: footers at 80 columns, column names, loading and
empty states, an honest `c`, debug entries as JSON at the full width, the numbers of Stats."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from rich.text import Text
from textual.pilot import Pilot
from textual.widgets import DataTable, RichLog, Static, TextArea
from textual.widgets._footer import FooterKey

from app.client import clipboard
from app.client import formatting as fmt
from app.client.backend import Backend
from app.client.formatting import context
from app.ui.proxy_app import ProxyApp
from screens.debug import DebugScreen, render_entry
from screens.detail import LOADING, DetailScreen
from screens.request_log import RequestLog
from screens.stats import StatsScreen
from screens.status_bar import StatusBar
from tests.support.fake_upstream import FakeUpstream, Reply
from tests.support.tui_support import build_app, isolated_tui, ready, wait_for
from tests.tui.test_switching import ask

__all__ = ["isolated_tui"]

VIEW_KEYS = ("", "m", "p", "h", "d", "s", "enter", "question_mark")


def app_cost(app: ProxyApp) -> str:
    """The header's cost figure as shown."""
    return fmt.cost(app.status.cost)


def footer_keys(app: ProxyApp) -> list[FooterKey]:
    """The keys the current screen's footer shows."""
    return list(app.screen.query(FooterKey))


async def open_view(pilot: Pilot[Any], key: str) -> None:
    """From the log, open the view behind `key` ('' stays on the log)."""
    app = pilot.app
    if key:
        await pilot.press(key)
        await wait_for(lambda: len(app.screen_stack) == 2, pilot=pilot)
        await pilot.pause(0.1)


@pytest.mark.parametrize("key", VIEW_KEYS)
async def test_footers_fit_80_columns_and_keep_the_views_keys(
    upstream: FakeUpstream, tmp_path: Path, key: str
) -> None:
    upstream.script.append(Reply(text="an answer"))
    async with build_app(upstream, tmp_path).run_test(size=(80, 24)) as pilot:
        app = await ready(pilot)
        await ask(app)
        await wait_for(lambda: len(app.store) == 1, pilot=pilot)
        await open_view(pilot, key)
        if key == "m":
            await pilot.press("down")  # from the search box (where q and ? are typed) to the list
            await pilot.pause(0.1)
        # The footer recomposes when the bindings or the width change: wait for its keys.
        keys = await wait_for(lambda: footer_keys(app), pilot=pilot)
        for footer_key in keys:
            assert footer_key.region.right <= 80, (footer_key.key, footer_key.region)
        shown = {k.key for k in keys}
        assert {"question_mark", "q"} <= shown
        # The header and the view's title are whole too (the cost is the header's last word).
        bar = app.screen.query_one(StatusBar)

        def header() -> str:
            return str(bar.render()).splitlines()[0]

        # The bar shows the newest status a frame after it changed.
        await wait_for(lambda: header().endswith(app_cost(app)), pilot=pilot)
        assert len(header()) <= 78, header()
        for title in app.screen.query(".view-title"):
            assert len(str(title.render())) <= 78, str(title.render())
        if key == "enter":
            assert "r" in shown  # the detail's own key stays
        await pilot.resize_terminal(200, 40)
        # Where there is room, the app's view keys are back.
        await wait_for(lambda: {"m", "p", "h"} <= {k.key for k in footer_keys(app)}, pilot=pilot)


@pytest.mark.parametrize("width", [80, 120, 200])
async def test_no_two_log_columns_share_a_name(tmp_path: Path, width: int) -> None:
    async with build_app(None, tmp_path).run_test(size=(width, 24)) as pilot:
        app = await ready(pilot)
        await pilot.pause(0.1)
        log = app.main_screen.query_one(RequestLog)
        labels = [column.label.plain for column in log.ordered_columns]
        assert len(labels) == len(set(labels)), labels
        assert {"started", "total"} <= set(labels)


async def test_detail_says_loading_until_the_json_is_there(
    upstream: FakeUpstream, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    release = asyncio.Event()

    upstream.script.append(Reply(text="an answer"))
    async with build_app(upstream, tmp_path).run_test(size=(80, 24)) as pilot:
        app = await ready(pilot)
        render = type(app.backend).exchange_json

        async def slow(self: Backend, record: Any) -> tuple[str, str, str]:
            await release.wait()
            return await render(self, record)

        monkeypatch.setattr(type(app.backend), "exchange_json", slow)
        await ask(app)
        await wait_for(lambda: len(app.store) == 1, pilot=pilot)
        await pilot.press("enter")
        screen = await wait_for(lambda: isinstance(app.screen, DetailScreen) and app.screen)
        await pilot.pause(0.1)
        areas = [screen.query_one(f"#{n}", TextArea) for n in ("upstream-json", "response-json")]
        assert [area.text for area in areas] == [LOADING, LOADING]
        release.set()
        await wait_for(lambda: '"model"' in areas[0].text, pilot=pilot)
        assert "an answer" in areas[1].text


async def test_empty_log_and_empty_filter_say_why(upstream: FakeUpstream, tmp_path: Path) -> None:
    upstream.script.append(Reply(text="an answer"))
    async with build_app(upstream, tmp_path).run_test(size=(80, 24)) as pilot:
        app = await ready(pilot)
        hint = app.main_screen.query_one("#log-empty", Static)
        await wait_for(lambda: hint.display, pilot=pilot)
        assert "No requests yet" in str(hint.render())
        await ask(app)
        await wait_for(lambda: len(app.store) == 1, pilot=pilot)
        await wait_for(lambda: not hint.display, pilot=pilot)
        await pilot.press("f", *"nothing-like-it")
        await wait_for(lambda: hint.display, pilot=pilot)
        said = str(hint.render())
        assert "None of the 1 requests match" in said and "nothing-like-it" in said
        assert "Esc" in said
        await pilot.press("escape")
        await wait_for(lambda: not hint.display, pilot=pilot)


async def test_copy_says_where_the_command_went(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pasted = tmp_path / "clipboard.txt"
    notes: list[tuple[str, str]] = []
    async with build_app(None, tmp_path).run_test(size=(100, 30)) as pilot:
        app = await ready(pilot)
        monkeypatch.setattr(
            app, "notify", lambda message, title="", **_: notes.append((title, message))
        )
        osc52: list[str] = []
        monkeypatch.setattr(app, "copy_to_clipboard", osc52.append)
        # A machine with a clipboard command: the text is there, and the toast says so.
        monkeypatch.setattr(clipboard, "candidates", lambda env: [["sh", "-c", f"cat > {pasted}"]])
        await pilot.press("c")
        await wait_for(lambda: notes, pilot=pilot)
        assert pasted.read_text() == app.status.connect_command
        assert notes[-1][0] == "copied" and "clipboard (sh)" in notes[-1][1]
        assert osc52 == []
        # None: OSC 52 is all there is, and the toast does not claim it worked.
        monkeypatch.setattr(clipboard, "candidates", lambda env: [])
        await pilot.press("c")
        await wait_for(lambda: len(notes) == 2, pilot=pilot)
        title, message = notes[-1]
        assert title == "copy?" and "OSC 52" in message and "ignore" in message
        assert osc52 == [app.status.connect_command]


def test_debug_details_are_json() -> None:
    entry = {
        "id": 3,
        "time": "2026-01-01T10:00:00.000000+00:00",
        "type": "response",
        "request_id": "req_1",
        "summary": "ok",
        "details": {"model": "openai/gpt-4.1", "notes": ["clamped"], "cost": 0.5},
    }
    text = render_entry(entry, verbose=True).plain
    details = text.split("\n", 1)[1]
    assert json.loads(details) == entry["details"]
    assert "'" not in details  # not a Python repr


async def test_debug_lines_use_the_full_width_after_a_resize(
    upstream: FakeUpstream, tmp_path: Path
) -> None:
    upstream.script.append(Reply(text="an answer"))
    async with build_app(upstream, tmp_path).run_test(size=(80, 24)) as pilot:
        app = await ready(pilot)
        await ask(app)
        await pilot.press("d")
        screen = await wait_for(lambda: isinstance(app.screen, DebugScreen) and app.screen)
        log = screen.query_one(RichLog)
        await wait_for(lambda: len(log.lines) >= 3, pilot=pilot)
        assert max(line.cell_length for line in log.lines) <= 80
        await pilot.resize_terminal(200, 40)
        # The model_mapping line is about 100 cells: one line once there is room for it.
        await wait_for(
            lambda: max(line.cell_length for line in log.lines) > 90, pilot=pilot, timeout=5
        )


async def test_stats_total_row_and_apps_own_requests(
    upstream: FakeUpstream, tmp_path: Path
) -> None:
    upstream.script += [Reply(text="one"), Reply(text="OK"), Reply(text="OK")]
    async with build_app(upstream, tmp_path).run_test(size=(80, 24)) as pilot:
        app = await ready(pilot)
        await ask(app)
        for tier in ("big", "small"):
            assert (await app.backend.probe(tier)).ok
        await pilot.press("s")
        screen = await wait_for(lambda: isinstance(app.screen, StatsScreen) and app.screen)
        table = screen.query_one(DataTable)
        await wait_for(lambda: "total" in table.rows and table.row_count == 3, pilot=pilot)
        total = [str(cell) for cell in table.get_row("total")]
        # 80 columns: medians; a total row with latency and TTFT, and no speed for instant answers.
        assert total[0] == "total" and total[1] == "3"
        assert total[5] != "-" and total[6] != "-"
        assert total[7] == "-"
        assert table.get_row("openai/gpt-4.1-mini")[0] == "gpt-4.1-mini"
        origins = screen.query_one("#stats-origins", Static)
        await wait_for(lambda: "config tests 2" in str(origins.render()), pilot=pilot)
        # In the log, the probes' session reads "test" (the key that sends them), not "prob".
        log = app.main_screen.query_one(RequestLog)
        sessions = [str(log.get_cell(r.request_id, "session")) for r in app.store]
        assert sorted(sessions)[-2:] == ["test", "test"], sessions


def test_context_windows_fit_four_cells() -> None:
    assert [context(n) for n in (200_000, 128_000, 1_048_576, 2_000_000, 8192)] == [
        "200k",
        "128k",
        "1M",
        "2M",
        "8k",
    ]


async def test_context_shows_as_200k_at_80_columns(tmp_path: Path) -> None:
    async with build_app(None, tmp_path).run_test(size=(80, 24)) as pilot:
        app = await ready(pilot)
        await pilot.press("m")
        table = await wait_for(
            lambda: app.screen.query("#models") and app.screen.query_one("#models", DataTable),
            pilot=pilot,
        )
        await wait_for(lambda: table.row_count > 50, pilot=pilot)
        cells = [table.get_cell_at((row, 1)) for row in range(table.row_count)]
        shown = {cell.plain if isinstance(cell, Text) else str(cell) for cell in cells}
        assert "200k" in shown
        assert all(len(value) <= 4 for value in shown), sorted(shown, key=len)[-3:]


@pytest.mark.parametrize(("width", "wide"), [(80, False), (160, True)])
async def test_preset_models_readable_at_80_columns(tmp_path: Path, width: int, wide: bool) -> None:
    async with build_app(None, tmp_path).run_test(size=(width, 24)) as pilot:
        app = await ready(pilot)
        await pilot.press("p")
        table = await wait_for(
            lambda: app.screen.query("#presets") and app.screen.query_one("#presets", DataTable),
            pilot=pilot,
        )
        await wait_for(lambda: table.row_count >= 7, pilot=pilot)
        presets = await app.backend.presets()
        keys = [str(column.key.value) for column in table.ordered_columns]
        assert ("description" in keys) is wide
        big = keys.index("big")
        for preset in presets:
            shown = str(table.get_row(preset.name)[big])
            assert shown == (preset.big if wide else preset.big.split("/", 1)[-1])
            # The whole name fits its column: nothing cut.
            assert len(shown) <= table.columns[table.ordered_columns[big].key].width


async def test_footer_shows_the_way_out_while_typing_a_filter(tmp_path: Path) -> None:
    async with build_app(None, tmp_path).run_test(size=(80, 24)) as pilot:
        app = await ready(pilot)
        await pilot.press("f")
        # Letters go into the field, so the view keys leave the footer; Esc and F1 stay.
        keys = await wait_for(lambda: footer_keys(app), pilot=pilot)
        assert {k.key for k in keys} == {"escape", "f1"}
        await pilot.press("escape")
        await wait_for(lambda: not app.main_screen.query_one("#filters").display, pilot=pilot)
