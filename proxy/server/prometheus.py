"""GET /metrics in the Prometheus text format (0.0.4): pure rendering of numbers read elsewhere.

Counters (requests, errors, tokens by kind, cost) are the store's all-time totals by provider
and model, the same numbers `/usage` and `claude-proxy usage` show; they never go down, since
retention keeps the rollups. Histograms (duration, TTFT) count since this proxy started (see
`proxy/state/latency.py`). Gauges: requests in flight, whether recording runs, its backlog.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from proxy.state.latency import Histogram

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
PREFIX = "claude_proxy_"
TOKEN_KINDS = ("input", "output", "cache_read", "cache_write")

Labels = tuple[tuple[str, str], ...]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(labels: Labels) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{name}="{_escape(value)}"' for name, value in labels) + "}"


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if isinstance(value, int) or float(value).is_integer():
        return str(int(value))
    return repr(float(value))


class Exposition:
    """Lines of one scrape, family by family (HELP and TYPE before its samples)."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def family(self, name: str, kind: str, help_text: str) -> None:
        """Start a metric family."""
        self.lines.append(f"# HELP {PREFIX}{name} {help_text}")
        self.lines.append(f"# TYPE {PREFIX}{name} {kind}")

    def sample(self, name: str, labels: Labels, value: float) -> None:
        """One sample line."""
        self.lines.append(f"{PREFIX}{name}{_labels(labels)} {_number(value)}")

    def histogram(self, name: str, labels: Labels, histogram: Histogram) -> None:
        """The `_bucket` lines (cumulative, with `le`), `_sum` and `_count` of one histogram."""
        for bound, count in histogram.cumulative():
            le = "+Inf" if math.isinf(bound) else repr(bound)
            self.sample(f"{name}_bucket", (*labels, ("le", le)), count)
        self.sample(f"{name}_sum", labels, histogram.total)
        self.sample(f"{name}_count", labels, histogram.count)

    def text(self) -> str:
        """The whole exposition, newline-terminated."""
        return "\n".join(self.lines) + "\n"


def _target(provider: str | None, model: str | None) -> Labels:
    return (("provider", provider or ""), ("model", model or ""))


def _usage_families(out: Exposition, rows: list[dict[str, Any]]) -> None:
    out.family("requests_total", "counter", "Requests recorded in the store, all time.")
    for row in rows:
        out.sample("requests_total", _target(row["provider"], row["model"]), row["requests"])
    out.family("errors_total", "counter", "Requests that ended in an error, all time.")
    for row in rows:
        out.sample("errors_total", _target(row["provider"], row["model"]), row["errors"])
    out.family(
        "tokens_total", "counter", "Tokens by kind (input, output, cache_read, cache_write)."
    )
    for row in rows:
        for kind in TOKEN_KINDS:
            labels = (*_target(row["provider"], row["model"]), ("kind", kind))
            out.sample("tokens_total", labels, row[f"{kind}_tokens"])
    out.family("cost_usd_total", "counter", "Estimated cost in USD from catalogue prices.")
    for row in rows:
        out.sample("cost_usd_total", _target(row["provider"], row["model"]), row["cost"])


def _histograms(
    out: Exposition, name: str, help_text: str, by_target: Mapping[tuple[str, str], Histogram]
) -> None:
    out.family(name, "histogram", help_text)
    for (provider, model), histogram in sorted(by_target.items()):
        out.histogram(name, _target(provider, model), histogram)


def render(
    usage_rows: Iterable[dict[str, Any]] | None,
    duration: Mapping[tuple[str, str], Histogram],
    ttft: Mapping[tuple[str, str], Histogram],
    in_flight: int,
    recording: Mapping[str, Any],
) -> str:
    """The exposition text; `usage_rows` None when the store cannot be read (counters left out)."""
    out = Exposition()
    if usage_rows is not None:
        _usage_families(out, list(usage_rows))
    _histograms(
        out,
        "request_duration_seconds",
        "Request duration in seconds, since the proxy started.",
        duration,
    )
    _histograms(
        out, "time_to_first_token_seconds", "Time to first token in seconds, since start.", ttft
    )
    out.family("in_flight_requests", "gauge", "Requests being served now.")
    out.sample("in_flight_requests", (), in_flight)
    out.family("recording", "gauge", "1 while requests are recorded in the store, else 0.")
    out.sample("recording", (), 1 if recording.get("state") == "recording" else 0)
    out.family("store_backlog", "gauge", "Records waiting to be written to the store.")
    out.sample("store_backlog", (), int(recording.get("backlog") or 0))
    return out.text()
