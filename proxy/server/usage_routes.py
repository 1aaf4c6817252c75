"""Routes that read the store: /stats, /usage (JSON or CSV) and /metrics (Prometheus).

Every number comes from `proxy.store.queries` (the same functions `claude-proxy usage` calls),
read in a worker thread after the writer committed what was queued. The store is opened when
the server starts and closed when it stops (`install` adds that to the app).
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import AsyncIterator
from datetime import date
from typing import Any

from aiohttp import web

from proxy.core.errors import ProxyError
from proxy.core.json_response import json_response
from proxy.server import prometheus
from proxy.server.keys import SERVICE
from proxy.state.service import ProxyService
from proxy.store import queries
from proxy.store.db import StoreError

log = logging.getLogger(__name__)

USAGE_GROUPS = ("day", "model", "session", "preset", "provider")
CSV_FIELDS = (
    "requests",
    "errors",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "cost",
    "avg_duration",
    "avg_ttft",
)


def _bad(message: str) -> ProxyError:
    return ProxyError(400, "invalid_request_error", message)


def parse_since(raw: str | None) -> date | None:
    """`since=YYYY-MM-DD` as a date (None when absent); a 400 that shows the format otherwise."""
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise _bad(f"since: expected a date as YYYY-MM-DD, got {raw!r}") from None


def _unavailable(exc: StoreError) -> ProxyError:
    return ProxyError(503, "api_error", f"usage is not available: {exc}")


async def stats(request: web.Request) -> web.Response:
    """GET /stats: per-model numbers since start (memory) and totals since start, today and
    all time (store; null when it cannot be read, with `recording` saying why)."""
    service: ProxyService = request.app[SERVICE]
    body: dict[str, Any] = service.stats.snapshot()
    try:
        overview = await service.recording.read(queries.overview, service.started_at)
    except StoreError as exc:
        log.debug("stats without the store: %s", exc)
        overview = {"since_start": None, "today": None, "all_time": None}
    body["totals_since_start"] = overview["since_start"]
    body["today"] = overview["today"]
    body["all_time"] = overview["all_time"]
    body["recording"] = service.recording.status()
    return json_response(body)


def usage_csv(report: dict[str, Any]) -> str:
    """A usage report as CSV: the group key, then the sums and averages, one row per group."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    by = report["by"]
    writer.writerow((by, *CSV_FIELDS))
    for row in report["rows"]:
        writer.writerow(
            (row[by] if row[by] is not None else "", *(_cell(row[f]) for f in CSV_FIELDS))
        )
    return out.getvalue()


def _cell(value: Any) -> Any:
    return "" if value is None else value


async def usage(request: web.Request) -> web.Response:
    """GET /usage?by=day|model|session|preset|provider&since=YYYY-MM-DD[&format=json|csv]."""
    service: ProxyService = request.app[SERVICE]
    by = request.query.get("by", "day")
    if by not in USAGE_GROUPS:
        raise _bad(f"by: must be one of {', '.join(USAGE_GROUPS)}, got {by!r}")
    fmt = request.query.get("format", "json")
    if fmt not in ("json", "csv"):
        raise _bad(f"format: must be json or csv, got {fmt!r}")
    since = parse_since(request.query.get("since"))
    try:
        report = await service.recording.read(queries.report, by, since)
    except StoreError as exc:
        raise _unavailable(exc) from None
    if fmt == "csv":
        name = f"claude-proxy-usage-by-{by}.csv"
        return web.Response(
            text=usage_csv(report),
            content_type="text/csv",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )
    return json_response(report)


async def metrics(request: web.Request) -> web.Response:
    """GET /metrics: the Prometheus text format (store counters, histograms since start)."""
    service: ProxyService = request.app[SERVICE]
    try:
        rows: list[dict[str, Any]] | None = await service.recording.read(queries.usage_by_target)
    except StoreError as exc:
        log.debug("metrics without the store: %s", exc)
        rows = None
    text = prometheus.render(
        rows,
        service.latency.duration,
        service.latency.ttft,
        service.counters.in_flight,
        service.recording.status(),
    )
    return web.Response(body=text.encode(), headers={"Content-Type": prometheus.CONTENT_TYPE})


async def _recording(app: web.Application) -> AsyncIterator[None]:
    # Starts the writer thread (it opens the file itself: a bad folder never stops the server).
    recording = app[SERVICE].recording
    recording.start()
    yield
    await recording.stop()


def install(app: web.Application) -> None:
    """Add the store's routes, and the store's start and stop, to an app."""
    app.cleanup_ctx.append(_recording)
    app.router.add_get("/stats", stats)
    app.router.add_get("/usage", usage)
    app.router.add_get("/metrics", metrics)
