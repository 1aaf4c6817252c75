"""What an exchange publishes: one event per step a reader needs, and no key in any of them."""

from __future__ import annotations

from proxy.state.events import FIRST_TOKEN, REQUEST_FINISHED, REQUEST_STARTED, ProxyEvent
from tests.conftest import FAKE_KEYS, ProxyFactory
from tests.support.fake_upstream import FakeUpstream, Reply
from tests.support.mgmt import ask, turn

KEY = FAKE_KEYS["OPENAI_API_KEY"]


async def test_a_whole_answer_publishes_no_first_token_and_finishes_with_its_ttft(
    make_proxy: ProxyFactory, upstream: FakeUpstream
) -> None:
    proxy = await make_proxy(BIG_MODEL="openai/gpt-4.1", SMALL_MODEL="openai/gpt-4.1-mini")
    seen: list[ProxyEvent] = []
    proxy.service.bus.subscribe(seen.append)
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
    proxy = await make_proxy(BIG_MODEL=f"openai/{KEY}", SMALL_MODEL="openai/gpt-4.1-mini")
    seen: list[ProxyEvent] = []
    proxy.service.bus.subscribe(seen.append)
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
    proxy = await make_proxy(BIG_MODEL="openai/gpt-4.1", SMALL_MODEL="openai/gpt-4.1-mini")
    seen: list[ProxyEvent] = []
    proxy.service.bus.subscribe(seen.append)
    upstream.script += [Reply(text="odd", finish=f"weird {KEY}")]
    await ask(proxy.url, turn("hello"))
    finished = [e for e in seen if e.kind == REQUEST_FINISHED]
    assert finished and KEY not in str(finished[0].data.get("stop_reason"))
