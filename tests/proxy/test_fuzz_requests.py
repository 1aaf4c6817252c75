"""Bad input never crashes the proxy: property-based malformed and adversarial requests.

Every answer must be a 4xx Anthropic envelope or a valid answer, never a 500, and the proxy must
still serve a normal request afterwards.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from proxy.core.settings import load_settings
from proxy.server.runner import ProxyThread
from tests.conftest import proxy_env
from tests.support.fake_upstream import FakeUpstream, run_in_thread

GOOD = {
    "model": "claude-sonnet-4-5",
    "max_tokens": 20,
    "messages": [{"role": "user", "content": "hi"}],
}


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[str, FakeUpstream]]:
    """A proxy thread and a fake upstream thread shared by every example of this module."""
    upstream, stop_upstream = run_in_thread()
    settings = load_settings(environ=proxy_env(upstream, MAX_RETRIES="0"))
    proxy = ProxyThread(settings)
    proxy.start()
    try:
        yield proxy.server.url, upstream
    finally:
        proxy.stop()
        stop_upstream()


json_leaf = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=30)
)
json_value = st.recursive(
    json_leaf,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)
block_types = st.sampled_from(
    [
        "text",
        "image",
        "document",
        "tool_use",
        "tool_result",
        "thinking",
        "redacted_thinking",
        "server_tool_use",
        "web_search_tool_result",
        "mystery_block",
        "",
    ]
)


@st.composite
def blocks(draw: st.DrawFn) -> dict[str, Any]:
    """A content block of any type with plausible or hostile fields."""
    block: dict[str, Any] = {"type": draw(block_types)}
    extra = draw(
        st.dictionaries(
            st.sampled_from(
                [
                    "text",
                    "source",
                    "id",
                    "name",
                    "input",
                    "content",
                    "tool_use_id",
                    "is_error",
                    "thinking",
                    "signature",
                    "cache_control",
                    "data",
                ]
            ),
            json_value,
            max_size=4,
        )
    )
    block.update(extra)
    if block["type"] == "image" and draw(st.booleans()):
        data = draw(
            st.sampled_from(["!!not base64!!", base64.b64encode(b"\x89PNG fake").decode(), ""])
        )
        block["source"] = {"type": "base64", "media_type": "image/png", "data": data}
    return block


@st.composite
def messages_bodies(draw: st.DrawFn) -> Any:
    """A Messages body where any field may be missing, ill-typed, empty, huge or unknown."""
    body: dict[str, Any] = dict(GOOD)
    body["messages"] = draw(
        st.lists(
            st.fixed_dictionaries(
                {
                    "role": st.sampled_from(["user", "assistant", "system", "tool", "", 3]),
                    "content": st.one_of(
                        st.text(max_size=50), st.lists(blocks(), max_size=4), json_value
                    ),
                }
            ),
            max_size=4,
        )
    )
    for key in (
        "model",
        "max_tokens",
        "system",
        "tools",
        "tool_choice",
        "stream",
        "temperature",
        "thinking",
        "stop_sequences",
        "metadata",
        "output_config",
        "top_k",
        "new_field",
    ):
        if draw(st.booleans()):
            body[key] = draw(json_value)
    if draw(st.integers(0, 9)) == 0:
        body.pop(draw(st.sampled_from(["model", "max_tokens", "messages"])), None)
    if draw(st.integers(0, 14)) == 0:
        body["messages"] = [{"role": "user", "content": "x" * 20_000}]
    return body


def check(url: str, raw: bytes, content_type: str = "application/json") -> None:
    """POST raw bytes: a 4xx envelope or a 200, never a 5xx from the proxy itself."""
    response = httpx.post(
        url + "/v1/messages", content=raw, headers={"content-type": content_type}, timeout=20
    )
    assert response.status_code < 500 or response.status_code in (502, 504, 529), response.text[
        :500
    ]
    if response.status_code >= 400:
        envelope = response.json()
        assert envelope["type"] == "error"
        assert isinstance(envelope["error"]["type"], str) and envelope["error"]["message"]


def still_serves(url: str) -> None:
    """A normal request right after still works."""
    response = httpx.post(url + "/v1/messages", json=GOOD, timeout=20)
    assert response.status_code == 200, response.text[:500]


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(body=messages_bodies())
def test_malformed_bodies_get_4xx_or_an_answer(served: tuple[str, FakeUpstream], body: Any) -> None:
    url, _ = served
    check(url, json.dumps(body).encode())


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(raw=st.one_of(st.binary(max_size=200), json_value.map(lambda v: json.dumps(v).encode())))
def test_arbitrary_bytes(served: tuple[str, FakeUpstream], raw: bytes) -> None:
    url, _ = served
    check(url, raw)


def test_adversarial_shapes(served: tuple[str, FakeUpstream]) -> None:
    url, _ = served
    deep: Any = "x"
    for _ in range(5000):
        deep = [deep]
    cases = [
        b"\xff\xfe\x00not utf-8",
        b'{"model": "claude-sonnet-4-5", "max_tokens": 5, "messages": [{"role": "user", "content": "\xff"}]}',
        b"[" * 100_000,
        orjson.dumps({**GOOD, "messages": []}),
        orjson.dumps(
            {
                **GOOD,
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {
                                "type": "tool_result",
                                "tool_use_id": "toolu_missing",
                                "content": "orphan",
                            }
                        ],
                    }
                ],
            }
        ),
        orjson.dumps(
            {
                **GOOD,
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {
                                "type": "image",
                                "source": {
                                    "type": "base64",
                                    "media_type": "image/png",
                                    "data": "%%%",
                                },
                            }
                        ],
                    }
                ],
            }
        ),
        orjson.dumps(
            {**GOOD, "stream": True, "messages": [{"role": "user", "content": "s" * 1_000_000}]}
        ),
    ]
    for raw in cases:
        check(url, raw)
    check(url, orjson.dumps(GOOD), content_type="text/plain")
    still_serves(url)
    assert deep  # built without recursion errors; json encoders cap depth, the proxy answers 400
