"""Stats: per model tokens, cost, p50/p95 latency, TTFT and tool-call repairs; a sparkline of
requests per minute."""

from __future__ import annotations

from typing import Any

from textual import work
from textual.app import ComposeResult
from textual.widgets import Sparkline, Static

from app.client import formatting as fmt
from app.client.bridge import Activity
from screens.base import FitTable, ViewScreen, fit_columns
from screens.context import ScreenContext

REFRESH_SECONDS = 2.0
WIDE = (
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
# 80 columns: medians only (p95 and tool repairs from 110 columns up), and model names without the provider.
NARROW = (
    ("model", "model", 14),
    ("requests", "req", 4),
    ("errors", "err", 3),
    ("tokens", "in/out", 10),
    ("cost", "cost", 7),
    ("latency", "latency", 7),
    ("ttft", "ttft", 6),
    ("speed", "tok/s", 5),
)
WIDE_FROM = 110
FLEX = {"model": (14, 40)}
ORIGIN_NAMES = {"probe": "config tests", "replay": "replays"}


def fixed(columns: tuple[tuple[str, str, int], ...]) -> dict[str, int]:
    """The widths of a column set's fixed columns (all but the model)."""
    return {key: width for key, _, width in columns if key != "model"}


def speed(value: float | None) -> str:
    """Tokens per second, or '-' when no generation was long enough to measure."""
    return f"{value:,.0f}" if value else "-"


def stats_cells(name: str, row: dict[str, Any], wide: bool = True) -> tuple[str, ...]:
    """One model's numbers, formatted (medians only when narrow)."""
    if wide:
        latency = f"{fmt.seconds(row.get('latency_p50'))}/{fmt.seconds(row.get('latency_p95'))}"
        ttft = f"{fmt.seconds(row.get('ttft_p50'))}/{fmt.seconds(row.get('ttft_p95'))}"
    else:
        latency, ttft = fmt.seconds(row.get("latency_p50")), fmt.seconds(row.get("ttft_p50"))
    return (
        name,
        str(row.get("requests", 0)),
        str(row.get("errors", 0)),
        f"{fmt.tokens(row.get('input_tokens'))}/{fmt.tokens(row.get('output_tokens'))}",
        fmt.cost(row.get("cost")),
        latency,
        ttft,
        speed(row.get("tokens_per_second")),
    ) + ((f"{row.get('tool_repairs', 0)}/{row.get('tool_repairs_failed', 0)}",) if wide else ())


def model_names(models: list[str], wide: bool) -> dict[str, str]:
    """What the model column shows: the whole string, or (narrow) the bare name when unique."""
    if wide:
        return {m: m for m in models}
    bare = [fmt.bare_model(m) for m in models]
    return {m: b if bare.count(b) == 1 else m for m, b in zip(models, bare, strict=True)}


def origins_line(origins: dict[str, Any]) -> str:
    """The TUI's own requests (config tests, replays), which the totals include."""
    parts = [
        f"{ORIGIN_NAMES.get(name, name)} {row.get('requests', 0)} ({fmt.cost(row.get('cost'))})"
        for name, row in sorted(origins.items())
        if row.get("requests")
    ]
    if not parts:
        return ""
    return "of these, this app's own: " + " · ".join(parts)


class StatsScreen(ViewScreen):
    """Refreshed every two seconds while shown."""

    TITLE_TEXT = "Stats · per upstream model since start · latency and ttft: median/p95"

    def __init__(self, ctx: ScreenContext, activity: Activity) -> None:
        super().__init__(ctx)
        self.activity = activity
        self.wide: bool | None = None

    def compose_body(self) -> ComposeResult:
        yield FitTable(fixed(NARROW), FLEX, id="stats", cursor_type="row")
        yield Static(id="stats-origins", classes="hint")
        yield Static(id="spark-label", classes="hint")
        yield Sparkline([0], id="spark")

    def on_mount(self) -> None:
        """Columns, first numbers, then a timer."""
        self.query_one(FitTable).focus()
        self._set_columns(self.size.width >= WIDE_FROM)
        self.every(REFRESH_SECONDS, self.refresh_stats)
        self.ctx.resync.subscribe(self, lambda _: self.refresh_stats())

    def reopen(self) -> None:
        """Shown again: the numbers now, the table focused."""
        self.query_one(FitTable).focus()
        self.refresh_stats()

    def on_resize(self) -> None:
        """Medians only below WIDE_FROM columns, p50/p95 above."""
        self._set_columns(self.size.width >= WIDE_FROM)

    def _set_columns(self, wide: bool) -> None:
        if wide == self.wide:
            return
        self.wide = wide
        columns = WIDE if wide else NARROW
        table = self.query_one(FitTable)
        table.clear(columns=True)
        table.fixed = fixed(columns)
        table.add_columns_from({key: label for key, label, _ in columns})
        fit_columns(table, table.fixed, table.flex)
        self.refresh_stats()

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
        wide = bool(self.wide)
        table = self.query_one(FitTable)
        rows: dict[str, Any] = dict(sorted(snapshot.get("models", {}).items()))
        names = model_names(list(rows), wide)
        totals = dict(snapshot.get("totals", {}))
        keys = [key for key, _, _ in (WIDE if wide else NARROW)]
        for name, row in [*rows.items(), ("total", totals)]:
            cells = stats_cells(names.get(name, name), row, wide)
            if name in table.rows:
                for key, value in zip(keys, cells, strict=True):
                    table.update_cell(name, key, value)
            else:
                if "total" in table.rows:
                    # Keep the totals last: rows cannot be inserted, so re-add it after.
                    table.remove_row("total")
                table.add_row(*cells, key=name)
        if "total" not in table.rows:
            table.add_row(*stats_cells("total", totals, wide), key="total")
        origins = self.query_one("#stats-origins", Static)
        line = origins_line(snapshot.get("origins") or {})
        origins.display = bool(line)
        origins.update(line)
