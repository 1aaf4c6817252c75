"""Synthetic Claude Code requests (tests/support/claude_code_shapes.py) through the proxy to each dialect,
with both engines: the same checks as the fixture replay, without needing ../shared."""

from __future__ import annotations

import pytest

from tests.conftest import ProxyFactory
from tests.support.claude_code_shapes import SHAPES, headers_for, proxy_env, replay
from tests.support.fake_upstream import FakeUpstream


@pytest.mark.parametrize("name", sorted(SHAPES))
async def test_claude_code_shape(
    make_proxy: ProxyFactory, upstream: FakeUpstream, dialect: str, engine: str, name: str
) -> None:
    body = SHAPES[name]
    proxy = await make_proxy(**proxy_env(dialect, engine))
    await replay(proxy, upstream, name, body, headers_for(name, body), dialect, engine)
