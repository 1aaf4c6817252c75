"""The one shape every upstream has: a stream of Anthropic SSE bytes, or a whole message.

A transport sends one exchange upstream. `stream` returns once the upstream said 200 (errors
before that raise ProxyError, which dispatch may retry); the returned UpstreamStream yields the
bytes the client gets, in order, and says at the end whether the upstream finished. What to do
when it did not, or when it fails after the first byte, is decided in one place
(`proxy/server/relay.py`), the same for every transport.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Protocol

from proxy.core.errors import ProxyError
from proxy.state.exchange import Exchange
from proxy.upstreams.wire import UpstreamPool


class UpstreamStream(Protocol):
    """An upstream answer in flight, already translated to Anthropic SSE bytes."""

    complete: bool
    """True once the upstream said it finished (finish_reason, [DONE], message_stop). When it
    turns True before a yield, those bytes are the stream's last: they go out with its end."""
    failure: ProxyError | None
    """An error the upstream reported that already reached the client in the stream."""

    def __aiter__(self) -> AsyncIterator[bytes]:
        """The bytes to write, one buffer per upstream read (message_start rides on the first)."""
        ...

    def summary(self) -> dict[str, Any]:
        """The final message as far as events need it: text, tool calls, stop reason, usage."""
        ...

    async def aclose(self) -> None:
        """Release the upstream connection (idempotent)."""
        ...


class Transport(Protocol):
    """Sends one exchange upstream; the same signature for every provider."""

    async def stream(self, exchange: Exchange, http: UpstreamPool) -> UpstreamStream:
        """Open the upstream stream; raises ProxyError until the upstream said 200."""
        ...

    async def complete(self, exchange: Exchange, http: UpstreamPool) -> dict[str, Any]:
        """The whole answer as an Anthropic message."""
        ...
