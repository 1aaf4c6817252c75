"""`claude-proxy doctor`: check keys, upstreams, the port and loops; say what to fix."""

from __future__ import annotations

import asyncio
import os
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

import aiohttp

from app.cli.launcher import proxy_is_running, proxy_url
from proxy.core.errors import ProxyError, extract_message, mask_key
from proxy.core.settings import Settings
from proxy.routing.model_map import ModelPair, resolve

PROBE_TIMEOUT = 8.0
DEFAULT_BASES = {
    "openai": "https://api.openai.com/v1",
    "gemini": "https://generativelanguage.googleapis.com/v1beta",
    "anthropic": "https://api.anthropic.com",
}


@dataclass
class Check:
    """One line of the report."""

    ok: bool
    what: str
    detail: str = ""

    def render(self) -> str:
        """`[ok] what: detail` or `[!!] what: detail`."""
        mark = "[ok]" if self.ok else "[!!]"
        return f"{mark} {self.what}" + (f": {self.detail}" if self.detail else "")


def _probe_request(provider: str, settings: Settings) -> tuple[str, dict[str, str]] | None:
    key = {
        "openai": settings.openai_api_key,
        "gemini": settings.gemini_api_key,
        "anthropic": settings.anthropic_api_key,
    }[provider]
    base = settings.upstream_bases()[provider]
    if key is None and base is None:
        return None
    base = base or DEFAULT_BASES[provider]
    headers: dict[str, str] = {}
    if provider == "openai":
        url = base + "/models"
        if key:
            headers["Authorization"] = f"Bearer {key}"
    elif provider == "gemini":
        url = base + "/models"
        if key:
            headers["x-goog-api-key"] = key
    else:
        url = base + "/v1/models"
        headers["anthropic-version"] = "2023-06-01"
        if key:
            headers["x-api-key"] = key
    return url, headers


async def probe_upstreams(settings: Settings) -> list[Check]:
    """One cheap request (a model listing, no tokens spent) to each configured provider."""
    checks = []
    timeout = aiohttp.ClientTimeout(total=PROBE_TIMEOUT)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        for provider in ("openai", "gemini", "anthropic"):
            request = _probe_request(provider, settings)
            if request is None:
                continue
            url, headers = request
            shown = url.split("?")[0]
            try:
                async with session.get(url, headers=headers) as response:
                    body = await response.read()
                    if response.status == 200:
                        checks.append(Check(True, f"{provider} upstream reachable", shown))
                    else:
                        message = extract_message(body, f"HTTP {response.status}")
                        hint = " (check the key)" if response.status in (401, 403) else ""
                        checks.append(
                            Check(
                                False,
                                f"{provider} upstream answered {response.status}{hint}",
                                message[:200],
                            )
                        )
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                checks.append(Check(False, f"{provider} upstream unreachable", f"{shown}: {exc}"))
    return checks


def check_keys(settings: Settings) -> list[Check]:
    """Which provider keys are set (masked) and whether the big/small models can be served."""
    checks = []
    keys = {
        "OPENAI_API_KEY": settings.openai_api_key,
        "GEMINI_API_KEY": settings.gemini_api_key,
        "ANTHROPIC_API_KEY": settings.anthropic_api_key,
    }
    configured = [name for name, value in keys.items() if value]
    if configured:
        shown = ", ".join(f"{name}={mask_key(keys[name])}" for name in configured)
        checks.append(Check(True, "provider keys", shown))
    elif settings.openai_api_base:
        checks.append(
            Check(True, "provider keys", f"none, using {settings.openai_api_base} without a key")
        )
    else:
        checks.append(
            Check(
                False, "provider keys", "none set: put OPENAI_API_KEY (or GEMINI/ANTHROPIC) in .env"
            )
        )
    pair = ModelPair(settings.big_model, settings.small_model)
    for tier, requested in (("big", "claude-sonnet-4-5"), ("small", "claude-haiku-4-5")):
        try:
            target = resolve(requested, pair, settings)
            checks.append(Check(True, f"{tier} model", f"{target.model} via {target.transport}"))
        except ProxyError as exc:
            checks.append(Check(False, f"{tier} model", exc.message))
    return checks


def check_port(settings: Settings) -> Check:
    """Is the listen port free, or already served by a claude-proxy?"""
    url = proxy_url(settings)
    if proxy_is_running(url):
        return Check(True, "port", f"a claude-proxy already answers on {url}")
    with socket.socket(socket.AF_INET6 if ":" in settings.host else socket.AF_INET) as sock:
        try:
            sock.bind((settings.host, settings.port))
        except OSError as exc:
            return Check(
                False,
                "port",
                f"{settings.host}:{settings.port} is taken by another program ({exc.strerror}); use --port",
            )
    return Check(True, "port", f"{settings.host}:{settings.port} is free")


def check_loop(settings: Settings, environ: dict[str, str] | None = None) -> Check:
    """ANTHROPIC_BASE_URL must point at this proxy, never at an upstream the proxy calls."""
    env = os.environ if environ is None else environ
    client_base = env.get("ANTHROPIC_BASE_URL")
    own = proxy_url(settings)
    if not client_base:
        return Check(
            True,
            "loop",
            f"ANTHROPIC_BASE_URL not set here; Claude Code needs ANTHROPIC_BASE_URL={own}",
        )
    wanted = urlsplit(client_base)
    for provider, base in settings.upstream_bases().items():
        if base and urlsplit(base)[:2] == wanted[:2] and not _is_proxy(client_base, own):
            return Check(
                False,
                "loop",
                f"ANTHROPIC_BASE_URL={client_base} is also the {provider} upstream; requests would "
                "loop or bypass the proxy",
            )
    if _is_proxy(client_base, own):
        return Check(True, "loop", f"ANTHROPIC_BASE_URL points at this proxy ({own})")
    return Check(True, "loop", f"ANTHROPIC_BASE_URL={client_base} is not this proxy ({own})")


def _is_proxy(url: str, own: str) -> bool:
    a, b = urlsplit(url), urlsplit(own)
    local = {"127.0.0.1", "localhost", "::1"}
    same_host = a.hostname == b.hostname or (a.hostname in local and b.hostname in local)
    return same_host and (a.port or 80) == (b.port or 80)


def run_doctor(settings: Settings, environ: dict[str, str] | None = None) -> int:
    """Print every check; exit code 1 when any failed."""
    checks = check_keys(settings)
    checks.extend(asyncio.run(probe_upstreams(settings)))
    checks.append(check_port(settings))
    checks.append(check_loop(settings, environ))
    for check in checks:
        print(check.render())
    failed = sum(not c.ok for c in checks)
    print("all checks passed" if not failed else f"{failed} problem(s) to fix")
    return 1 if failed else 0
