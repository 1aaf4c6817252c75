"""What an exchange publishes: one event per step a reader needs, and no key in any of them."""

from __future__ import annotations

from typing import Any

from proxy.state.events import FIRST_TOKEN, REQUEST_FINISHED, REQUEST_STARTED, ProxyEvent
from tests.conftest import FAKE_KEYS, ProxyFactory
from tests.support.fake_upstream import FakeUpstream, Reply
from tests.support.mgmt import ask, call, turn

KEY = FAKE_KEYS["OPENAI_API_KEY"]
SMALL = "openai/gpt-4.1-mini"


async def watched(
    make_proxy: ProxyFactory, big: str = "openai/gpt-4.1"
) -> tuple[Any, list[ProxyEvent]]:
    """A proxy (BIG_MODEL `big`) and the list its bus appends every event to."""
    proxy = await make_proxy(BIG_MODEL=big, SMALL_MODEL=SMALL)
    seen: list[ProxyEvent] = []
    proxy.service.bus.subscribe(seen.append)
    return proxy, seen


async def test_a_whole_answer_publishes_no_first_token_and_finishes_with_its_ttft(
    make_proxy: ProxyFactory, upstream: FakeUpstream
) -> None:
    proxy, seen = await watched(make_proxy)
    upstream.script += [Reply(text="whole"), Reply(text="streamed")]
    await ask(proxy.url, turn("at once"))
    kinds = [e.kind for e in seen]
    assert kinds == [REQUEST_STARTED, REQUEST_FINISHED]
    assert seen[-1].data["ttft"] is not None and seen[-1].data["ttft"] > 0
    seen.clear()
    await ask(proxy.url, turn("streamed", stream=True))
    kinds = [e.kind for e in seen if e.kind != "text_delta"]
    assert kinds == [REQUEST_STARTED, FIRST_TOKEN, REQUEST_FINISHED]


async def test_a_key_in_a_model_name_is_masked_in_the_finished_event_too(
    make_proxy: ProxyFactory, upstream: FakeUpstream
) -> None:
    """request_finished reuses request_started's masked strings: check they are the masked ones."""
    proxy, seen = await watched(make_proxy, big=f"openai/{KEY}")
    upstream.script += [Reply(text="fine")]
    await ask(proxy.url, turn("hello"))
    finished = [e for e in seen if e.kind == REQUEST_FINISHED]
    assert len(finished) == 1
    for event in seen:
        for value in event.data.values():
            assert not (isinstance(value, str) and KEY in value), (event.kind, value)
    assert finished[0].data["model"] == seen[0].data["model"] != f"openai/{KEY}"


async def test_an_unknown_stop_reason_is_searched_for_keys(
    make_proxy: ProxyFactory, upstream: FakeUpstream
) -> None:
    """Only the known stop reasons skip the search: anything else an upstream says is masked."""
    proxy, seen = await watched(make_proxy)
    upstream.script += [Reply(text="odd", finish=f"weird {KEY}")]
    await ask(proxy.url, turn("hello"))
    finished = [e for e in seen if e.kind == REQUEST_FINISHED]
    assert finished and KEY not in str(finished[0].data.get("stop_reason"))


async def test_keys_in_client_headers_are_masked_every_time(
    make_proxy: ProxyFactory, upstream: FakeUpstream
) -> None:
    """request_started's strings are remembered only when clean: a dirty one is searched again."""
    proxy, seen = await watched(make_proxy)
    upstream.script += [Reply(text="a"), Reply(text="b"), Reply(text="c"), Reply(text="d")]
    for session, agent in (("s1", "cli"), (f"s-{KEY}", "cli"), ("s1", f"cli {KEY}"), ("s1", "cli")):
        answer = await call(
            proxy.url,
            "POST",
            "/v1/messages",
            turn("hello"),
            headers={"X-Claude-Code-Session-Id": session, "User-Agent": agent},
        )
        assert answer.status == 200
    started = [e for e in seen if e.kind == REQUEST_STARTED]
    assert len(started) == 4
    for event in seen:
        for value in event.data.values():
            assert not (isinstance(value, str) and KEY in value), (event.kind, value)
    assert started[1].data["session_id"] != f"s-{KEY}"
    assert started[2].data["client"] != f"cli {KEY}"
    assert started[3].data["client"] == "cli"


async def test_every_string_of_request_started_is_one_the_bus_checks(
    make_proxy: ProxyFactory, upstream: FakeUpstream
) -> None:
    """Exchange.begin lists the strings it asks the bus about: a new string field must join them."""
    proxy, seen = await watched(make_proxy)
    upstream.script += [Reply(text="a")]
    await call(
        proxy.url,
        "POST",
        "/v1/messages",
        turn("hello"),
        headers={"X-Claude-Code-Session-Id": "s1", "User-Agent": "cli"},
    )
    started = next(e for e in seen if e.kind == REQUEST_STARTED)
    strings = {k for k, v in started.data.items() if isinstance(v, str)}
    assert strings == {
        "requested",
        "model",
        "provider",
        "transport",
        "tier",
        "reason",
        "session_id",
        "endpoint",
        "client",
        "origin",
    }  # and "preset" when one is in force (a str or None)
    assert set(started.data) == strings | {"stream", "body", "notes", "preset"}
