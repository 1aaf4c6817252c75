"""Textual is pinned exactly while screens/live_table.py (and fit_columns) reach into DataTable.

An upgrade must fail here, loudly and by name, before it fails subtly on screen: every private
attribute, method signature and cache-key shape those modules rely on is checked.
"""

from __future__ import annotations

import inspect
import re
import tomllib
from importlib.metadata import version
from pathlib import Path
from typing import Any

from textual.app import App, ComposeResult
from textual.cache import LRUCache
from textual.widgets import DataTable
from textual.widgets.data_table import ColumnKey, RowKey

from screens.live_table import LiveTable

ROOT = Path(__file__).resolve().parents[2]
USERS = "screens/live_table.py and fit_columns in screens/base.py"
CACHES = ("_cell_render_cache", "_row_render_cache", "_line_cache", "_row_renderable_cache")


def pinned_textual() -> str | None:
    """The exact version pyproject.toml pins textual to (None when it is not pinned exactly)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for requirement in project["dependencies"]:
        match = re.fullmatch(r"textual\s*==\s*([\w.]+)", requirement)
        if match:
            return match.group(1)
    return None


def fail_loudly(problems: list[str]) -> None:
    """One assertion naming every broken internal."""
    assert not problems, (
        f"textual {version('textual')}: DataTable internals that {USERS} rely on changed:\n  - "
        + "\n  - ".join(problems)
        + "\nRework those modules against this DataTable (or keep the old pin)."
    )


def test_textual_is_pinned_exactly_to_the_installed_version() -> None:
    pinned = pinned_textual()
    assert pinned is not None, f"pin textual exactly in pyproject.toml ({USERS} use its internals)"
    assert version("textual") == pinned, (
        f"textual {version('textual')} is installed but {pinned} is pinned: run `uv sync`, or move "
        f"the pin only together with a check of {USERS}"
    )


def test_private_modules_and_cache_api_exist() -> None:
    problems: list[str] = []
    try:
        from textual._two_way_dict import TwoWayDict
    except ImportError as exc:
        problems.append(f"textual._two_way_dict.TwoWayDict cannot be imported ({exc})")
    else:
        for name in ("get", "get_key", "__iter__", "__contains__"):
            if not callable(getattr(TwoWayDict, name, None)):
                problems.append(f"TwoWayDict.{name} is gone")
    cache: LRUCache[Any, Any] = LRUCache(4)
    if not isinstance(getattr(cache, "_cache", None), dict):
        problems.append("LRUCache._cache (the key -> link dict) is gone or not a dict")
    for name in ("set", "discard", "clear", "__setitem__", "__contains__"):
        if not callable(getattr(LRUCache, name, None)):
            problems.append(f"LRUCache.{name} is gone")
    fail_loudly(problems)


def test_data_table_private_attributes_and_methods() -> None:
    table: DataTable[Any] = DataTable()
    problems: list[str] = []
    expected: dict[str, type | tuple[type, ...]] = {
        **dict.fromkeys(CACHES, LRUCache),
        "_offset_cache": LRUCache,
        "_ordered_row_cache": LRUCache,
        "_data": dict,
        "_updated_cells": set,
        "_update_count": int,
        "_require_update_dimensions": bool,
    }
    for name, kind in expected.items():
        value = getattr(table, name, None)
        if not isinstance(value, kind):
            problems.append(f"DataTable.{name}: expected {kind}, found {type(value).__name__}")
    if type(getattr(table, "_row_locations", None)).__name__ != "TwoWayDict":
        problems.append("DataTable._row_locations is no longer a TwoWayDict")
    for name in ("_clear_caches", "refresh_row", "check_idle", "_render_line_in_row"):
        if not callable(getattr(table, name, None)):
            problems.append(f"DataTable.{name}() is gone")
    render_line = getattr(DataTable, "_render_line_in_row", None)
    if render_line is not None:
        params = list(inspect.signature(render_line).parameters)
        wanted = ["self", "row_key", "line_no", "base_style", "cursor_location", "hover_location"]
        if params != wanted:
            problems.append(
                f"DataTable._render_line_in_row{tuple(params)}, LiveTable overrides it as {tuple(wanted)}"
            )
    fail_loudly(problems)


class OneTable(App[None]):
    """A rendered LiveTable, so its caches hold real keys."""

    def compose(self) -> ComposeResult:
        yield LiveTable(cursor_type="row")


async def test_cache_keys_have_the_shapes_live_table_drops_by() -> None:
    app = OneTable()
    async with app.run_test(size=(60, 10)) as pilot:
        table = app.query_one(LiveTable)
        table.add_column("id", key="id")
        table.add_column("status", key="status")
        for n in range(3):
            table.add_row(f"r{n}", "live", key=f"r{n}")
        await pilot.pause()
        table.set_cells("r1", {"status": "ok"})
        await pilot.pause()
        problems: list[str] = []

        def keys(name: str) -> list[Any]:
            return list(getattr(table, name)._cache)

        if not keys("_cell_render_cache"):
            problems.append("_cell_render_cache stays empty after a render")
        for key in keys("_cell_render_cache"):
            if not (isinstance(key[0], RowKey) and isinstance(key[1], ColumnKey)):
                problems.append(f"_cell_render_cache key is not (RowKey, ColumnKey, ...): {key!r}")
                break
        for key in keys("_row_render_cache"):
            if not (isinstance(key[0], RowKey) and isinstance(key[1], int)):
                problems.append(f"_row_render_cache key is not (RowKey, line_no, ...): {key!r}")
                break
        for key in keys("_line_cache"):
            if not isinstance(key[0], int):
                problems.append(f"_line_cache key does not start with the line (y): {key!r}")
                break
        renderables = keys("_row_renderable_cache")
        shaped = all(
            len(k) == 2 and isinstance(k[0], int) and isinstance(k[1], int) for k in renderables
        )
        current = any(k[0] == table._update_count for k in renderables)
        if not (shaped and current):
            problems.append(
                f"_row_renderable_cache keys are not (update_count, row_index): {renderables!r}"
            )
        fail_loudly(problems)


def test_driver_parser_and_footer_internals() -> None:
    """What app/ui/escape_driver.py (Textual's input loop, copied) and screens/footer.py use."""
    from textual import constants
    from textual._loop import loop_last
    from textual._parser import ParseError
    from textual._time import get_time
    from textual._xterm_parser import XTermParser
    from textual.drivers.linux_driver import LinuxDriver
    from textual.widgets import Footer

    problems: list[str] = []
    parser = XTermParser(False)
    if "_timeout_time" not in vars(parser):
        problems.append("XTermParser._timeout_time (when a pending escape wait ends) is gone")
    if "constants.ESCAPE_DELAY" not in inspect.getsource(XTermParser.parse):
        problems.append("XTermParser.parse no longer reads constants.ESCAPE_DELAY at each Escape")
    if not isinstance(getattr(constants, "ESCAPE_DELAY", None), float):
        problems.append("textual.constants.ESCAPE_DELAY is gone")
    if "selector.select(0.1)" not in inspect.getsource(LinuxDriver.run_input_thread):
        problems.append("LinuxDriver.run_input_thread changed: compare escape_driver's copy")
    for name, value in (("loop_last", loop_last), ("get_time", get_time)):
        if not callable(value):
            problems.append(f"textual.{name} is gone")
    if not issubclass(ParseError, Exception):
        problems.append("textual._parser.ParseError is gone")
    if not callable(getattr(Footer, "bindings_changed", None)) or not hasattr(
        Footer, "_bindings_ready"
    ):
        problems.append("Footer.bindings_changed / Footer._bindings_ready are gone")
    assert not problems, f"textual {version('textual')}: " + "; ".join(problems)
