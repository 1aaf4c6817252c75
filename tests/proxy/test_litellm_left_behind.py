"""What the proxy takes from LiteLLM's stream wrapper that LiteLLM does not yield: the usage as
the upstream sent it, and reasoning_details in chunks LiteLLM throws away as empty. The corpus
replays (test_corpus_replay.py) cover the real recordings; these pin the edges."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from proxy.upstreams.litellm import keep_dropped_reasoning, usage_as_sent, usage_left_behind

XAI = {"prompt_tokens": 12, "completion_tokens": 1, "total_tokens": 303}


def _wrapper(*usages: dict[str, Any] | None) -> SimpleNamespace:
    return SimpleNamespace(chunks=[SimpleNamespace(usage=u) for u in usages])


def test_usage_keeps_the_upstreams_total_only_when_it_is_the_same_usage() -> None:
    rewritten = {**XAI, "total_tokens": 13}
    assert usage_as_sent(_wrapper(None, XAI), rewritten)["total_tokens"] == 303
    other = {**rewritten, "completion_tokens": 2}
    assert usage_as_sent(_wrapper(None, XAI), other) == other
    assert usage_as_sent(SimpleNamespace(), rewritten) == rewritten  # no wrapper state at all


def test_usage_left_behind_is_the_last_one_with_a_prompt_count() -> None:
    assert usage_left_behind(_wrapper(XAI, None, {"total_tokens": 5})) == XAI
    assert usage_left_behind(_wrapper(None, None)) is None
    assert usage_left_behind(SimpleNamespace(chunks="not a list")) is None


def test_only_reasoning_of_dropped_chunks_is_kept() -> None:
    details = [{"type": "reasoning.encrypted", "data": "gAAA", "index": 0}]
    raw_dropped = {"choices": [{"delta": {"content": "", "reasoning_details": details}}]}
    raw_kept = {"choices": [{"delta": {"content": "hi", "reasoning_details": details}}]}
    wrapper = SimpleNamespace(chunk_creator=lambda chunk: None if chunk is raw_dropped else chunk)
    dropped: list[dict[str, Any]] = []
    keep_dropped_reasoning(wrapper, dropped)
    assert wrapper.chunk_creator(chunk=raw_kept) is raw_kept
    assert dropped == []
    assert wrapper.chunk_creator(chunk=raw_dropped) is None
    assert dropped == details
