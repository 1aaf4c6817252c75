"""Typed keys for what the aiohttp application holds."""

from __future__ import annotations

import aiohttp
from aiohttp import web

from proxy.server.limits import ConcurrencyGate, RateLimiter
from proxy.state.service import ProxyService

SERVICE = web.AppKey("service", ProxyService)
HTTP = web.AppKey("http", aiohttp.ClientSession)
LIMITER = web.AppKey("limiter", RateLimiter)
GATE = web.AppKey("gate", ConcurrencyGate)
RESPONSE_HEADERS = web.RequestKey("response_headers", dict[str, str])
