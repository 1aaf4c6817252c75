"""What the scenarios share: a temp dir, the fake upstream, the load generator, warm proxies."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from bench.procs import (
    DIRECT_DIALECT,
    LoadGen,
    Proc,
    start_proxy,
    start_upstream,
    target,
    wait_idle,
)


@dataclass(frozen=True)
class Counts:
    """How much work each scenario does (full run, --quick, or the smoke test's --tiny)."""

    latency_n: int = 200
    latency_warmup: int = 20
    latency_rounds: int = 5
    """Rounds the side-by-side scenarios (latency, cc_body) split their requests into."""
    stream_n: int = 30
    stream_n_litellm: int = 10
    stream_chunks: int = 500
    ttft_paced_chunks: int = 20
    cpu_streams: int = 60
    cpu_streams_litellm: int = 10
    cpu_paced_streams: int = 16
    cpu_paced_concurrency: int = 4
    cpu_paced_ms: float = 1.0
    concurrency: tuple[tuple[int, int], ...] = ((50, 100), (200, 100))
    concurrency_reps: int = 5
    memory_marks: tuple[int, int] = (1000, 5000)
    memory_chunks: int = 20
    key_presses_idle: int = 30
    key_presses_load: int = 100
    key_gap: float = 0.05
    load_ramp: float = 1.0
    """Seconds the load runs before the first press under it."""
    load_streams: int = 20
    paced_load_chunks: int = 100
    paced_load_ms: float = 20.0
    settle: bool = True
    """Wait for each proxy's LiteLLM import to end before measuring (off only for --tiny)."""
    cc_n: int = 100
    """Claude Code requests per transport and mode (cc_body), after `cc_warmup` more each."""
    cc_warmup: int = 10
    cc_apart_n: int = 50
    """Claude Code streams per transport sent `cc_body.APART_MS` apart (after `cc_warmup`)."""


FULL = Counts()
QUICK = Counts(
    latency_n=60,
    latency_warmup=10,
    latency_rounds=3,
    stream_n=5,
    stream_n_litellm=3,
    cpu_streams=10,
    cpu_streams_litellm=3,
    cpu_paced_streams=8,
    concurrency_reps=1,
    memory_marks=(200, 1000),
    key_presses_idle=10,
    key_presses_load=20,
    cc_n=45,
    cc_warmup=5,
    cc_apart_n=20,
)
TINY = Counts(
    latency_n=3,
    latency_warmup=1,
    latency_rounds=1,
    stream_n=2,
    stream_n_litellm=1,
    stream_chunks=50,
    ttft_paced_chunks=5,
    cpu_streams=2,
    cpu_streams_litellm=1,
    cpu_paced_streams=2,
    cpu_paced_concurrency=2,
    concurrency=((5, 20),),
    concurrency_reps=1,
    memory_marks=(10, 20),
    key_presses_idle=3,
    key_presses_load=3,
    load_streams=3,
    key_gap=0.02,
    load_ramp=0.2,
    paced_load_chunks=10,
    settle=False,
    cc_n=2,
    cc_warmup=1,
    cc_apart_n=2,
)


class Stack:
    """The fake upstream and load generator for a whole run, plus one warm proxy per transport."""

    def __init__(self, counts: Counts, batch: int = 1) -> None:
        self.counts = counts
        self.batch = batch
        self.home = Path(tempfile.mkdtemp(prefix="claude-proxy-bench-"))
        self.upstream: Proc | None = None
        self.loadgen = LoadGen(self.home)
        self.proxies: dict[str, Proc] = {}
        self.spare: Proc | None = None
        self.warmed: set[Any] = set()
        self.error_samples: list[str] = []
        self.cc: dict[str, Any] | None = None
        """The Claude Code bodies of this run (bench.cc_body), prepared on first use."""

    def note_errors(self, where: str, samples: list[str]) -> None:
        """Keep a few error texts so the report can say why something failed."""
        for sample in samples[:3]:
            if len(self.error_samples) < 30:
                self.error_samples.append(f"{where}: {sample}")

    async def __aenter__(self) -> Stack:
        self.upstream = await start_upstream(self.home, self.batch)
        await self.loadgen.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Stop every process, remove the temp dir."""
        await self.loadgen.stop()
        for proc in self.proxies.values():
            proc.stop()
        self.proxies.clear()
        if self.spare is not None:
            self.spare.stop()
            self.spare = None
        if self.upstream is not None:
            self.upstream.stop()
            self.upstream = None
        shutil.rmtree(self.home, ignore_errors=True)

    @property
    def upstream_url(self) -> str:
        """Base URL of the fake upstream."""
        assert self.upstream is not None
        return self.upstream.url

    async def settle(self, proc: Proc) -> float | None:
        """Wait until `proc` is idle (see `wait_idle`); seconds waited, None when not settling."""
        return await wait_idle(proc) if self.counts.settle else None

    def upstream_cpu(self) -> float:
        """CPU seconds the fake upstream has used."""
        assert self.upstream is not None
        return self.upstream.cpu()

    def direct(self, transport: str) -> dict[str, Any]:
        """The load-generator target that calls the fake upstream directly, in its dialect."""
        dialect = DIRECT_DIALECT[transport]
        path = "/v1/chat/completions" if dialect == "openai" else "/v1/messages"
        return target(self.upstream_url + path, dialect)

    def via(self, transport: str) -> dict[str, Any]:
        """The load-generator target that goes through the proxy for `transport`."""
        return target(self.proxies[transport].url + "/v1/messages", "anthropic")

    async def ensure(self, transports: list[str]) -> dict[str, Proc]:
        """Start the missing proxies (in parallel), warm each up, wait until all are idle.

        Warming up sends a few requests, so LiteLLM's first-request setup is done; idle means
        the background LiteLLM import every proxy starts has finished.
        """
        missing = [t for t in transports if t not in self.proxies]
        started = await asyncio.gather(
            *(start_proxy(self.home, self.upstream_url, t) for t in missing)
        )
        self.proxies.update(zip(missing, started, strict=True))
        for transport in missing:
            for stream in (False, True):
                result = await self.loadgen.call(
                    op="requests",
                    target=self.via(transport),
                    n=4,
                    concurrency=1,
                    chunks=20,
                    stream=stream,
                )
                if result["errors"]:
                    proc = self.proxies[transport]
                    raise RuntimeError(
                        f"warm-up through the {transport} proxy failed: {result['error_samples']}"
                        f"\n{proc.log_tail()}"
                    )
        await asyncio.gather(*(self.settle(self.proxies[t]) for t in missing))
        return {t: self.proxies[t] for t in transports}
