"""LiveTable repaints only what changed: its screen must match a plain DataTable's after the same edits."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import App, ComposeResult
from textual.widgets import DataTable

from screens.live_table import LiveTable

COLUMNS = ("id", "status", "answer")


class SideBySide(App[None]):
    """A DataTable and a LiveTable, edited identically."""

    CSS = "DataTable { height: 12; width: 40; }"

    def compose(self) -> ComposeResult:
        yield DataTable(cursor_type="row", id="plain")
        yield LiveTable(cursor_type="row", id="live")

    def tables(self) -> tuple[DataTable[Any], LiveTable]:
        return self.query_one("#plain", DataTable), self.query_one("#live", LiveTable)


def lines(table: DataTable[Any]) -> list[list[tuple[str, Any]]]:
    """Every visible line as (text, style) segments (what reaches the screen)."""
    strips = table.render_lines(table.region.reset_offset)
    return [[(seg.text, seg.style) for seg in strip] for strip in strips]


async def test_live_table_renders_like_a_data_table() -> None:
    app = SideBySide()
    async with app.run_test(size=(100, 30)) as pilot:
        plain, live = app.tables()
        app.set_focus(None)  # focus tints the background: keep both tables alike
        for table in (plain, live):
            for column in COLUMNS:
                table.add_column(column, key=column, width=10)
        await pilot.pause()

        async def same() -> None:
            await pilot.pause()
            assert lines(live) == lines(plain)

        for n in range(15):  # more rows than fit: the table scrolls
            for table in (plain, live):
                table.add_row(str(n), "live", "", key=f"r{n}")
                table.move_cursor(row=table.row_count - 1)
            await same()
            for table in (plain, live):
                values = {"answer": Text(f"text {n} " * 3), "status": Text("200", style="green")}
                if isinstance(table, LiveTable):
                    table.set_cells(f"r{n}", values)
                else:
                    for column, value in values.items():
                        table.update_cell(f"r{n}", column, value)
            await same()
        # Edits to rows away from the cursor, then cursor moves and a removal.
        for table in (plain, live):
            if isinstance(table, LiveTable):
                table.set_cells("r12", {"status": "err"})
            else:
                table.update_cell("r12", "status", "err")
            table.move_cursor(row=11)
        await same()
        for table in (plain, live):
            table.remove_row("r13")
            table.move_cursor(row=13)
        await same()
        # Several rows at once (LiveTable re-indexes once), the cursor below them.
        for table in (plain, live):
            if isinstance(table, LiveTable):
                table.remove_rows(["r0", "r2", "r3"])
            else:
                for key in ("r0", "r2", "r3"):
                    table.remove_row(key)
        await same()
        assert [live.get_row_index(f"r{n}") for n in (1, 4, 14)] == [0, 1, 10]
        for table in (plain, live):
            table.add_row("new", "live", "", key="r15")
            table.scroll_home(animate=False)
        await same()
