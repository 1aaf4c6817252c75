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

A third figure is the writer thread's own CPU per request (`time.thread_time` inside its
methods, split into row building with redaction, SQL with the commit, pruning, and the rest:
waking, gathering, the queue hand-off), while a model loop thread serves requests at a pace
(`--busy-us` of Python holding the GIL, then `--idle-us` asleep as in epoll), and the context
switches per request of both threads (each GIL hand-off between them is a pair of switches),
against the same loop with no writer at all.

Events carry what `Exchange` publishes for a Claude Code turn: a 60 KB request body (passed by
reference, never copied), an answer with text and a tool call.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import orjson

from proxy.core.redact import Redactor
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
    # Scattered like Exchange's random ids (an odd multiplier is a bijection mod 2**64), so the
    # id index takes inserts all over, as in a real store.
    request_id = f"req_{n * 0x9E3779B97F4A7C15 % 2**64:016x}"
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


def _switches(native_id: int) -> int:
    """Context switches so far of one thread of this process (voluntary + not)."""
    with open(f"/proc/self/task/{native_id}/status") as status:
        return sum(int(line.split()[-1]) for line in status if "ctxt_switches" in line)


class _TimedWriter(StoreWriter):
    """A writer that adds up its thread's CPU in row building, SQL and pruning."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.phases = {"write": 0.0, "rows": 0.0, "prune": 0.0}
        super().__init__(*args, **kwargs)

    def _write(self, *args: Any) -> None:
        start = time.thread_time()
        super()._write(*args)
        self.phases["write"] += time.thread_time() - start

    def _rows(self, *args: Any) -> Any:
        start = time.thread_time()
        try:
            return super()._rows(*args)
        finally:
            self.phases["rows"] += time.thread_time() - start

    def _prune(self) -> None:
        start = time.thread_time()
        super()._prune()
        self.phases["prune"] += time.thread_time() - start

    def cpu(self) -> float:
        """Seconds of CPU of the writer thread so far."""
        ident = self._thread.ident
        assert ident is not None
        return time.clock_gettime(time.pthread_getcpuclockid(ident))

    def per_request(self, total: float, requests: int) -> dict[str, float]:
        """Microseconds of the writer thread's CPU per request, by phase."""
        p = self.phases
        parts = {
            "rows_us": p["rows"],
            "sql_us": p["write"] - p["rows"],
            "prune_us": p["prune"],
            "wake_gather_queue_us": total - p["write"] - p["prune"],
            "total_us": total,
        }
        return {k: round(v / requests * 1e6, 3) for k, v in parts.items()}


def _serve(requests: int, busy_us: float, idle_us: float, record: Any) -> tuple[int, float]:
    """A model proxy loop: per request the recorder's two events, Python work, then a sleep.

    Returns the loop thread's context switches and CPU seconds."""
    pairs = [events(n) for n in range(requests)]
    me = threading.get_native_id()
    clock = time.perf_counter
    switches, cpu = _switches(me), time.thread_time()
    for started, finished in pairs:
        record(started)
        end = clock() + busy_us / 1e6
        while clock() < end:
            pass
        record(finished)
        time.sleep(idle_us / 1e6)
    return _switches(me) - switches, time.thread_time() - cpu


def writer_cost(
    folder: Path, requests: int, bodies: bool, busy_us: float, idle_us: float, prefill: int
) -> dict[str, Any]:
    """The writer thread's CPU per request by phase, and the switches it costs the loop."""
    alone, _ = _serve(requests, busy_us, idle_us, Recorder(lambda r: None, bodies).on_event)
    writer = _TimedWriter(folder / "writer.db", redact=Redactor(["sk-test-0123456789abcdef"]))
    # A store in use holds weeks of rows: its indexes no longer fit in a few pages.
    record = Recorder(writer.submit_request, bodies).on_event
    for n in range(prefill):
        for event in events(requests + n):
            record(event)
    writer.flush(600)  # the file is open, migrated and filled before the count starts
    time.sleep(0.05)
    writer_id = writer._thread.native_id or 0
    before, cpu = _switches(writer_id), writer.cpu()
    writer.phases = dict.fromkeys(writer.phases, 0.0)
    loop, _ = _serve(requests, busy_us, idle_us, Recorder(writer.submit_request, bodies).on_event)
    flushed = writer.flush(120)
    after, cpu = _switches(writer_id), writer.cpu() - cpu
    writer.close()
    return {
        "requests": requests,
        "loop_busy_us": busy_us,
        "loop_idle_us": idle_us,
        "batches": writer.batches,
        "rows_written": writer.rows_written,
        "flushed": flushed,
        "writer_cpu": writer.per_request(cpu, requests),
        "writer_switches_per_request": round((after - before) / requests, 3),
        "loop_switches_per_request": round(loop / requests, 3),
        "loop_switches_per_request_no_store": round(alone / requests, 3),
    }


def _stop(recording: Any) -> None:
    """Stop recording outside a loop (Recording.stop is a coroutine for the proxy's loop)."""
    import asyncio

    asyncio.run(recording.stop(timeout=120))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.recorder")
    parser.add_argument("--requests", type=int, default=50_000)
    parser.add_argument("--bodies", action="store_true", help="RECORD_BODIES on")
    parser.add_argument("--paced", type=int, default=5_000, help="requests of the paced run")
    parser.add_argument("--busy-us", type=float, default=300.0, help="loop CPU per request")
    parser.add_argument("--idle-us", type=float, default=300.0, help="loop sleep per request")
    parser.add_argument("--prefill", type=int, default=50_000, help="rows stored before")
    parser.add_argument(
        "--only", choices=("all", "writer"), default="all", help="writer: the paced run only"
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        result: dict[str, Any] = {"target_us": 50, "record_bodies": args.bodies}
        if args.only == "all":
            result["subscribers"] = subscribers_cost(folder, args.requests, args.bodies)
            result["publish"] = publish_ab(folder / "ab", min(args.requests, 20_000), args.bodies)
        result["writer"] = writer_cost(
            folder, args.paced, args.bodies, args.busy_us, args.idle_us, args.prefill
        )
        result["uptime"] = os.getloadavg()
    sys.stdout.write(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode() + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
