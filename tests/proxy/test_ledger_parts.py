"""The ledger's keepers that count when read give the numbers of counting one by one."""

from __future__ import annotations

import random
from bisect import bisect_left
from typing import Any

import pytest

from proxy.state import latency as latency_module
from proxy.state import stats as stats_module
from proxy.state import turns
from proxy.state.debug_log import DebugLog
from proxy.state.events import REQUEST_FINISHED, REQUEST_STARTED, ProxyEvent
from proxy.state.latency import DURATION_BUCKETS, TTFT_BUCKETS, Histogram, LatencyHistograms
from proxy.state.ledger import Started, new_started
from proxy.state.stats import MIN_SPEED_SECONDS, ModelStats


def _samples(n: int, seed: int) -> list[tuple[str, str, Any, Any]]:
    rng = random.Random(seed)
    keys = [("openai", "openai/gpt-4.1"), ("gemini", "gemini/gemini-2.5-pro"), ("", "")]
    out = []
    for _ in range(n):
        provider, model = rng.choice(keys)
        latency = rng.choice([0.0, 0.1, 0.25, rng.random() * 700, rng.random()])
        ttft = rng.choice([None, 0.05, rng.random() * 3, 61.0])
        out.append((provider, model, latency, ttft))
    return out


@pytest.mark.parametrize("fold_at", [1, 3, 1024])
def test_latency_histograms_counted_when_read_match_one_by_one(
    monkeypatch: pytest.MonkeyPatch, fold_at: int
) -> None:
    monkeypatch.setattr(latency_module, "FOLD_AT", fold_at)
    histograms = LatencyHistograms()
    duration: dict[tuple[str, str], Histogram] = {}
    ttft: dict[tuple[str, str], Histogram] = {}
    for position, (provider, model, latency, first) in enumerate(_samples(500, fold_at)):
        histograms.observe(provider, model, latency, first)
        key = (provider, model)
        duration.setdefault(key, Histogram(DURATION_BUCKETS)).observe(float(latency))
        if first is not None:
            ttft.setdefault(key, Histogram(TTFT_BUCKETS)).observe(float(first))
        if position % 97 == 0:  # read now and then: what was counted stays counted
            assert list(histograms.duration) == list(duration)
    for mine, reference in ((histograms.duration, duration), (histograms.ttft, ttft)):
        assert list(mine) == list(reference)  # the /metrics order: first seen first
        for key, histogram in reference.items():
            assert mine[key].counts == histogram.counts
            assert mine[key].total == histogram.total  # the same sum, to the last bit
            assert mine[key].count == histogram.count
    assert bisect_left(DURATION_BUCKETS, 0.25) == 1  # `le` buckets: 0.25 counts in 0.25


@pytest.mark.parametrize("fold_at", [1, 5, 1024])
def test_model_timings_counted_when_read_match_one_by_one(
    monkeypatch: pytest.MonkeyPatch, fold_at: int
) -> None:
    monkeypatch.setattr(stats_module, "FOLD_AT", fold_at)
    stats = ModelStats()
    latencies: list[float] = []
    ttfts: list[float] = []
    seconds, tokens = 0.0, 0
    rng = random.Random(fold_at)
    for _ in range(3000):
        latency = rng.choice([0.1, 0.3, rng.random() * 20])
        ttft = rng.choice([None, 0.0, 0.05, rng.random() * 2])
        output = rng.choice([0, 1, 350])
        stats.finished(latency, ttft, output)
        latencies.append(latency)
        if ttft is not None:
            ttfts.append(float(ttft))
        generating = latency - float(ttft) if ttft is not None else latency
        if generating >= MIN_SPEED_SECONDS and output > 0:
            seconds += generating
            tokens += output
    snapshot = stats.snapshot()
    assert list(stats.latencies) == latencies[-stats_module.WINDOW :]
    assert list(stats.ttfts) == ttfts[-stats_module.WINDOW :]
    assert stats.generation_seconds == seconds
    assert stats.generated_tokens == tokens
    assert snapshot["tokens_per_second"] == round(tokens / seconds, 2)


BODIES: list[dict[str, Any]] = [
    {"messages": [{"role": "user", "content": "only"}]},
    {"messages": [{"role": "assistant", "content": "no user"}]},
    {"messages": []},
    {"messages": "not a list"},
    {},
    {
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "<system-reminder>x"}]},
            {"role": "system", "content": "mid-conversation"},
            {"role": "assistant", "content": "ok"},
            {"role": "user", "content": [{"type": "text", "text": "next"}]},
            {"role": "system", "content": "trailing"},
        ]
    },
    {
        "messages": [
            {"role": "user", "content": "a"},
            "not a dict",
            {"role": "user", "content": "b"},
        ]
    },
    {"messages": [{"content": "no role"}, {"role": "user", "content": "b"}]},
    {"messages": [{"role": ["unhashable"]}, {"role": "user", "content": "c"}]},
    {"messages": [{"role": "developer", "content": "x"}, {"role": "user", "content": "d"}]},
]


