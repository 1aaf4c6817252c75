"""Typed keys for what the aiohttp application holds."""

from __future__ import annotations

from aiohttp import web

from proxy.server.limits import ConcurrencyGate, RateLimiter
from proxy.state.service import ProxyService
from proxy.upstreams.wire import UpstreamPool

SERVICE = web.AppKey("service", ProxyService)
HTTP = web.AppKey("http", UpstreamPool)
LIMITER = web.AppKey("limiter", RateLimiter)
GATE = web.AppKey("gate", ConcurrencyGate)
RESPONSE_HEADERS = web.RequestKey("response_headers", dict[str, str])
