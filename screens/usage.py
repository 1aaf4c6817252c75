"""Usage from the store: cost and tokens per day and per model as charts, sessions by cost.

Every number comes from the proxy's `/usage` report (`queries.report`, the source of
`claude-proxy usage` too), all time unless the chart says otherwise; refreshed while shown.
"""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
from typing import Any

from textual import work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.widgets import Sparkline, Static

from app.client import formatting as fmt
from app.client.backend import Refused
from screens.base import FitTable, ViewScreen, fit_columns
from screens.context import ScreenContext

REFRESH_SECONDS = 5.0
DAYS = 30
"""The day charts cover the last 30 local days (today on the right)."""
MODELS_SHOWN = 5
"""Bars for the costliest models; the rest are one line."""
SESSION_COLUMNS = {
    "session": "session",
    "requests": "req",
    "tokens": "in/out tok",
    "cache": "cache r/w",
    "cost": "cost",
}
SESSION_FIXED = {"requests": 5, "tokens": 13, "cache": 13, "cost": 9}
SESSION_FLEX = {"session": (8, 36)}
BLOCKS = " ▏▎▍▌▋▊▉█"
TALL = 40
"""From this many rows the day charts get taller."""


def today() -> date:
    """The local day the charts end on (the tests fix it)."""
    return date.today()


def tokens_of(row: dict[str, Any]) -> int:
    """Input + output tokens of a usage row (cache reads are counted apart)."""
    return int(row.get("input_tokens") or 0) + int(row.get("output_tokens") or 0)


def per_day(rows: list[dict[str, Any]], today: date, days: int = DAYS) -> list[dict[str, Any]]:
    """The `days` local days up to `today`, oldest first; a day without requests is zeros."""
    by_day = {str(row.get("day")): row for row in rows}
    first = today - timedelta(days=days - 1)
    return [by_day.get((first + timedelta(days=n)).isoformat(), {}) for n in range(days)]


def day_label(what: str, values: list[float], shown: str, peak_day: date | None) -> str:
    """`cost/day · peak $0.50 Nov 28` (short: two sit side by side at 80 columns)."""
    peak = (
        f" · peak {shown} {peak_day:%b %d}"
        if peak_day is not None
        else f" · none in {len(values)} days"
    )
    return f"{what}/day{peak}"


def bar(fraction: float, width: int) -> str:
    """A horizontal bar of `width` cells filled to `fraction`, in eighths of a cell."""
    eighths = round(max(0.0, min(1.0, fraction)) * width * 8)
    full, part = divmod(eighths, 8)
    return ("█" * full + (BLOCKS[part] if part else "")).ljust(width)


def model_bars(rows: list[dict[str, Any]], width: int) -> Content:
    """One line per model, costliest first: name, a bar of its share of the cost, the numbers."""
    if not rows:
        return Content.styled("No requests recorded yet.", "$text-muted")
    shown, rest = rows[:MODELS_SHOWN], rows[MODELS_SHOWN:]
    names = [fmt.bare_model(row.get("model")) if row.get("model") else "-" for row in shown]
    name_width = min(max(len(name) for name in names), 24)
    numbers = [f" {fmt.cost(row.get('cost'))} · {fmt.tokens(tokens_of(row))} tok" for row in shown]
    number_width = max(len(text) for text in numbers)
    room = max(4, width - name_width - number_width - 2)
    top = max(float(row.get("cost") or 0.0) for row in shown) or 1.0
    lines = []
    for name, numbers_text, row in zip(names, numbers, shown, strict=True):
        lines.append(
            Content.assemble(
                (name[:name_width].ljust(name_width), "bold"),
                " ",
                (bar(float(row.get("cost") or 0.0) / top, room), "$accent"),
                numbers_text,
            )
        )
    if rest:
        cost = sum(float(row.get("cost") or 0.0) for row in rest)
        lines.append(Content.styled(f"+{len(rest)} more models: {fmt.cost(cost)}", "$text-muted"))
    return Content("\n").join(lines)


def totals_line(totals: dict[str, Any]) -> str:
    """All time: requests, errors, tokens in/out, cache read/write, cost."""
    return (
        f"all time: {totals.get('requests', 0)} requests · {totals.get('errors', 0)} errors · "
        f"tokens in {fmt.tokens(totals.get('input_tokens'))} out "
        f"{fmt.tokens(totals.get('output_tokens'))} · cache read "
        f"{fmt.tokens(totals.get('cache_read_tokens'))} write "
        f"{fmt.tokens(totals.get('cache_write_tokens'))} · cost {fmt.cost(totals.get('cost'))}"
    )


