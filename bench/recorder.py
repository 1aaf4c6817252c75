"""Added cost per request on the proxy loop of recording it in the store (issue 15).

    uv run python -m bench.recorder                 # about 10 seconds
    uv run python -m bench.recorder --requests 20000 --bodies

What the loop does for each request because the store exists: the recorder's two bus callbacks
(keep the start event; build one record dict and `SimpleQueue.put` it) and the latency
histograms' one callback (a bisect and a few additions). Each request is timed alone with
`perf_counter_ns` while the real writer thread commits batches to a real file (so GIL
contention from its batches is in the figure); median and p99 in microseconds, the empty
timing subtracted. A second figure times the whole `publish` of start + finish through every
subscriber of a real ProxyService, recording on and off (A/B, interleaved), as a cross-check.

Events carry what `Exchange` publishes for a Claude Code turn: a 60 KB request body (passed by
reference, never copied), an answer with text and a tool call.
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

from proxy.core.settings import load_settings
from proxy.state.events import REQUEST_FINISHED, REQUEST_STARTED, ProxyEvent
from proxy.state.latency import LatencyHistograms
from proxy.state.recorder import Recorder
from proxy.state.service import ProxyService
from proxy.store.writer import StoreWriter

BODY: dict[str, Any] = {
    "model": "claude-sonnet-4-5",
    "max_tokens": 32_000,
    "stream": True,
    "system": [{"type": "text", "text": "You are a coding assistant. " * 400}],
    "messages": [
        {"role": "user" if n % 2 == 0 else "assistant", "content": f"turn {n} " + "x" * 1_000}
        for n in range(50)
    ],
}
MESSAGE: dict[str, Any] = {
    "id": "msg_bench",
    "model": "gpt-4.1",
    "content": [
        {"type": "text", "text": "I will read the file first."},
        {"type": "tool_use", "id": "toolu_1", "name": "Read", "input": '{"file_path": "/a.py"}'},
    ],
    "stop_reason": "tool_use",
    "usage": {"input_tokens": 12_000, "output_tokens": 350, "cache_read_input_tokens": 9_000},
}


def events(n: int) -> tuple[ProxyEvent, ProxyEvent]:
    """request_started and request_finished as `Exchange` publishes them."""
    request_id = f"req_{n:016x}"
    started = ProxyEvent(
        REQUEST_STARTED,
        request_id,
        {
            "requested": "claude-sonnet-4-5",
            "model": "openai/gpt-4.1",
            "provider": "openai",
            "transport": "openai",
            "tier": "big",
            "reason": "big/small mapping",
            "stream": True,
            "session_id": "5f0c6a3e-2f9b-4c1e-9d7a-2b8f1e4c7a90",
            "endpoint": "messages",
            "body": BODY,
            "notes": [],
            "client": "claude-cli/2.1.197 (external, cli)",
            "origin": "client",
            "preset": "openai_premium",
        },
    )
    finished = ProxyEvent(
        REQUEST_FINISHED,
        request_id,
        {
            "model": "openai/gpt-4.1",
            "provider": "openai",
            "session_id": "5f0c6a3e-2f9b-4c1e-9d7a-2b8f1e4c7a90",
            "message": MESSAGE,
            "upstream_request": None,
            "input_tokens": 3_000,
            "output_tokens": 350,
            "cache_read_tokens": 9_000,
            "cache_write_tokens": 0,
            "cost": 0.0123,
            "latency": 3.2,
            "ttft": 0.41,
            "stop_reason": "tool_use",
        },
    )
    return started, finished


def _us(samples: list[int], floor: float) -> dict[str, float]:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
    return {
        "median_us": round((statistics.median(ordered) - floor) / 1000, 3),
        "p99_us": round((p99 - floor) / 1000, 3),
    }


def timer_floor(calls: int) -> float:
    """Median cost of an empty perf_counter_ns pair."""
    clock = time.perf_counter_ns
    empty = []
    for _ in range(calls):
        start = clock()
        empty.append(clock() - start)
    return statistics.median(empty)


def subscribers_cost(folder: Path, requests: int, bodies: bool) -> dict[str, Any]:
    """The recorder's and the histograms' callbacks per request, with a real writer running."""
    writer = StoreWriter(folder / "subscribers.db")
    record = Recorder(writer.submit_request, record_bodies=bodies).on_event
    latency = LatencyHistograms().on_event
    pairs = [events(n) for n in range(requests)]
    clock = time.perf_counter_ns
    spent = []
    for started, finished in pairs:
        start = clock()
        record(started)
        record(finished)
        latency(finished)
        spent.append(clock() - start)
    flushed = writer.flush(120)
    writer.close()
    return {
        **_us(spent, timer_floor(requests)),
        "requests": requests,
        "rows_written": writer.rows_written,
        "flushed": flushed,
    }


def publish_ab(folder: Path, requests: int, bodies: bool) -> dict[str, Any]:
    """Whole publish of start + finish through a real service's bus, recording off and on."""
    settings = load_settings(
        environ={"DATA_DIR": str(folder), "RECORD_BODIES": str(bodies).lower()},
        listen_checks=False,
    )
    service = ProxyService(settings, environ={"XDG_CONFIG_HOME": str(folder / "config")})
    publish = service.bus.publish
    clock = time.perf_counter_ns
    off: list[int] = []
    on: list[int] = []
    recording = service.recording
    # Interleaved blocks: both sides see the same machine load.
    block = 1_000
    for first in range(0, requests, block):
        for side, samples in ((False, off), (True, on)):
            if side:
                recording.start()
            for n in range(first, first + block):
                started, finished = events(n + (requests if side else 0))
                start = clock()
                publish(started)
                publish(finished)
                samples.append(clock() - start)
            if side:
                _stop(recording)
    floor = timer_floor(requests)
    off_us, on_us = _us(off, floor), _us(on, floor)
    return {
        "off": off_us,
        "on": on_us,
        "added_median_us": round(on_us["median_us"] - off_us["median_us"], 3),
    }


def _stop(recording: Any) -> None:
    """Stop recording outside a loop (Recording.stop is a coroutine for the proxy's loop)."""
    import asyncio

    asyncio.run(recording.stop(timeout=120))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.recorder")
    parser.add_argument("--requests", type=int, default=50_000)
    parser.add_argument("--bodies", action="store_true", help="RECORD_BODIES on")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        result = {
            "target_us": 50,
            "record_bodies": args.bodies,
            "subscribers": subscribers_cost(folder, args.requests, args.bodies),
            "publish": publish_ab(folder / "ab", min(args.requests, 20_000), args.bodies),
        }
    sys.stdout.write(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode() + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
