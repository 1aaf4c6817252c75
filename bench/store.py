"""`uv run python -m bench.store`: cost of `StoreWriter.submit_request` and the writer's throughput.

Prints JSON. Submit cost: each call timed alone with perf_counter_ns while the writer thread runs
(so GIL contention from its batches is in the figure), median and p99 over 100,000 calls, with
the median cost of an empty timing subtracted. Throughput: records submitted as fast as possible,
then flushed; records per second from the first submit until the flush returned.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

from proxy.store.writer import StoreWriter


def record(n: int, now: float) -> dict[str, Any]:
    """A typical finished request, as the proxy would build it from its events."""
    return {
        "id": f"req_{n:016x}",
        "started_at": now,
        "session_id": "5f0c6a3e-2f9b-4c1e-9d7a-2b8f1e4c7a90",
        "client": "claude-cli/2.1.197",
        "requested_model": "claude-sonnet-4-5",
        "model": "openai/gpt-4.1",
        "provider": "openai",
        "preset": "openai_premium",
        "reason": "big/small mapping",
        "stream": True,
        "status": 200,
        "ttft": 0.41,
        "duration": 3.2,
        "input_tokens": 12_000,
        "output_tokens": 350,
        "cache_read_tokens": 9_000,
        "cost": 0.0123,
        "stop_reason": "tool_use",
        "tool_calls": [{"name": "Read", "input": {"file_path": "/src/app.py"}}],
    }


def percentile(samples: list[int], pct: float) -> int:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(pct / 100 * len(ordered)))]


def submit_cost(folder: Path, calls: int) -> dict[str, Any]:
    writer = StoreWriter(folder / "submit.db")
    now = time.time()
    records = [record(n, now) for n in range(calls)]
    clock = time.perf_counter_ns
    empty = []
    for _ in range(calls):
        start = clock()
        empty.append(clock() - start)
    submit = writer.submit_request
    spent = []
    for item in records:
        start = clock()
        submit(item)  # type: ignore[arg-type]
        spent.append(clock() - start)
    # The whole per-request cost on the proxy loop: building the record dict, then submitting.
    built = []
    for n in range(calls):
        start = clock()
        submit(record(calls + n, now))  # type: ignore[arg-type]
        built.append(clock() - start)
    writer.flush(120)
    writer.close()
    timer = statistics.median(empty)
    return {
        "calls": calls,
        "timer_overhead_ns": timer,
        "submit_median_ns": statistics.median(spent) - timer,
        "submit_p99_ns": percentile(spent, 99) - timer,
        "build_and_submit_median_ns": statistics.median(built) - timer,
        "build_and_submit_p99_ns": percentile(built, 99) - timer,
        "rows_written": writer.rows_written,
    }


def throughput(folder: Path, count: int, turns: bool) -> dict[str, Any]:
    writer = StoreWriter(folder / f"throughput-{turns}.db")
    now = time.time()
    records = [record(n, now) for n in range(count)]
    start = time.perf_counter()
    for n, item in enumerate(records):
        writer.submit_request(item)  # type: ignore[arg-type]
        if turns:
            writer.submit_turn(
                {"at": now, "role": "user", "content": f"please fix the failing test number {n}"}
            )
    submitted = time.perf_counter()
    assert writer.flush(600)
    done = time.perf_counter()
    writer.close()
    rows = count * (2 if turns else 1)
    return {
        "records": rows,
        "submit_seconds": round(submitted - start, 3),
        "until_flushed_seconds": round(done - start, 3),
        "records_per_second": round(rows / (done - start)),
        "batches": writer.batches,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.store")
    parser.add_argument("--calls", type=int, default=100_000)
    parser.add_argument("--records", type=int, default=100_000)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        result = {
            "submit": submit_cost(folder, args.calls),
            "throughput_requests": throughput(folder, args.records, turns=False),
            "throughput_requests_and_turns": throughput(folder, args.records // 2, turns=True),
        }
    sys.stdout.write(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode() + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
