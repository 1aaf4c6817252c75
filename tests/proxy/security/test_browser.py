"""Browser attacks on every route: cross-site requests and DNS rebinding are refused, and change
nothing; Claude Code's own headers and curl-like requests keep working.

Routes come from `app.router.routes()`, so a route added later is attacked too, and must be given
a working example below (the suite fails until it is).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from proxy.core.settings import ConfigError, load_settings
from proxy.server.runner import ProxyServer
from tests.conftest import ProxyFactory
from tests.proxy.security.client import (
    EVIL_ORIGIN,
    claude_code_headers,
    files_under,
    fixtures_dir,
    send,
    state_of,
)
from tests.support.fake_upstream import FakeUpstream

BIG = "openai/gpt-4.1"
SMALL = "openai/gpt-4.1-mini"
MESSAGE = {
    "model": "claude-sonnet-4-5",
    "max_tokens": 50,
    "messages": [{"role": "user", "content": "hi"}],
}
# (method, route as registered) -> (path, JSON body or None, the status a working call gets).
EXAMPLES: dict[tuple[str, str], tuple[str, Any, int]] = {
    ("POST", "/v1/messages"): ("/v1/messages", MESSAGE, 200),
    ("POST", "/v1/messages/count_tokens"): (
        "/v1/messages/count_tokens",
        {"model": "claude-sonnet-4-5", "messages": MESSAGE["messages"]},
        200,
    ),
    ("GET", "/health"): ("/health", None, 200),
    ("GET", "/config"): ("/config", None, 200),
    ("POST", "/switch_model"): ("/switch_model", {"big_model": "openai/gpt-4o"}, 200),
    ("GET", "/models"): ("/models", None, 200),
    ("GET", "/presets"): ("/presets", None, 200),
    ("POST", "/presets"): (
        "/presets",
        {"name": "mine", "big_model": BIG, "small_model": SMALL},
        201,
    ),
    ("DELETE", "/presets/{name}"): ("/presets/mine", None, 200),
    ("GET", "/sessions"): ("/sessions", None, 200),
    ("POST", "/sessions/{id}/model"): ("/sessions/s1/model", {"model": BIG}, 200),
    ("DELETE", "/sessions/{id}/model"): ("/sessions/s1/model", None, 200),
    ("GET", "/sessions/{id}/status"): ("/sessions/s1/status", None, 200),
    ("GET", "/conversation"): ("/conversation", None, 200),
    ("DELETE", "/conversation"): ("/conversation", None, 200),
    ("GET", "/conversation/status"): ("/conversation/status", None, 200),
    ("POST", "/conversation/enable"): ("/conversation/enable", {"file_path": "history.json"}, 200),
    ("POST", "/conversation/disable"): ("/conversation/disable", None, 200),
    ("GET", "/conversation/export"): ("/conversation/export", None, 200),
    ("POST", "/conversation/import"): ("/conversation/import", {"messages": []}, 200),
    ("POST", "/conversation/continue"): ("/conversation/continue", MESSAGE, 200),
    ("GET", "/debug_logs"): ("/debug_logs", None, 200),
    ("GET", "/stats"): ("/stats", None, 200),
    ("GET", "/usage"): ("/usage?by=model", None, 200),
    ("GET", "/metrics"): ("/metrics", None, 200),
    ("GET", "/events"): ("/events", None, 200),
    # Reaching the handler is the point: it answers that it holds no such request.
    ("GET", "/requests/{id}"): ("/requests/req_unknown", None, 404),
    ("GET", "/requests"): ("/requests?limit=10", None, 200),
    ("GET", "/conversation/page"): ("/conversation/page?limit=5&q=hello", None, 200),
}


def routes(proxy: ProxyServer) -> list[tuple[str, str]]:
    """(method, canonical path) of every route the running app serves, in registration order."""
    assert proxy.runner is not None
    found = []
    for route in proxy.runner.app.router.routes():
        found.append((route.method, route.resource.canonical if route.resource else ""))
    return found


def example(method: str, route: str) -> tuple[str, Any, int]:
    """The working call for a route (HEAD mirrors its GET)."""
    key = ("GET", route) if method == "HEAD" else (method, route)
    assert key in EXAMPLES, f"new route {method} {route}: add a working example to EXAMPLES"
    return EXAMPLES[key]


def attacks(port: int) -> list[tuple[str, dict[str, str], str | None]]:
    """What a web page makes a browser send: (name, headers, content type of the body)."""
    rebound = f"evil.example:{port}"
    cross = {"Origin": EVIL_ORIGIN, "Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "no-cors"}
    return [
        ("cross-site text/plain", cross, "text/plain;charset=UTF-8"),
        ("cross-site form", cross, "application/x-www-form-urlencoded"),
        ("cross-site multipart", cross, "multipart/form-data; boundary=x"),
        ("cross-site JSON (after a refused preflight)", cross, "application/json"),
        (
            "cross-site navigation",
            {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate"},
            None,
        ),
        ("same-site page (localhost:3000)", {"Origin": "http://localhost:3000"}, "text/plain"),
        ("opaque origin (sandbox, file://)", {"Origin": "null"}, "text/plain"),
        (
            "DNS rebinding, same-origin JSON",
            {"Host": rebound, "Origin": f"http://{rebound}", "Sec-Fetch-Site": "same-origin"},
            "application/json",
        ),
        ("DNS rebinding, navigation", {"Host": rebound}, None),
        (
            "DNS rebinding, text/plain",
            {"Host": rebound, "Origin": f"http://{rebound}"},
            "text/plain",
        ),
    ]


def attack_body(content_type: str | None, body: Any) -> bytes | None:
    """The body a page would send: the route's own JSON, or form fields, in that type."""
    if content_type is None:
        return None
    if content_type.startswith("application/x-www-form-urlencoded"):
        return b"file_path=~/.bash_aliases&big_model=openai/gpt-4o"
    if content_type.startswith("multipart/"):
        return b'--x\r\nContent-Disposition: form-data; name="a"\r\n\r\nb\r\n--x--\r\n'
    import orjson

    return orjson.dumps(body if body is not None else {"file_path": "~/.bash_aliases"})


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A HOME of its own, so `~` in a hostile path points somewhere we can watch."""
    folder = tmp_path / "home"
    folder.mkdir()
    monkeypatch.setenv("HOME", str(folder))
    return folder


async def test_every_route_refuses_browser_requests_and_nothing_changes(
    make_proxy: ProxyFactory, upstream: FakeUpstream, home: Path, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    proxy = await make_proxy(BIG_MODEL=BIG, SMALL_MODEL=SMALL, DATA_DIR=str(data))
    before = await state_of(proxy)
    files_before = files_under(home, tmp_path)
    refused = 0
    for method, route in routes(proxy):
        path, body, _ = example(method, route)
        for name, headers, content_type in attacks(proxy.port):
            hdrs = dict(headers)
            payload = None
            if method in ("POST", "DELETE") and content_type is not None:
                hdrs["Content-Type"] = content_type
                payload = attack_body(content_type, body)
            answer = await send(proxy.url, method, path, headers=hdrs, data=payload)
            assert answer.status == 403, f"{name}: {method} {path} -> {answer.status} {answer.text}"
            if method != "HEAD":
                assert answer.json["error"]["type"] == "permission_error"
                assert "refused" in answer.error
            refused += 1
    assert refused >= 10 * len(EXAMPLES)
    assert await state_of(proxy) == before
    assert upstream.requests == []
    assert files_under(home, tmp_path) == files_before
    # Each refusal is in the debug log (and was logged).
    entries = (await send(proxy.url, "GET", "/debug_logs?log_type=error&limit=1000")).json
    assert sum("refused" in e["summary"] for e in entries["entries"]) == min(refused, 1000)


async def test_a_body_that_is_not_json_is_415_even_without_origin(
    make_proxy: ProxyFactory, home: Path
) -> None:
    proxy = await make_proxy(BIG_MODEL=BIG, SMALL_MODEL=SMALL)
    before = await state_of(proxy)
    for method, route in routes(proxy):
        if method != "POST":
            continue
        path, body, _ = example(method, route)
        for content_type in ("text/plain", "application/x-www-form-urlencoded", None):
            headers = {"Content-Type": content_type} if content_type else {}
            answer = await send(
                proxy.url, method, path, headers=headers, data=attack_body("text/plain", body)
            )
            assert answer.status == 415, f"{path} {content_type}: {answer.text}"
            assert answer.json["error"]["type"] == "invalid_request_error"
    assert await state_of(proxy) == before


@pytest.mark.parametrize("who", ["claude-code", "curl"])
@pytest.mark.parametrize("proxy_key", [None, "proxy-key-of-odd-shape-123456"])
async def test_every_route_works_for_claude_code_and_curl(
    make_proxy: ProxyFactory, home: Path, tmp_path: Path, who: str, proxy_key: str | None
) -> None:
    if who == "claude-code" and fixtures_dir() is None:
        pytest.skip("../shared/fixtures/claude-code absent: the synthetic set is tested as curl")
    env: dict[str, str] = {"DATA_DIR": str(tmp_path / "data")}
    if proxy_key:
        env["PROXY_API_KEY"] = proxy_key
    proxy = await make_proxy(BIG_MODEL=BIG, SMALL_MODEL=SMALL, **env)
    if who == "claude-code":
        base_headers, _ = claude_code_headers()
        assert "Origin" not in base_headers
    else:
        base_headers = {"User-Agent": "curl/8.5.0", "Accept": "*/*"}
    if proxy_key:
        base_headers["x-api-key"] = proxy_key
    for method, route in routes(proxy):
        path, body, expected = example(method, route)
        headers = dict(base_headers)
        if body is None and who == "curl":
            headers.pop("Content-Type", None)
        answer = await send(proxy.url, method, path, headers=headers, json_body=body)
        assert answer.status == expected, f"{who}: {method} {path} -> {answer.status} {answer.text}"


async def test_claude_code_headers_without_captures_use_a_synthetic_set() -> None:
    headers, source = claude_code_headers()
    assert source in ("captured", "synthetic")
    assert headers["Content-Type"] == "application/json"
    assert not {"Origin", "Host", "Sec-Fetch-Site"} & set(headers)


async def test_allowed_origin_gets_cors_and_preflights(make_proxy: ProxyFactory) -> None:
    app_origin = "https://app.example"
    proxy = await make_proxy(BIG_MODEL=BIG, SMALL_MODEL=SMALL, CORS_ORIGINS=app_origin)
    preflight = {
        "Origin": app_origin,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type,x-api-key",
        "Sec-Fetch-Site": "cross-site",
    }
    answer = await send(proxy.url, "OPTIONS", "/v1/messages", headers=preflight)
    assert answer.status == 204
    assert answer.headers["Access-Control-Allow-Origin"] == app_origin
    assert "content-type" in answer.headers["Access-Control-Allow-Headers"]
    # A preflight from any other page is refused, so its browser never sends the request.
    evil = await send(
        proxy.url, "OPTIONS", "/v1/messages", headers={**preflight, "Origin": EVIL_ORIGIN}
    )
    assert evil.status == 403
    assert "Access-Control-Allow-Origin" not in evil.headers
    # The allowed page's real requests work and carry the CORS headers, streams included.
    config = await send(proxy.url, "GET", "/config", headers={"Origin": app_origin})
    assert config.status == 200
    assert config.headers["Access-Control-Allow-Origin"] == app_origin
    stream = await send(
        proxy.url,
        "POST",
        "/v1/messages",
        headers={"Origin": app_origin},
        json_body={**MESSAGE, "stream": True},
    )
    assert stream.status == 200
    assert stream.headers["Access-Control-Allow-Origin"] == app_origin
    # Without CORS_ORIGINS no preflight is answered at all.
    plain = await make_proxy(BIG_MODEL=BIG, SMALL_MODEL=SMALL)
    assert (await send(plain.url, "OPTIONS", "/v1/messages", headers=preflight)).status == 403


async def test_allowed_hosts_admit_a_reverse_proxy_name(make_proxy: ProxyFactory) -> None:
    proxy = await make_proxy(BIG_MODEL=BIG, SMALL_MODEL=SMALL, ALLOWED_HOSTS="proxy.internal")
    named = {"Host": f"proxy.internal:{proxy.port}"}
    assert (await send(proxy.url, "GET", "/config", headers=named)).status == 200
    assert (
        await send(proxy.url, "GET", "/config", headers={"Host": "Proxy.Internal"})
    ).status == 200
    for host in ("localhost", f"localhost:{proxy.port}", "127.0.0.1", f"[::1]:{proxy.port}"):
        assert (await send(proxy.url, "GET", "/config", headers={"Host": host})).status == 200
    for host in ("evil.example", "proxy.internal.evil.example", "127.0.0.2", "localhost.evil"):
        answer = await send(proxy.url, "GET", "/config", headers={"Host": host})
        assert answer.status == 403, host
        assert "ALLOWED_HOSTS" in answer.error


def test_wildcards_need_a_proxy_key() -> None:
    for name in ("ALLOWED_HOSTS", "CORS_ORIGINS"):
        with pytest.raises(ConfigError, match="PROXY_API_KEY"):
            load_settings(environ={name: "*"})
        settings = load_settings(environ={name: "*", "PROXY_API_KEY": "k" * 24})
        assert "*" in (settings.allowed_hosts if name == "ALLOWED_HOSTS" else settings.cors_origins)
