"""The request ledger keeps the same books as each keeper reading the events itself.

A real proxy serves a mix of requests (answered, streamed, failed, served by a fallback, refused
before routing, a probe, a key in a session id); its stats, histograms, session models, debug
log and history (fed by the ledger, from the exchange's record) are compared with fresh keepers
fed copies of the very events the bus published, without an exchange (each keeper's own
`on_event`, the way events published by hand are read).
"""

from __future__ import annotations

from typing import Any

from proxy.state.debug_log import DebugLog
from proxy.state.events import LIFECYCLE, MODEL_SWITCHED, ProxyEvent
from proxy.state.history import ConversationHistory
from proxy.state.latency import LatencyHistograms
from proxy.state.session_models import SessionModels
from proxy.state.stats import Stats
from tests.conftest import FAKE_KEYS, ProxyFactory
from tests.support.fake_upstream import FakeUpstream, Reply
from tests.support.mgmt import ask, call, turn

KEY = FAKE_KEYS["OPENAI_API_KEY"]


def _by_hand(event: ProxyEvent) -> ProxyEvent:
    """The same event as if published by hand: no exchange behind it."""
    return ProxyEvent(event.kind, event.request_id, dict(event.data), event.time, event.masked)


def _histograms(histograms: dict[Any, Any]) -> list[tuple[Any, ...]]:
    return [(key, h.counts, h.total, h.count) for key, h in histograms.items()]


def _stats(stats: Stats) -> dict[str, Any]:
    snapshot = stats.snapshot()
    del snapshot["since"]
    return snapshot


async def test_the_ledger_keeps_the_books_the_keepers_kept_from_the_events(
    make_proxy: ProxyFactory, upstream: FakeUpstream
) -> None:
    proxy = await make_proxy(
        MAX_RETRIES=0, FALLBACK_MODELS="gemini/gemini-2.5-flash", DEBUG_LOG_LIMIT=7
    )
    service = proxy.service
    seen: list[ProxyEvent] = []
    service.bus.subscribe(seen.append)
    upstream.script += [
        Reply(text="first answer"),
        Reply(text="a streamed answer", completion_tokens=40),
        Reply(status=500),
        Reply(text="from the fallback"),
        Reply(text="probe"),
        Reply(text="keyed"),
        Reply(status=400, error_message="no"),
        Reply(status=400, error_message="no again"),
    ]
    await ask(proxy.url, turn("hello"), session="s1")
    await ask(proxy.url, turn("stream please", stream=True), session="s1")
    await ask(proxy.url, turn("fall back"), session="s2")
    probe = await call(
        proxy.url,
        "POST",
        "/v1/messages",
        turn("probe"),
        headers={"x-claude-proxy-origin": "probe"},
    )
    assert probe.status == 200
    await ask(proxy.url, turn("keyed session"), session=f"s-{KEY}")
    failed = await call(proxy.url, "POST", "/v1/messages", turn("refused upstream"))
    assert failed.status >= 400
    refused = await call(proxy.url, "POST", "/v1/messages", turn("x", model="nope/unknown"))
    assert refused.status >= 400
    await ask(proxy.url, turn("hello"), session="s1")  # a resend of a recorded turn

    stats, latency, sessions = Stats(), LatencyHistograms(), SessionModels()
    debug = DebugLog(service.settings.debug_log_limit, secrets=FAKE_KEYS.values())
    history = ConversationHistory(service.settings.conversation_limit, secrets=FAKE_KEYS.values())
    for event in seen:
        if event.kind in LIFECYCLE:
            copy = _by_hand(event)
            for keeper in (stats, latency, sessions, history, debug):
                keeper.on_event(copy)
        elif event.kind == MODEL_SWITCHED:
            debug.on_event(event)

    assert len([e for e in seen if e.kind in LIFECYCLE]) >= 16
    assert _stats(service.stats) == _stats(stats)
    assert service.stats.counters == stats.counters
    assert _histograms(service.latency.duration) == _histograms(latency.duration)
    assert _histograms(service.latency.ttft) == _histograms(latency.ttft)
    for session in ("s1", "s2", f"s-{KEY}", "nobody"):
        assert service.session_models.get(session) == sessions.get(session)
    assert service.debug.entries(limit=1000) == debug.entries(limit=1000)
    assert len(service.debug) == len(debug) == 7
    assert service.history.messages() == history.messages()
    assert KEY not in str(service.debug.entries(limit=1000))


async def test_the_ledger_keeps_counting_after_a_stats_reset(
    make_proxy: ProxyFactory, upstream: FakeUpstream
) -> None:
    """A reset forgets finished requests: the ledger keeps counting the next ones from zero."""
    proxy = await make_proxy()
    upstream.script += [Reply(text="one"), Reply(text="two")]
    await ask(proxy.url, turn("one"))
    proxy.service.stats.reset()
    await ask(proxy.url, turn("two"))
    totals = proxy.service.stats.snapshot()["totals"]
    assert totals["requests"] == 1
    assert totals["in_flight"] == 0
    assert totals["latency_p50"] is not None
    assert proxy.service.totals()["total"] == 2
