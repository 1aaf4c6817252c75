"""The event bus delivers each kind only to the subscribers that asked for it, in order."""

from __future__ import annotations

from proxy.state.events import (
    FIRST_TOKEN,
    REQUEST_FINISHED,
    REQUEST_STARTED,
    TEXT_DELTA,
    EventBus,
    ProxyEvent,
)


def test_kinds_route_events_and_keep_subscription_order() -> None:
    bus = EventBus(secrets=lambda: ["sk-test-secret-123"])
    seen: list[tuple[str, str]] = []
    bus.subscribe(lambda e: seen.append(("all", e.kind)), deltas=False)
    drop = bus.subscribe(lambda e: seen.append(("life", e.kind)), kinds=(REQUEST_STARTED,))
    bus.subscribe(lambda e: seen.append(("end", e.kind)), kinds=(REQUEST_FINISHED,))
    assert not bus.wants_deltas
    bus.publish(ProxyEvent(REQUEST_STARTED, "r", {"requested": "x sk-test-secret-123"}))
    bus.publish(ProxyEvent(FIRST_TOKEN, "r"))
    bus.publish(ProxyEvent(REQUEST_FINISHED, "r", {"notes": ["sk-test-secret-123"]}))
    drop()
    bus.publish(ProxyEvent(REQUEST_STARTED, "s", {}))
    assert seen == [
        ("all", REQUEST_STARTED),
        ("life", REQUEST_STARTED),
        ("all", FIRST_TOKEN),
        ("all", REQUEST_FINISHED),
        ("end", REQUEST_FINISHED),
        ("all", REQUEST_STARTED),
    ]
    bus.subscribe(lambda e: None, kinds=(TEXT_DELTA,))
    assert bus.wants_deltas


def test_masking_still_reaches_every_string_and_note() -> None:
    secret = "sk-test-abcdef123456"
    bus = EventBus(secrets=lambda: [secret])
    notes = ["clean", f"has {secret}"]
    event = ProxyEvent(REQUEST_STARTED, "r", {"a": f"x{secret}", "b": 3, "notes": notes})
    bus.publish(event)
    assert secret not in event.data["a"] and secret not in notes[1]
    assert event.data["notes"] is notes and notes[0] == "clean"
    clean = ProxyEvent(REQUEST_STARTED, "r", {"a": "nothing", "notes": ["n"]})
    bus.publish(clean)
    assert clean.data == {"a": "nothing", "notes": ["n"]}
