"""One data set, every place that shows its numbers: the header, the Stats view and the Usage view
agree with /stats, /usage, /metrics and `claude-proxy usage` (in-process and attached).

tests/proxy/test_usage_routes.py::test_every_number_agrees checks the endpoints in more detail;
this one adds the screens.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path
from typing import Any

import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from app.cli.main import main
from screens.stats import StatsScreen, stats_cells
from screens.usage import FitTable, UsageScreen, session_cells, totals_line
from tests.support.fake_upstream import FakeUpstream, Reply
from tests.support.mgmt import SESSION, ask, call, turn
from tests.support.tui_support import TuiFactory, isolated_tui, make_tui, ready, tui_mode, wait_for

__all__ = ["isolated_tui", "make_tui", "tui_mode"]

ADDITIVE = ("requests", "errors", "input_tokens", "output_tokens", "cost")
"""What the memory's totals (/stats `totals`) and the store's have in common."""


def same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """The additive numbers of two totals agree (cost to the micro-dollar)."""
    return all(
        a[k] == pytest.approx(b[k], abs=1e-6) if k == "cost" else a[k] == b[k] for k in ADDITIVE
    )


async def test_every_screen_and_endpoint_agrees(
    upstream: FakeUpstream,
    tmp_path: Path,
    make_tui: TuiFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DATA_DIR", str(tmp_path))  # where `claude-proxy usage` reads the store
    upstream.script += [
        Reply(prompt_tokens=1200, completion_tokens=80, cached_tokens=200),
        Reply(prompt_tokens=900, completion_tokens=40),
        Reply(status=429, error_message="slow down"),
        Reply(prompt_tokens=50, completion_tokens=5),
        Reply(prompt_tokens=70, completion_tokens=7),
    ]
    app = make_tui(upstream, tmp_path, MAX_RETRIES="0")
    async with app.run_test(size=(120, 36)) as pilot:
        app = await ready(pilot)
        url = app.backend.url
        await ask(url, turn("one"), session="s1")
        await ask(url, turn("two", stream=True), session="s1")
        assert (await call(url, "POST", "/v1/messages", turn("three"))).status == 429
        await ask(url, turn("four", "claude-haiku-4-5"), session="s2")
        probe = turn("probe", "claude-haiku-4-5")
        headers = {"x-claude-proxy-origin": "probe", SESSION: "probe"}
        assert (await call(url, "POST", "/v1/messages", probe, headers=headers)).status == 200

        stats = (await call(url, "GET", "/stats")).json
        by_model = (await call(url, "GET", "/usage?by=model")).json
        by_session = (await call(url, "GET", "/usage?by=session")).json
        families = {
            f.name: f
            for f in text_string_to_metric_families((await call(url, "GET", "/metrics")).text)
        }
        # Textual holds sys.stdout while the app runs: the CLI prints into a buffer of our own.
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            assert main(["usage", "--by", "model", "--json"]) == 0
        cli = orjson.loads(printed.getvalue())

        memory, stored = stats["totals"], stats["totals_since_start"]
        assert memory["requests"] == 5 and memory["errors"] == 1
        assert same(memory, stored) and stored == stats["all_time"]
        assert stored["cache_read_tokens"] == 200
        assert by_model["totals"] == by_session["totals"] == stats["all_time"] == cli["totals"]
        assert by_model["rows"] == cli["rows"]
        totals = by_model["totals"]
        requests_metric = sum(s.value for s in families["claude_proxy_requests"].samples)
        cost_metric = sum(s.value for s in families["claude_proxy_cost_usd"].samples)
        assert requests_metric == totals["requests"]
        assert cost_metric == pytest.approx(totals["cost"], abs=1e-6)

        # The header: the proxy's numbers since it started.
        tokens = stored["input_tokens"] + stored["output_tokens"]
        await wait_for(
            lambda: (
                (app.status.requests, app.status.errors, app.status.tokens)
                == (stored["requests"], stored["errors"], tokens)
            ),
            pilot=pilot,
        )
        assert app.status.cost == pytest.approx(stored["cost"], abs=1e-6)

        # The Stats view: its total row is /stats' totals.
        await pilot.press("s")
        screen = await wait_for(lambda: isinstance(app.screen, StatsScreen) and app.screen)
        table = screen.query_one("#stats")
        await wait_for(lambda: "total" in table.rows, pilot=pilot)
        snapshot = await app.backend.stats()
        shown = tuple(str(cell) for cell in table.get_row("total"))
        assert shown == stats_cells("total", snapshot["totals"], bool(screen.wide))
        assert same(snapshot["totals"], stored)

        # The Usage view: the same reports, totals and sessions.
        await pilot.press("u")
        usage = await wait_for(lambda: isinstance(app.screen, UsageScreen) and app.screen)
        await wait_for(lambda: bool(usage.reports), pilot=pilot)
        assert usage.reports["model"] == by_model
        assert usage.reports["session"] == by_session
        assert str(usage.query_one("#usage-totals").render()) == totals_line(totals)
        sessions = usage.query_one(FitTable)
        wide = sessions.size.width >= 100
        expected = sorted(by_session["rows"], key=lambda row: -row["cost"])
        assert [tuple(sessions.get_row_at(i)) for i in range(sessions.row_count)] == [
            session_cells(row, wide) for row in expected
        ]
        assert sum(row["requests"] for row in by_session["rows"]) == totals["requests"]
