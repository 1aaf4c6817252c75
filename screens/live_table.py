"""A DataTable whose cell updates, appended rows and cursor moves repaint only what they touch.

DataTable keys every render cache on one update counter that `update_cell` and `add_row` bump,
and `update_cell` refreshes the whole widget, so one changed cell re-renders every visible cell;
its row cache is also keyed on the cursor position, so a cursor move re-assembles every row.
Under 20 streams that was the whole table every frame (tens of ms each on a busy core), which
held key presses for hundreds of ms. Here a changed cell drops only its own cached render and
repaints only its own line, appending a row keeps the other rows' caches (their cells and
positions are unchanged), and rows away from the cursor are cached whatever the cursor's row.
Removing rows still clears everything (cached cells carry their row index, as mouse metadata),
but several rows go with one re-indexing and one repaint.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from rich.segment import Segment
from rich.style import Style
from rich.text import TextType
from textual._two_way_dict import TwoWayDict
from textual.cache import LRUCache
from textual.coordinate import Coordinate
from textual.geometry import Region
from textual.strip import Strip
from textual.widgets import DataTable
from textual.widgets.data_table import CellKey, CellType, ColumnKey, RowKey

ELSEWHERE = Coordinate(-2, 0)
"""Stands for 'not on this row' in row-cursor mode (the header is row -1, data rows 0 and up)."""


class IndexedCache(LRUCache[Any, Any]):
    """An LRUCache that can drop every entry whose key starts with a given item, without a scan.

    The index may name keys the cache has since evicted (dropping those is a no-op); a bucket is
    pruned to the live keys when it grows past `BUCKET`, and `clear` empties both.
    """

    __slots__ = ["_index"]
    BUCKET = 64

    def __init__(self, maxsize: int) -> None:
        super().__init__(maxsize)
        self._index: dict[Any, list[Any]] = {}

    def set(self, key: Any, value: Any) -> None:
        """Set a value, indexed by the key's first item."""
        if key not in self._cache:
            bucket = self._index.setdefault(key[0], [])
            bucket.append(key)
            if len(bucket) > self.BUCKET:
                bucket[:] = [k for k in bucket if k in self._cache]
        super().set(key, value)

    __setitem__ = set

    def clear(self) -> None:
        """Clear the cache and its index."""
        super().clear()
        self._index.clear()

    def drop(self, first: Any, keep: Callable[[Any], bool] | None = None) -> None:
        """Discard the entries whose key starts with `first` (except those `keep` spares)."""
        bucket = self._index.pop(first, None)
        if not bucket:
            return
        spared = []
        for key in bucket:
            if keep is not None and keep(key):
                spared.append(key)
            else:
                self.discard(key)
        if spared:
            self._index[first] = spared


class LiveTable(DataTable[Any]):
    """`set_cells` for in-place updates; `add_row` appends without invalidating other rows.

    Rows are one line high (row i is line i below the header), which `_forget` relies on.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # The same sizes as DataTable's, indexed by row key (cells, rows) and by line (lines).
        self._cells = self._cell_render_cache = IndexedCache(10000)
        self._rows = self._row_render_cache = IndexedCache(1000)
        self._lines = self._line_cache = IndexedCache(1000)
        self._stale_cells: set[tuple[RowKey, ColumnKey]] = set()
        """Cells changed since the last render: their cached renders are dropped first."""

    def set_cells(self, row_key: str, values: dict[str, CellType]) -> None:
        """Change some cells of one row and repaint that row (not the table)."""
        key = RowKey(row_key)
        row = self._data[key]
        for column, value in values.items():
            column_key = ColumnKey(column)
            row[column_key] = value
            self._stale_cells.add((key, column_key))
        index = self._row_locations.get(key)
        if index is not None:
            self.refresh_row(index)

    def add_row(
        self,
        *cells: CellType,
        height: int | None = 1,
        key: str | None = None,
        label: TextType | None = None,
    ) -> RowKey:
        """Append a one-line row; the rows above keep their cached renders."""
        if height != 1:
            raise ValueError("LiveTable rows are one line high")
        count = self._update_count
        row_key = super().add_row(*cells, height=height, key=key, label=label)
        if label is None:
            # The only caches an appended row makes stale are the row order and line offsets.
            self._update_count = count
            self._offset_cache.clear()
            self._ordered_row_cache.clear()
        return row_key

    def render_lines(self, crop: Region) -> list[Strip]:
        """Drop the cached renders of changed cells, then render as DataTable does."""
        if self._stale_cells:
            self._forget(self._stale_cells)
            self._stale_cells.clear()
        return super().render_lines(crop)

    def remove_row(self, row_key: RowKey | str) -> None:
        """Remove a row (every cached render goes: the rows below it move up)."""
        self.remove_rows([row_key])

    def remove_rows(self, row_keys: Iterable[RowKey | str]) -> None:
        """Remove rows with one re-indexing and one repaint (DataTable re-indexes per row)."""
        gone = {RowKey(k) if isinstance(k, str) else k for k in row_keys}
        gone = {key for key in gone if key in self._row_locations}
        if not gone:
            return
        locations = self._row_locations
        order = sorted(locations, key=lambda key: locations.get(key) or 0)
        kept = [key for key in order if key not in gone]
        self._row_locations = TwoWayDict({key: index for index, key in enumerate(kept)})
        for key in gone:
            for column_key in self._data[key]:
                self._updated_cells.discard(CellKey(key, column_key))
            del self.rows[key]
            del self._data[key]
            self._cells.drop(key)
            self._rows.drop(key)
        # As DataTable.remove_row: new dimensions on idle, cursor clamped, every cache stale.
        self._require_update_dimensions = True
        self.check_idle()
        self.cursor_coordinate = self.cursor_coordinate
        self.hover_coordinate = self.hover_coordinate
        self._update_count += 1
        self.refresh(layout=True)

    def _forget(self, cells: set[tuple[RowKey, ColumnKey]]) -> None:
        # Cells are cached by (row key, column key, ...), rows by row key, lines by line (y).
        changed: dict[RowKey, set[ColumnKey]] = {}
        for row, column in cells:
            changed.setdefault(row, set()).add(column)
        header = self.header_height if self.show_header else 0
        count = self._update_count
        for row, columns in changed.items():

            def unchanged(key: Any, columns: set[ColumnKey] = columns) -> bool:
                return key[1] not in columns

            self._cells.drop(row, keep=unchanged)
            self._rows.drop(row)
            index = self._row_locations.get(row)
            if index is not None:
                self._lines.drop(index + header)  # one-line rows
                self._row_renderable_cache.discard((count, index))

    def _render_line_in_row(
        self,
        row_key: RowKey,
        line_no: int,
        base_style: Style,
        cursor_location: Coordinate,
        hover_location: Coordinate,
    ) -> tuple[list[list[Segment]], list[list[Segment]]]:
        # With a row cursor a row only depends on whether the cursor (or hover) is on it, so
        # every other row gets the same cache key wherever the cursor is.
        if self.cursor_type == "row":
            row_index = self._row_locations.get(row_key)
            if row_index is None:
                row_index = -1  # the header, as DataTable numbers it
            if cursor_location.row != row_index:
                cursor_location = ELSEWHERE
            if hover_location.row != row_index:
                hover_location = ELSEWHERE
        return super()._render_line_in_row(
            row_key, line_no, base_style, cursor_location, hover_location
        )
