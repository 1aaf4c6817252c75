"""Stats: per model tokens, cost, p50/p95 latency, TTFT and tool-call repairs; a sparkline of
requests per minute."""

from __future__ import annotations

from typing import Any

from textual import work
from textual.app import ComposeResult
from textual.widgets import Sparkline, Static

from app.client import formatting as fmt
from app.client.bridge import Activity
from screens.base import FitTable, ViewScreen
from screens.context import ScreenContext

REFRESH_SECONDS = 2.0
COLUMNS = (
    ("model", "model", 20),
    ("requests", "req", 4),
    ("errors", "err", 3),
    ("tokens", "in/out tok", 11),
    ("cost", "cost", 8),
    ("latency", "latency 50/95", 13),
    ("ttft", "ttft 50/95", 13),
    ("speed", "tok/s", 5),
    ("repairs", "tool fix/fail", 13),
)
FIXED = {key: width for key, _, width in COLUMNS if key != "model"}
FLEX = {"model": (16, 40)}


def stats_cells(name: str, row: dict[str, Any]) -> tuple[str, ...]:
    """One model's numbers, formatted."""
    speed = row.get("tokens_per_second")
    return (
        name,
        str(row.get("requests", 0)),
        str(row.get("errors", 0)),
        f"{fmt.tokens(row.get('input_tokens'))}/{fmt.tokens(row.get('output_tokens'))}",
        fmt.cost(row.get("cost")),
        f"{fmt.seconds(row.get('latency_p50'))}/{fmt.seconds(row.get('latency_p95'))}",
        f"{fmt.seconds(row.get('ttft_p50'))}/{fmt.seconds(row.get('ttft_p95'))}",
        f"{speed:.0f}" if speed else "-",
        f"{row.get('tool_repairs', 0)}/{row.get('tool_repairs_failed', 0)}",
    )


class StatsScreen(ViewScreen):
    """Refreshed every two seconds while shown."""

    TITLE_TEXT = "Stats · per upstream model since start"

    def __init__(self, ctx: ScreenContext, activity: Activity) -> None:
        super().__init__(ctx)
        self.activity = activity

    def compose_body(self) -> ComposeResult:
        yield FitTable(FIXED, FLEX, id="stats", cursor_type="row")
        yield Static(id="spark-label", classes="hint")
        yield Sparkline([0], id="spark")

    def on_mount(self) -> None:
        """Columns, first numbers, then a timer."""
        table = self.query_one(FitTable)
        table.add_columns_from({key: label for key, label, _ in COLUMNS})
        table.focus()
        self.refresh_stats()
        self.set_interval(REFRESH_SECONDS, self.refresh_stats)
        self.ctx.resync.subscribe(self, lambda _: self.refresh_stats())

    @work(exclusive=True, group="stats", exit_on_error=False)
    async def refresh_stats(self) -> None:
        """Fetch the snapshot and update rows in place (the sparkline first: it is local)."""
        counts = self.activity.per_minute()
        self.query_one(Sparkline).data = counts
        self.query_one("#spark-label", Static).update(
            f"requests per minute, last {len(counts)} minutes (now on the right): "
            f"{sum(counts)} in all, peak {max(counts)}/min"
        )
        snapshot = await self.backend.stats()
        table = self.query_one(FitTable)
        rows = dict(sorted(snapshot.get("models", {}).items()))
        totals = dict(snapshot.get("totals", {}))
        for name, row in [*rows.items(), ("total", totals)]:
            cells = stats_cells(name, row)
            if name in table.rows:
                for (key, _, _), value in zip(COLUMNS, cells, strict=True):
                    table.update_cell(name, key, value)
            else:
                if "total" in table.rows:
                    # Keep the totals last: rows cannot be inserted, so re-add it after.
                    table.remove_row("total")
                table.add_row(*cells, key=name)
        if "total" not in table.rows:
            table.add_row(*stats_cells("total", totals), key="total")
