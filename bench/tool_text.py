"""Per-delta cost of the tool-call text scanner on answers without tool markup (issue 14).

    uv run python -m bench.tool_text            # about 5 seconds

Feeds ordinary answer text in deltas of 5-20 characters (what providers stream) and prints the
CPU nanoseconds (thread time, steadier than wall time on a busy machine) per call, best of 5:
`feed`, and `plain` (the test the stream translator makes first: a delta that passes it goes out
as it is, `feed` is not called), next to two floors: a function that only wraps the delta in a
piece (the least any splitter costs) and the think-tag splitter the translator runs.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any

from proxy.translate.stream_translator import StreamTranslator
from proxy.translate.think_tags import ThinkTagSplitter
from proxy.translate.tool_recovery import RecoveringTranslator
from proxy.translate.tool_text import ToolTextScanner

PROSE = (
    "The failing test comes from the retry helper: it sleeps with the real clock, so the test "
    "waits for the whole back-off. I changed it to take the clock as an argument and the test "
    "now passes in a few milliseconds. Nothing else calls the helper, so the change is safe. "
)
MARKDOWN = (
    "Here is what changed:\n\n1. `retry()` takes a `clock` argument [default: `time.monotonic`].\n"
    "2. The test passes a fake clock, so a < b holds without sleeping.\n\n"
    "```python\ndef retry(call, clock=time.monotonic):\n    started = clock()\n"
    "    while clock() - started < LIMIT:\n        if (result := call()) is not None:\n"
    "            return result\n```\n\nRun `pytest tests/test_retry.py -q` to check.\n"
)
TOOLS = ["Bash", "Read", "Edit", "Write", "Glob", "Grep", "TodoWrite", "WebFetch", "Task"]


def deltas(text: str, count: int, seed: int = 7) -> list[str]:
    """`count` consecutive deltas of 5-20 characters cut from `text` repeated."""
    rng = random.Random(seed)
    source = text * (count * 20 // len(text) + 2)
    out: list[str] = []
    at = 0
    while len(out) < count:
        size = rng.randint(5, 20)
        out.append(source[at : at + size])
        at += size
    return out


def per_call_ns(feed_factory: Callable[[], Callable[[str], object]], pieces: list[str]) -> float:
    """Best of 5 runs: nanoseconds per call of a fresh feed function over all pieces."""
    best = float("inf")
    for _ in range(5):
        feed = feed_factory()
        started = time.thread_time_ns()
        for piece in pieces:
            feed(piece)
        best = min(best, (time.thread_time_ns() - started) / len(pieces))
    return best


def wrap_only() -> Callable[[str], object]:
    """The floor: wrap each delta in a text piece and nothing else."""

    def feed(text: str) -> list[tuple[str, str]]:
        return [("text", text)]

    return feed


def plain_then_feed(scanner: ToolTextScanner) -> Callable[[str], object]:
    """What the translator does per delta: `plain` first, `feed` only when that says no."""
    plain, feed = scanner.plain, scanner.feed

    def step(text: str) -> object:
        if plain(text):
            return text
        return feed(text)

    return step


def share_plain(pieces: list[str]) -> float:
    """The share of deltas that take the `plain` path."""
    scanner = ToolTextScanner(TOOLS)
    passed = 0
    for piece in pieces:
        if scanner.plain(piece):
            passed += 1
        else:
            scanner.feed(piece)
    return passed / len(pieces)


def translator_feed(recovering: bool) -> Callable[[dict[str, Any]], object]:
    """`feed` of a translator in the middle of a text block: plain, or recovering tool calls."""
    offered = {name: {"type": "object"} for name in TOOLS}
    translator = RecoveringTranslator("m", 0, offered) if recovering else StreamTranslator("m", 0)
    translator.feed({"choices": [{"delta": {"content": "Hi"}}]})
    return translator.feed


def chunk_costs() -> None:
    """CPU per OpenAI chunk through the whole translator, without and with recovery."""
    print(f"\n{'per chunk':<10} {'chunks':>7} {'no tools':>10} {'recovering':>11} {'added':>7}")
    for label, text in (("prose", PROSE), ("markdown", MARKDOWN)):
        chunks = [{"choices": [{"delta": {"content": piece}}]} for piece in deltas(text, 100_000)]
        plain = per_call_ns(lambda: translator_feed(False), chunks)  # type: ignore[arg-type]
        recovering = per_call_ns(lambda: translator_feed(True), chunks)  # type: ignore[arg-type]
        print(
            f"{label:<10} {len(chunks):>7} {plain:>8.0f}ns {recovering:>9.0f}ns "
            f"{recovering - plain:>5.0f}ns"
        )


def main() -> None:
    """Print ns per delta for plain prose and for Markdown with code, brackets and `<`."""
    print(
        f"{'text':<10} {'deltas':>7} {'wrap only':>10} {'think tags':>11} {'feed':>7} "
        f"{'plain':>7} {'passed':>7}"
    )
    for label, text in (("prose", PROSE), ("markdown", MARKDOWN)):
        pieces = deltas(text, 100_000)
        wrap = per_call_ns(wrap_only, pieces)

        def think() -> Callable[[str], object]:
            splitter = ThinkTagSplitter()
            splitter.feed("x")  # past detection, as in the middle of an answer
            return splitter.feed

        tags = per_call_ns(think, pieces)
        scan = per_call_ns(lambda: ToolTextScanner(TOOLS).feed, pieces)
        plain = per_call_ns(lambda: plain_then_feed(ToolTextScanner(TOOLS)), pieces)
        passed = share_plain(pieces)
        print(
            f"{label:<10} {len(pieces):>7} {wrap:>8.0f}ns {tags:>9.0f}ns {scan:>5.0f}ns "
            f"{plain:>5.0f}ns {passed:>6.0%}"
        )
    chunk_costs()


if __name__ == "__main__":
    main()
