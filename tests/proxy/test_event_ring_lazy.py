"""The /events replay ring kept as parts while nobody watches encodes to the very same frames."""

from __future__ import annotations

from proxy.server.event_stream import EventHub
from proxy.state.events import FIRST_TOKEN, REQUEST_FAILED, REQUEST_FINISHED, REQUEST_STARTED
from proxy.state.events import ProxyEvent as E


def _events() -> list[E]:
    started = {
        "requested": "claude-x",
        "model": "openai/gpt-4.1",
        "provider": "openai",
        "transport": "openai",
        "tier": "big",
        "reason": "big model",
        "stream": False,
        "session_id": "s1",
        "endpoint": "messages",
        "body": {"messages": ["not on the wire"]},
        "notes": ["a note"],
        "client": "claude-cli",
        "origin": "client",
        "preset": None,
    }
    message = {"id": "m1", "model": "claude-x", "content": [{"type": "text", "text": "hidden"}]}
    finished = {
        "model": "openai/gpt-4.1",
        "message": {**message, "usage": {"output_tokens": 3}, "stop_reason": "end_turn"},
        "upstream_request": {"big": "never replayed"},
        "input_tokens": 5,
        "cost": 0.1234567891,
        "latency": 0.25,
    }
    odd = {**finished, "message": {**message, "extra": "x" * 10}}
    return [
        E(REQUEST_STARTED, "r1", started, 1.0),
        E(FIRST_TOKEN, "r1", {}, 1.5),
        E(REQUEST_FINISHED, "r1", finished, 2.0),
        E(REQUEST_STARTED, "r2", {"requested": "partial"}, 3.0),
        E(REQUEST_FINISHED, "r2", odd, 4.0),
        E(REQUEST_FAILED, "r3", {"model": "m", "status": 502, "message": "boom"}, 5.0),
    ]


def test_a_ring_kept_as_parts_encodes_like_the_eager_one() -> None:
    counter = iter(range(100))
    snapshots: list[tuple[int, int, int, int, float]] = []

    def parts() -> tuple[int, int, int, int, float]:
        n = next(counter)
        snapshots.append((n, 0, 0, n * 10, n / 3))
        return snapshots[-1]

    def of(p: tuple[int, int, int, int, float]) -> dict[str, object]:
        return {"total": p[0], "in_flight": p[1], "errors": p[2], "tokens": p[3], "cost": p[4]}

    replayed = iter([])

    def eager_totals() -> dict[str, object]:
        return of(next(replayed))

    lazy = EventHub(lambda: of(parts()), totals_parts=parts, totals_of=of)
    events = _events()
    for event in events[:3]:
        lazy.on_event(event)
    assert len(lazy._lazy) == 3, "nobody watches: kept as parts"
    for event in events[3:]:
        lazy.on_event(event)
    replayed = iter(list(snapshots))
    eager = EventHub(eager_totals)
    for event in _events():
        eager.on_event(event)
    assert list(lazy.ring) == list(eager.ring)
    assert lazy.ring_bytes == eager.ring_bytes
    assert lazy.replay_after(2) == eager.replay_after(2)
    assert b"hidden" not in b"".join(f for _, f in lazy.ring)
    assert b"never replayed" not in b"".join(f for _, f in lazy.ring)


def test_parts_count_towards_the_ring_size(monkeypatch: object) -> None:
    import proxy.server.event_stream as module

    monkeypatch.setattr(module, "RING_SIZE", 3)  # type: ignore[attr-defined]
    hub = EventHub(None, totals_parts=lambda: (0, 0, 0, 0, 0.0), totals_of=lambda p: {})
    for position in range(5):
        hub.on_event(E(FIRST_TOKEN, f"r{position}", {}, float(position)))
    assert [event_id for event_id, _ in hub.ring] == [3, 4, 5]
