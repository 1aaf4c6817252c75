"""`claude-proxy usage`: tokens and cost per day, model, session or preset, read from the store.

Reads the store file directly (read-only; a running proxy keeps writing, SQLite's WAL lets both
work), through `proxy.store.queries.report`: the same numbers as `GET /usage`.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import orjson

from proxy.store import db, queries, schema

if TYPE_CHECKING:
    from proxy.core.settings import Settings

GROUPS = ("day", "model", "session", "preset", "provider")
HEADINGS = {
    "day": "Day",
    "model": "Model",
    "session": "Session",
    "preset": "Preset",
    "provider": "Provider",
}
# (heading, report field); numbers are right-aligned.
COLUMNS = (
    ("Requests", "requests"),
    ("Input", "input_tokens"),
    ("Output", "output_tokens"),
    ("Cache write", "cache_write_tokens"),
    ("Cache read", "cache_read_tokens"),
    ("Total tokens", "total_tokens"),
    ("Cost (USD)", "cost"),
)


def build_parser() -> argparse.ArgumentParser:
    """The verb's options."""
    parser = argparse.ArgumentParser(
        prog="claude-proxy usage",
        description="Tokens and estimated cost of the requests the proxy recorded "
        "(store in DATA_DIR, default $XDG_DATA_HOME/claude-proxy).",
    )
    parser.add_argument("--by", choices=GROUPS, default="day", help="one row per (default day)")
    parser.add_argument(
        "--since", type=_day, metavar="YYYY-MM-DD", help="from this local day on (default all)"
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    return parser


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date as YYYY-MM-DD, got {text!r}") from None


def _cells(item: dict[str, Any]) -> list[str]:
    values = {**item, "total_tokens": _total_tokens(item)}
    cells = [f"{values[field]:,}" for _, field in COLUMNS[:-1]]
    cells.append(f"${values['cost']:,.4f}")
    return cells


def _total_tokens(item: dict[str, Any]) -> int:
    return int(
        item["input_tokens"]
        + item["output_tokens"]
        + item["cache_read_tokens"]
        + item["cache_write_tokens"]
    )


def render_table(report: dict[str, Any]) -> str:
    """The report as a plain-text table: one row per group, then the totals."""
    by = report["by"]
    headings = [HEADINGS[by], *(heading for heading, _ in COLUMNS)]
    rows = [[str(item[by] or "(none)"), *_cells(item)] for item in report["rows"]]
    total = ["Total", *_cells(report["totals"])]
    widths = [max(len(row[i]) for row in (headings, *rows, total)) for i in range(len(headings))]

    def line(cells: Sequence[str]) -> str:
        first = cells[0].ljust(widths[0])
        rest = (cell.rjust(width) for cell, width in zip(cells[1:], widths[1:], strict=True))
        return "  ".join((first, *rest)).rstrip()

    rule = "  ".join("-" * width for width in widths)
    since = f"since {report['since']}" if report["since"] else "all time"
    out = [f"Usage by {by}, {since}", "", line(headings), rule]
    out.extend(line(row) for row in rows)
    out.extend((rule, line(total)))
    return "\n".join(out) + "\n"


def read_report(path: Path, by: str, since: date | None) -> dict[str, Any]:
    """The usage report from the store file (StoreError when it cannot be read)."""
    conn = db.open_reader(path)
    try:
        return queries.report(conn, by, since)  # type: ignore[arg-type]
    finally:
        conn.close()


def empty_report(by: str, since: date | None) -> dict[str, Any]:
    """The report of a store with nothing in it yet (no file): same shape, from the same query."""
    conn = sqlite3.connect(":memory:", isolation_level=None)
    try:
        schema.migrate(conn)
        return queries.report(conn, by, since)  # type: ignore[arg-type]
    finally:
        conn.close()


def run_usage(
    argv: list[str], settings: Settings, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    """Print the usage table (or JSON); exit code 1 when the store cannot be read."""
    out = out or sys.stdout
    err = err or sys.stderr
    args = build_parser().parse_args(argv)
    path = db.default_path(override=settings.data_dir)
    try:
        report = read_report(path, args.by, args.since)
    except db.StoreError as exc:
        if exc.kind != "missing":
            print(f"claude-proxy usage: {exc}", file=err)
            return 1
        report = empty_report(args.by, args.since)
    if args.json:
        out.write(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode() + "\n")
    elif not report["rows"] and not report["totals"]["requests"]:
        print(f"No requests recorded ({report['since'] or 'all time'}) in {path}.", file=out)
    else:
        out.write(render_table(report))
    return 0
