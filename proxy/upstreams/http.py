"""Shared upstream HTTP details: timeouts, the loop-detection header, aiohttp error mapping."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import aiohttp

from proxy.core.errors import ProxyError
from proxy.core.settings import Settings
from proxy.routing.model_map import Target

# Every upstream request carries this proxy's instance id; receiving it back means a loop.
LOOP_HEADER = "X-Claude-Proxy-Via"


def timeout_for(settings: Settings) -> aiohttp.ClientTimeout:
    """Connect, idle-read and total timeouts for one upstream request."""
    return aiohttp.ClientTimeout(
        total=settings.request_timeout,
        sock_connect=settings.connect_timeout,
        sock_read=settings.stream_idle_timeout,
    )


@contextmanager
def http_errors(target: Target) -> Iterator[None]:
    """Turn aiohttp failures into the Anthropic errors a client can act on."""
    where = f"{target.provider} upstream ({target.api_base or 'default endpoint'})"
    try:
        yield
    except TimeoutError:
        raise ProxyError(504, "timeout_error", f"{where} timed out") from None
    except aiohttp.ClientConnectorError as exc:
        raise ProxyError(502, "api_error", f"cannot connect to {where}: {exc.os_error}") from None
    except aiohttp.ClientPayloadError as exc:
        raise ProxyError(502, "api_error", f"{where} broke off its answer: {exc}") from None
    except aiohttp.ServerDisconnectedError:
        raise ProxyError(502, "api_error", f"{where} closed the connection") from None
    except aiohttp.ClientError as exc:
        raise ProxyError(502, "api_error", f"{where} failed: {exc}") from None
