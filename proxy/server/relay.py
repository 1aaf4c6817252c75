"""An upstream stream to the client: the one policy for every transport.

Before the first byte reaches the client, a failure is a ProxyError (a plain HTTP error that
dispatch may retry). After it, every failure ends the stream with one `event: error` frame, and
the exchange is marked failed: an upstream error, an idle timeout, an early end (the upstream
never said it finished), or an unexpected exception. A client that goes away ends the exchange
as 499 and releases the upstream at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

from aiohttp import web

from proxy.core.errors import ProxyError
from proxy.server.client_stream import ClientStream
from proxy.state.exchange import Exchange
from proxy.upstreams.transport import UpstreamStream

log = logging.getLogger(__name__)

CLIENT_GONE = (ConnectionResetError, RuntimeError)
"""What writing to a client that went away raises (aiohttp: ClientConnectionResetError or
`RuntimeError: Cannot write to closing transport`)."""


def ended_early(exchange: Exchange) -> ProxyError:
    """The error for a stream that stopped before the upstream said it finished."""
    return ProxyError(
        502, "api_error", f"{exchange.target.provider} upstream stream ended before it finished"
    )


async def relay(
    exchange: Exchange, request: web.Request, upstream: UpstreamStream
) -> web.StreamResponse:
    """Open the client stream on the upstream's first bytes, relay the rest, end it once."""
    try:
        chunks = aiter(upstream)
        try:
            first = await anext(chunks)
        except StopAsyncIteration:
            if not upstream.complete:
                raise ended_early(exchange) from None
            first = b""
        client = ClientStream(request)
        await client.open(first, last=upstream.complete)
        await _rest(exchange, client, upstream, chunks)
    finally:
        await upstream.aclose()
    try:
        return await client.close()
    except CLIENT_GONE:
        return client.response  # type: ignore[return-value]


async def _rest(
    exchange: Exchange,
    client: ClientStream,
    upstream: UpstreamStream,
    chunks: AsyncIterator[bytes],
) -> None:
    """Everything after the first write; ends with finish or fail on the exchange."""
    try:
        async for data in chunks:
            try:
                if upstream.complete:
                    # The upstream's last bytes: they go out with the stream's end, one write.
                    await client.end(data)
                else:
                    await client.write(data)
            except CLIENT_GONE as exc:
                exchange.fail(499, "client_closed", f"client connection lost: {exc}")
                return
    except asyncio.CancelledError:
        exchange.fail(499, "client_closed", "client disconnected mid-stream")
        raise
    except ProxyError as exc:
        await _fail(exchange, client, exc)
        return
    except TimeoutError:
        error = ProxyError(504, "timeout_error", "upstream stream went silent (idle timeout)")
        await _fail(exchange, client, error)
        return
    except Exception as exc:
        log.exception("%s stream relay failed", exchange.request_id)
        await _fail(
            exchange, client, ProxyError(502, "api_error", f"upstream stream failed: {exc}")
        )
        return
    if upstream.failure is not None:
        # The upstream's own error frame already reached the client.
        failure = upstream.failure
        exchange.fail(failure.status, failure.error_type, failure.message)
    elif not upstream.complete:
        await _fail(exchange, client, ended_early(exchange))
    else:
        exchange.finish(upstream.summary())


async def _fail(exchange: Exchange, client: ClientStream, error: ProxyError) -> None:
    exchange.fail(error.status, error.error_type, error.message)
    log.warning("%s stream error after start: %s", exchange.request_id, error.message)
    try:
        await client.fail(error.error_type, error.message)
    except CLIENT_GONE:
        pass