def session_cells(row: dict[str, Any], wide: bool) -> tuple[str, ...]:
    """One session's row of the table."""
    session = row.get("session")
    name = (session if wide else fmt.short_session(session)) if session else "(no session)"
    return (
        name,
        str(row.get("requests", 0)),
        f"{fmt.tokens(row.get('input_tokens'))}/{fmt.tokens(row.get('output_tokens'))}",
        f"{fmt.tokens(row.get('cache_read_tokens'))}/{fmt.tokens(row.get('cache_write_tokens'))}",
        fmt.cost(row.get("cost")),
    )


class UsageScreen(ViewScreen):
    """Charts and the sessions table; the numbers are fetched every few seconds while shown."""

    TITLE_TEXT = "Usage · per day: the last 30 days · per model and session: all time"

    def __init__(self, ctx: ScreenContext) -> None:
        super().__init__(ctx)
        self.reports: dict[str, dict[str, Any]] = {}
        """The last `/usage` reports by group (`day`, `model`, `session`)."""

    def compose_body(self) -> ComposeResult:
        yield Static(id="usage-totals", classes="hint")
        with Horizontal(id="usage-days"):
            with Vertical(classes="usage-day"):
                yield Static(id="usage-cost-label", classes="hint")
                yield Sparkline([0.0], id="usage-cost")
            with Vertical(classes="usage-day"):
                yield Static(id="usage-tokens-label", classes="hint")
                yield Sparkline([0.0], id="usage-tokens")
        yield Static(id="usage-models")
        yield FitTable(SESSION_FIXED, SESSION_FLEX, id="usage-sessions", cursor_type="row")

    def on_mount(self) -> None:
        """First numbers, then a timer."""
        self.query_one("#usage-models").border_title = "cost by model, all time"
        self.query_one("#usage-sessions").border_title = "sessions by cost, all time"
        table = self.query_one(FitTable)
        table.add_columns_from(SESSION_COLUMNS)
        table.focus()
        self.every(REFRESH_SECONDS, self.refresh_usage)
        self.ctx.resync.subscribe(self, lambda _: self.refresh_usage())
        self.refresh_usage()

    def reopen(self) -> None:
        """Shown again: the numbers now, the sessions table focused."""
        self.query_one(FitTable).focus()
        self.refresh_usage()

    def on_resize(self) -> None:
        """Taller charts in a tall terminal; bars follow the width; whole session ids when
        there is room."""
        self.set_class(self.size.height >= TALL, "-tall")
        if self.reports:
            self.show()

    @work(exclusive=True, group="usage", exit_on_error=False)
    async def refresh_usage(self) -> None:
        """Fetch the day, model and session reports, then show them."""
        try:
            days, models, sessions = await asyncio.gather(
                self.backend.usage("day"),
                self.backend.usage("model"),
                self.backend.usage("session"),
            )
        except Refused as exc:
            # Recording is off or paused: said here, not in a toast every few seconds.
            self.query_one("#usage-totals", Static).update(
                Content.styled(str(exc), "$text-warning")
            )
            return
        self.reports = {"day": days, "model": models, "session": sessions}
        self.show()

    def show(self) -> None:
        """Render the reports held (no fetch)."""
        models, sessions = self.reports["model"], self.reports["session"]
        self.query_one("#usage-totals", Static).update(totals_line(models.get("totals") or {}))
        last = today()
        days = per_day(self.reports["day"].get("rows") or [], last)
        first = last - timedelta(days=len(days) - 1)
        costs = [float(row.get("cost") or 0.0) for row in days]
        tokens = [float(tokens_of(row)) for row in days]
        self.query_one("#usage-cost", Sparkline).data = costs
        self.query_one("#usage-tokens", Sparkline).data = tokens
        peak_cost = max(range(len(costs)), key=costs.__getitem__) if any(costs) else None
        peak_tokens = max(range(len(tokens)), key=tokens.__getitem__) if any(tokens) else None
        self.query_one("#usage-cost-label", Static).update(
            day_label(
                "cost",
                costs,
                fmt.cost(costs[peak_cost]) if peak_cost is not None else "",
                first + timedelta(days=peak_cost) if peak_cost is not None else None,
            )
        )
        self.query_one("#usage-tokens-label", Static).update(
            day_label(
                "tokens",
                tokens,
                fmt.tokens(int(tokens[peak_tokens])) if peak_tokens is not None else "",
                first + timedelta(days=peak_tokens) if peak_tokens is not None else None,
            )
        )
        chart = self.query_one("#usage-models", Static)
        chart.update(model_bars(models.get("rows") or [], chart.content_size.width or 76))
        table = self.query_one(FitTable)
        wide = table.size.width >= 100
        table.clear()
        rows = sorted(sessions.get("rows") or [], key=lambda row: -float(row.get("cost") or 0))
        for row in rows:
            table.add_row(*session_cells(row, wide))
        if not table.row_count:
            table.add_row("(none yet)", "", "", "", "")
        fit_columns(table, table.fixed, table.flex)