def _slow_newest(body: dict[str, Any]) -> tuple[str, str] | None:
    # The definition: the last user message of `conversation`, keyed by the thread's first.
    conversation = turns.conversation(body)
    users = [i for i, m in enumerate(conversation) if m["role"] == "user"]
    if not users:
        return None
    index = users[-1]
    content = conversation[index].get("content")
    raw = turns.summarise(content, keep_reminders=True)
    own = turns.digest(raw)
    first = conversation[0].get("content")
    thread = own if index == 0 else turns.digest(turns.summarise(first, keep_reminders=True))
    return f"{thread}:{index}:{own}", turns.summarise(content)


@pytest.mark.parametrize("body", BODIES)
def test_the_newest_user_turn_found_by_c_loops_is_the_one_defined(body: dict[str, Any]) -> None:
    assert turns.newest_user_turn(body) == _slow_newest(body)
    assert turns.newest_user_turn(body) == _slow_newest(body)  # the thread remembered


def test_a_remembered_thread_is_found_by_its_content_not_its_identity() -> None:
    first = {"role": "user", "content": [{"type": "text", "text": "start here"}]}
    one = {"messages": [first, {"role": "assistant", "content": "a"}, turns_user("b")]}
    changed = {"role": "user", "content": [{"type": "text", "text": "start elsewhere"}]}
    two = {"messages": [changed, {"role": "assistant", "content": "a"}, turns_user("b")]}
    for body in (one, two, one, two):
        assert turns.newest_user_turn(body) == _slow_newest(body)
    keys = {str(turns.newest_user_turn(body)).split(":")[0] for body in (one, two)}
    assert len(keys) == 2


def turns_user(text: str) -> dict[str, Any]:
    """A user message of one text block."""
    return {"role": "user", "content": [{"type": "text", "text": text}]}


def _record(n: int, at: float, notes: list[str]) -> Started:
    values = ("claude-x", f"openai/m{n}", "openai", "openai", "big", "why", False, f"s{n}")
    return new_started(Started, (*values, "messages", "cli", "client", None, notes, at, 2, 1, 50))


def _started_event(n: int, at: float, notes: list[str]) -> ProxyEvent:
    names = ("requested", "model", "provider", "transport", "tier", "reason", "stream")
    record = _record(n, at, notes)
    data = dict(zip(names, record[:7], strict=True))
    data |= {"session_id": record.session_id, "endpoint": "messages", "notes": notes}
    data |= {"body": {"messages": [1, 2], "tools": [1], "max_tokens": 50}}
    return ProxyEvent(REQUEST_STARTED, f"r{n}", data, at)


def _finished_event(n: int, at: float) -> ProxyEvent:
    data = {
        "model": f"openai/m{n}",
        "input_tokens": n,
        "output_tokens": 2,
        "cache_read_tokens": 0,
        "cost": 0.5,
        "latency": 1.5,
        "ttft": None,
        "stop_reason": "end_turn",
        "tool_repairs": [],
    }
    return ProxyEvent(REQUEST_FINISHED, f"r{n}", data, at)


@pytest.mark.parametrize("limit", [1, 2, 3, 5, 50])
def test_debug_entries_made_from_records_on_read_are_the_entries_of_the_events(
    limit: int,
) -> None:
    """Interleaved requests and plain entries, read at times, evicted, cleared."""
    ledger, events = DebugLog(limit), DebugLog(limit)
    notes: dict[int, list[str]] = {}
    for step in range(40):
        n, at = step // 3, 1_700_000_000.0 + step
        if step % 3 == 0:
            notes[n] = [f"note {n}"] if n % 2 else []
            ledger.request_started(f"r{n}", _record(n, at, notes[n]))
            events.on_event(_started_event(n, at, notes[n]))
        elif step % 3 == 1:
            for log in (ledger, events):
                log.add("switch", f"plain {step}", {"step": step}, when=at)
        else:
            notes[n].append("late note")
            finished = _finished_event(n, at)
            ledger.request_finished(finished, _record(n, at, notes[n]), [])
            events.on_event(finished)
        if step % 7 == 0:
            assert ledger.entries(limit=limit) == events.entries(limit=limit)
        if step == 30:
            ledger.clear()
            events.clear()
    assert len(ledger) == len(events)
    for log_type in ("all", "request", "model_mapping", "response", "switch"):
        assert ledger.entries(log_type, 100) == events.entries(log_type, 100)
