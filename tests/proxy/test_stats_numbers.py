"""Numbers a user reads: tok/s only over a real generation, totals with timings, own requests apart."""

from __future__ import annotations

import pytest

from proxy.state.events import REQUEST_FAILED, REQUEST_FINISHED, REQUEST_STARTED, ProxyEvent
from proxy.state.stats import Stats
from tests.conftest import ProxyFactory
from tests.support.fake_upstream import FakeUpstream, Reply
from tests.support.mgmt import BIG, SMALL, ask, call, turn

MODEL = "openai/gpt-4.1"


def request(
    stats: Stats,
    rid: str,
    latency: float,
    ttft: float | None,
    out: int,
    origin: str = "client",
    cost: float = 0.01,
) -> None:
    """Feed started + finished for one request."""
    stats.on_event(ProxyEvent(REQUEST_STARTED, rid, {"model": MODEL, "origin": origin}))
    data = {
        "model": MODEL,
        "input_tokens": 10,
        "output_tokens": out,
        "cost": cost,
        "latency": latency,
        "ttft": ttft,
    }
    stats.on_event(ProxyEvent(REQUEST_FINISHED, rid, data))


def test_a_burst_answer_has_no_speed() -> None:
    """4 tokens 80 us after the first one is a buffered answer, not 50,000 tok/s."""
    stats = Stats()
    request(stats, "a", latency=0.30008, ttft=0.3, out=4)
    snapshot = stats.snapshot()
    assert snapshot["models"][MODEL]["tokens_per_second"] is None
    assert snapshot["totals"]["tokens_per_second"] is None


def test_speed_counts_only_long_enough_generations() -> None:
    stats = Stats()
    request(stats, "a", latency=0.30008, ttft=0.3, out=4)
    request(stats, "b", latency=2.5, ttft=0.5, out=100)
    request(stats, "c", latency=1.0, ttft=None, out=50)  # non-streaming: the whole call
    speed = stats.snapshot()["models"][MODEL]["tokens_per_second"]
    assert speed == pytest.approx(150 / 3.0, abs=0.01)


def test_totals_carry_latency_ttft_and_speed_of_all_models() -> None:
    stats = Stats()
    request(stats, "a", latency=1.0, ttft=0.2, out=40)
    request(stats, "b", latency=3.0, ttft=0.4, out=100)
    stats.on_event(ProxyEvent(REQUEST_STARTED, "c", {"model": "gemini/gemini-2.5-pro"}))
    stats.on_event(
        ProxyEvent(
            REQUEST_FINISHED,
            "c",
            {"model": "gemini/gemini-2.5-pro", "latency": 2.0, "ttft": 0.3, "output_tokens": 17},
        )
    )
    totals = stats.snapshot()["totals"]
    assert (totals["latency_p50"], totals["latency_p95"]) == (2.0, 3.0)
    assert (totals["ttft_p50"], totals["ttft_p95"]) == (0.3, 0.4)
    assert totals["tokens_per_second"] == pytest.approx(157 / (0.8 + 2.6 + 1.7), abs=0.01)


def test_probes_and_replays_are_counted_apart_too() -> None:
    stats = Stats()
    request(stats, "a", latency=1.0, ttft=0.2, out=40, cost=0.5)
    request(stats, "p", latency=1.0, ttft=0.2, out=3, origin="probe", cost=0.001)
    request(stats, "r", latency=1.0, ttft=0.2, out=9, origin="replay", cost=0.02)
    stats.on_event(ProxyEvent(REQUEST_STARTED, "q", {"model": MODEL, "origin": "probe"}))
    stats.on_event(ProxyEvent(REQUEST_FAILED, "q", {"model": MODEL}))
    snapshot = stats.snapshot()
    # The totals are what was spent (as /usage and /metrics say); the TUI's own requests are
    # named apart so the user sees how much of it they were.
    assert snapshot["totals"]["requests"] == 4
    assert snapshot["origins"] == {
        "probe": {
            "requests": 2,
            "errors": 1,
            "input_tokens": 10,
            "output_tokens": 3,
            "cost": 0.001,
        },
        "replay": {
            "requests": 1,
            "errors": 0,
            "input_tokens": 10,
            "output_tokens": 9,
            "cost": 0.02,
        },
    }


async def test_probes_and_replays_stay_out_of_the_history(
    make_proxy: ProxyFactory, upstream: FakeUpstream
) -> None:
    proxy = await make_proxy(BIG_MODEL=BIG, SMALL_MODEL=SMALL)
    upstream.script += [Reply(text="OK"), Reply(text="replayed"), Reply(text="real answer")]
    for origin, text in (("probe", "Reply with the word OK."), ("replay", "an old question")):
        answer = await call(
            proxy.url,
            "POST",
            "/v1/messages",
            turn(text),
            headers={"x-claude-proxy-origin": origin, "X-Claude-Code-Session-Id": origin},
        )
        assert answer.status == 200
    await ask(proxy.url, turn("a real question"), session="s1")
    history = (await call(proxy.url, "GET", "/conversation")).json
    assert [(m["role"], m["content"]) for m in history["messages"]] == [
        ("user", "a real question"),
        ("assistant", "real answer"),
    ]
    origins = (await call(proxy.url, "GET", "/stats")).json["origins"]
    assert (origins["probe"]["requests"], origins["replay"]["requests"]) == (1, 1)
