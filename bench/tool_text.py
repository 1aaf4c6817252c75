"""Per-delta cost of the tool-call text scanner on answers without tool markup (issue 14).

    uv run python -m bench.tool_text            # about 5 seconds

Feeds ordinary answer text in deltas of 5-20 characters (what providers stream) and prints the
CPU nanoseconds (thread time, steadier than wall time on a busy machine) per `feed` call, best of 5, next to two floors: a function that only wraps the delta
in a piece (the least any splitter costs) and the think-tag splitter the translator runs today.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable

from proxy.translate.think_tags import ThinkTagSplitter
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


def main() -> None:
    """Print ns per delta for plain prose and for Markdown with code, brackets and `<`."""
    print(f"{'text':<10} {'deltas':>7} {'wrap only':>10} {'think tags':>11} {'scanner':>9}")
    for label, text in (("prose", PROSE), ("markdown", MARKDOWN)):
        pieces = deltas(text, 100_000)
        wrap = per_call_ns(wrap_only, pieces)

        def think() -> Callable[[str], object]:
            splitter = ThinkTagSplitter()
            splitter.feed("x")  # past detection, as in the middle of an answer
            return splitter.feed

        tags = per_call_ns(think, pieces)
        scan = per_call_ns(lambda: ToolTextScanner(TOOLS).feed, pieces)
        print(f"{label:<10} {len(pieces):>7} {wrap:>8.0f}ns {tags:>9.0f}ns {scan:>7.0f}ns")


if __name__ == "__main__":
    main()
