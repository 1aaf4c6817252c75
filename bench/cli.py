"""`python -m bench`: run the scenarios, print the table, write the JSON."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import traceback
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson

from bench import cc_body, lifecycle, report, scenarios, tui_keys, tui_paint, tui_tmux
from bench.procs import REPO, TRANSPORTS
from bench.stack import FULL, QUICK, TINY, Counts, Stack
from bench.stats import Flat, combine

Scenario = Callable[[Stack, "Options"], Awaitable[Flat]]

DEFAULT_OUT = REPO / "bench" / "results" / "latest.json"


class Options(argparse.Namespace):
    """Parsed command line."""

    quick: bool
    tiny: bool
    only: list[str]
    runs: int
    transports: list[str]
    concurrency_transports: list[str]
    batch: int
    tools: bool
    out: Path
    run_index: int = 0


# In execution order: start-up and memory first, on a machine with no proxy running yet.
SCENARIOS: dict[str, Scenario] = {
    # The first start-up's proxy goes on to the memory scenario (saves one LiteLLM import wait).
    "startup": lambda s, o: lifecycle.startup(s, keep="memory" in o.only and o.run_index == 0),
    "memory": lambda s, o: lifecycle.memory(s),
    "tui_paint": lambda s, o: tui_paint.tui_paint(s),
    "latency": lambda s, o: scenarios.latency(s, o.transports),
    "stream": lambda s, o: scenarios.streaming(s, o.transports),
    "cpu": lambda s, o: scenarios.cpu(s, o.transports),
    "concurrency": lambda s, o: scenarios.concurrency(s, o.concurrency_transports),
    "cc_body": lambda s, o: cc_body.cc_body(s, o.transports),
    "tui_keys": lambda s, o: tui_keys.key_latency(s),
    "tui_tmux": lambda s, o: tui_tmux.tui_tmux(s),
}
ONCE = {"memory"}
"""Scenarios run once whatever --runs says (5,000 requests are enough of a sample)."""


def _names(value: str, allowed: list[str] | dict[str, Any]) -> list[str]:
    names = [n.strip() for n in value.split(",") if n.strip()]
    unknown = [n for n in names if n not in allowed]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown {unknown}; choose from {', '.join(allowed)}")
    return names


def parse(argv: list[str] | None) -> Options:
    """The command line."""
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="claude-proxy benchmark: proxy vs direct on loopback against a fast fake "
        "upstream; prints a table and writes JSON.",
    )
    parser.add_argument("--quick", action="store_true", help="small counts, one run (< 60 s)")
    parser.add_argument("--tiny", action="store_true", help="a few requests each (smoke test)")
    parser.add_argument(
        "--only",
        type=lambda v: _names(v, SCENARIOS),
        default=list(SCENARIOS),
        help=f"comma list of scenarios: {','.join(SCENARIOS)}",
    )
    parser.add_argument("--runs", type=int, default=None, help="runs to take medians of (3)")
    parser.add_argument(
        "--transports",
        type=lambda v: _names(v, TRANSPORTS),
        default=list(TRANSPORTS),
        help="transports for latency, stream, cpu and cc_body (openai,anthropic,litellm,relay; relay "
        "is the floor: a plain aiohttp byte relay, not the proxy)",
    )
    parser.add_argument(
        "--concurrency-transports",
        type=lambda v: _names(v, TRANSPORTS),
        default=["openai", "anthropic", "relay"],
        help="transports for the concurrency scenario (openai,anthropic,relay)",
    )
    parser.add_argument(
        "--batch", type=int, default=1, help="fake upstream: SSE writes between loop yields (1)"
    )
    parser.add_argument(
        "--tools",
        action="store_true",
        help="Anthropic requests offer six small tools, as Claude Code always does (tool-call "
        "recovery runs only then)",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON output path")
    opts = parser.parse_args(argv, namespace=Options())
    if opts.runs is None:
        opts.runs = 1 if (opts.quick or opts.tiny) else 3
    return opts


def counts(opts: Options) -> Counts:
    """The work per scenario for the chosen mode."""
    return TINY if opts.tiny else QUICK if opts.quick else FULL


def _progress(message: str, started: float) -> None:
    print(f"[{time.perf_counter() - started:6.1f} s] {message}", file=sys.stderr, flush=True)


async def run(opts: Options) -> dict[str, Any]:
    """Every selected scenario, `runs` times, interleaved run by run; the combined results."""
    started = time.perf_counter()
    runs: dict[str, list[Flat]] = {name: [] for name in opts.only}
    failures: dict[str, str] = {}
    meta = {"machine_before": report.machine(), "options": _options(opts)}
    async with Stack(counts(opts), opts.batch) as stack:
        for i in range(opts.runs):
            opts.run_index = i
            for name in opts.only:
                if name in failures or (name in ONCE and i > 0):
                    continue
                _progress(f"run {i + 1}/{opts.runs}: {name}", started)
                try:
                    runs[name].append(await SCENARIOS[name](stack, opts))
                except Exception as exc:
                    failures[name] = f"{type(exc).__name__}: {exc}"
                    _progress(f"{name} failed: {failures[name]}", started)
                    traceback.print_exc(file=sys.stderr)
        errors = list(stack.error_samples)
    figures: Flat = {}
    for name in opts.only:
        figures.update(combine(runs[name]))
    _progress("done", started)
    rows = report.table_rows(figures)
    return {
        "meta": {
            **meta,
            "machine_after": report.machine(),
            "seconds": time.perf_counter() - started,
        },
        "figures": figures,
        "table": [
            dict(zip(("figure", "measured", "target", "verdict"), r, strict=True)) for r in rows
        ],
        "runs": runs,
        "failures": failures,
        "error_samples": errors,
    }


def _options(opts: Options) -> dict[str, Any]:
    c = counts(opts)
    return {
        "mode": "tiny" if opts.tiny else "quick" if opts.quick else "full",
        "runs": opts.runs,
        "only": opts.only,
        "transports": opts.transports,
        "concurrency_transports": opts.concurrency_transports,
        "upstream_batch": opts.batch,
        "tools": opts.tools,
        "counts": {k: getattr(c, k) for k in c.__dataclass_fields__},
    }


def main(argv: list[str] | None = None) -> int:
    """Entry point; exit 1 when a scenario crashed (a missed target is not an error)."""
    opts = parse(argv)
    if opts.tools:
        os.environ["BENCH_TOOLS"] = "1"  # the load generator process reads it
    result = asyncio.run(run(opts))
    opts.out.parent.mkdir(parents=True, exist_ok=True)
    opts.out.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
    rows = [tuple(r.values()) for r in result["table"]]
    m = result["meta"]["machine_before"]
    print(
        f"\nclaude-proxy benchmark ({result['meta']['options']['mode']}, medians of "
        f"{opts.runs} run(s)) on {m['cpu']}, {m['cores']} cores, Python {m['python']}, "
        f"git {m['git']}; load average before {m['load_average']}, after "
        f"{result['meta']['machine_after']['load_average']}\n"
    )
    print(report.render(rows))
    for name, failure in result["failures"].items():
        print(f"\n{name} FAILED: {failure}")
    if result["error_samples"]:
        print("\nerror samples:\n  " + "\n  ".join(result["error_samples"][:10]))
    print(f"\nJSON: {opts.out}")
    return 1 if result["failures"] else 0
