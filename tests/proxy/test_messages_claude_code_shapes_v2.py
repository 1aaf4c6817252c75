"""Claude Code 2.1.332's new shapes (tests/claude_code_shapes_v2.py) through the proxy to each
dialect, with both engines.

Every check must hold: the answer names the requested model, the never-call placeholder and
not-yet-loaded deferred tools stay away from non-Anthropic upstreams, and a tool_reference
result names the tools it loaded (issue 13).
"""

from __future__ import annotations

import pytest

from tests.conftest import ProxyFactory
from tests.support.claude_code_shapes import proxy_env
from tests.support.claude_code_shapes_v2 import SHAPES, headers_for, replay
from tests.support.fake_upstream import FakeUpstream


@pytest.mark.parametrize("name", sorted(SHAPES))
async def test_claude_code_v2_shape(
    make_proxy: ProxyFactory, upstream: FakeUpstream, dialect: str, engine: str, name: str
) -> None:
    body = SHAPES[name]
    proxy = await make_proxy(**proxy_env(dialect, engine))
    problems = await replay(proxy, upstream, name, body, headers_for(name, body), dialect, engine)
    assert not problems, f"{name}: " + "; ".join(problems)
