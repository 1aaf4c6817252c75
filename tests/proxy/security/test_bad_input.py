"""Bad input is a 4xx with the Anthropic envelope, never a 500, and the next request works."""

from __future__ import annotations

import asyncio
import logging
import shutil
from pathlib import Path

import orjson
import pytest

from proxy.server.runner import ProxyServer
from tests.conftest import ProxyFactory
from tests.proxy.security.client import raw_connection, send
from tests.support.mgmt import BIG, SMALL, ask, turn

BOUND = 15.0


async def raw_exchange(proxy: ProxyServer, head: bytes, body: bytes = b"") -> tuple[int, dict]:
    """Send raw bytes (headers of any encoding), return the status and the JSON body."""
    async with raw_connection(proxy.port) as (reader, writer):
        writer.write(head + body)
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), BOUND)
        headers: dict[str, str] = {}
        while (line := await asyncio.wait_for(reader.readline(), BOUND)) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        payload = await asyncio.wait_for(reader.readexactly(length), BOUND)
    return int(status_line.split()[1]), orjson.loads(payload) if payload else {}


def post_head(path: str, body: bytes, extra: bytes = b"") -> bytes:
    """A POST's head with a JSON content type and one extra raw header block."""
    return (
        b"POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n%sConnection: close\r\n\r\n" % (path.encode(), len(body), extra)
    )


async def works(proxy: ProxyServer) -> None:
    """The next request after a bad one is served."""
    await ask(proxy.url, turn("and now a good one"))


@pytest.mark.parametrize("header", [b"X-Claude-Code-Session-Id", b"x-api-key"])
async def test_undecodable_headers_are_400(make_proxy: ProxyFactory, header: bytes) -> None:
    proxy = await make_proxy(BIG_MODEL=BIG, SMALL_MODEL=SMALL)
    body = orjson.dumps(turn("hi"))
    for value in (b"\xff\xfe\xfd", b"caf\xc3\xa9", b"a" * 5000):
        for path in ("/v1/messages", "/v1/messages/count_tokens"):
            extra = header + b": " + value + b"\r\n"
            status, envelope = await raw_exchange(proxy, post_head(path, body, extra), body)
            assert status == 400, (path, value[:10], envelope)
            assert header.decode().lower() in envelope["error"]["message"].lower()
    await works(proxy)


async def test_undecodable_key_with_a_proxy_key_is_401(make_proxy: ProxyFactory) -> None:
    proxy = await make_proxy(BIG_MODEL=BIG, SMALL_MODEL=SMALL, PROXY_API_KEY="the-proxy-key-123")
    body = orjson.dumps(turn("hi"))
    status, envelope = await raw_exchange(
        proxy, post_head("/v1/messages", body, b"x-api-key: \xff\xfe\r\n"), body
    )
    assert (status, envelope["error"]["type"]) == (401, "authentication_error")
    ok = await send(
        proxy.url,
        "POST",
        "/v1/messages",
        headers={"x-api-key": "the-proxy-key-123"},
        json_body=turn("fine"),
    )
    assert ok.status == 200


@pytest.mark.parametrize("depth", [300, 5000])
async def test_json_nested_too_deep_is_400(make_proxy: ProxyFactory, depth: int) -> None:
    proxy = await make_proxy(BIG_MODEL=BIG, SMALL_MODEL=SMALL)
    nested = b'{"a":' * depth + b"1" + b"}" * depth
    message = orjson.dumps(turn("deep"))[:-1] + b',"metadata":' + nested + b"}"
    for path in ("/v1/messages", "/v1/messages/count_tokens", "/conversation/import", "/presets"):
        answer = await send(
            proxy.url, "POST", path, headers={"Content-Type": "application/json"}, data=message
        )
        assert answer.status == 400, (path, answer.text[:200])
        assert answer.json["type"] == "error"
    await works(proxy)


async def test_bad_last_event_ids_are_400(make_proxy: ProxyFactory) -> None:
    proxy = await make_proxy(BIG_MODEL=BIG, SMALL_MODEL=SMALL)
    for value in ("abc", "²", "-1", "1.5", "9" * 5000, "0x10"):
        answer = await send(proxy.url, "GET", "/events", headers={"Last-Event-ID": value})
        assert answer.status == 400, value
        assert "Last-Event-ID" in answer.error
    answer = await send(proxy.url, "GET", "/events?last_event_id=%C2%B2")
    assert answer.status == 400
    assert (await send(proxy.url, "GET", "/events", headers={"Last-Event-ID": "12"})).status == 200
    await works(proxy)


async def test_bad_model_strings_are_400_before_routing(make_proxy: ProxyFactory) -> None:
    proxy = await make_proxy(BIG_MODEL=BIG, SMALL_MODEL=SMALL)
    bad_models = ["m" * 300, "claude-sonnet\r\nX-Injected: 1", "claude\x00", "gpt\x1b[31m"]
    for model in bad_models:
        calls = [
            ("/v1/messages", {**turn("x"), "model": model}),
            ("/v1/messages/count_tokens", {"model": model, "messages": turn("x")["messages"]}),
            ("/switch_model", {"big_model": model}),
            ("/sessions/s1/model", {"model": model}),
            ("/presets", {"name": "p", "big_model": model, "small_model": SMALL}),
        ]
        for path, body in calls:
            answer = await send(proxy.url, "POST", path, json_body=body)
            assert answer.status == 400, (path, model[:20], answer.text)
            assert "printable" in answer.error
            assert "X-Injected" not in str(answer.headers)
    config = (await send(proxy.url, "GET", "/config")).json
    assert config["big_model"]["model"] == BIG
    await works(proxy)


async def test_urls_and_headers_over_the_line_limit_get_the_envelope(
    make_proxy: ProxyFactory,
) -> None:
    proxy = await make_proxy(BIG_MODEL=BIG, SMALL_MODEL=SMALL)
    long_url = b"GET /conversation?session=" + b"a" * 9000 + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    status, envelope = await raw_exchange(proxy, long_url)
    assert status == 400
    assert envelope["error"]["type"] == "invalid_request_error"
    assert "longer than" in envelope["error"]["message"]
    long_header = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"b" * 9000 + b"\r\n\r\n"
    status, envelope = await raw_exchange(proxy, long_header)
    assert (status, envelope["type"]) == (400, "error")
    garbage = b"\x16\x03\x01 not http at all\r\n\r\n"
    status, envelope = await raw_exchange(proxy, garbage)
    assert (status, envelope["type"]) == (400, "error")
    await works(proxy)


async def test_a_failed_history_save_is_reported(
    make_proxy: ProxyFactory, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data = tmp_path / "data"
    proxy = await make_proxy(BIG_MODEL=BIG, SMALL_MODEL=SMALL, DATA_DIR=str(data))
    enabled = await send(
        proxy.url, "POST", "/conversation/enable", json_body={"file_path": "sub/h.json"}
    )
    assert enabled.status == 200
    # The folder becomes a file: every write now fails (even for root, unlike a chmod).
    shutil.rmtree(data / "sub")
    (data / "sub").write_text("not a folder")
    with caplog.at_level(logging.ERROR):
        await ask(proxy.url, turn("not saved"))
        await proxy.service.history.flush()
    status = (await send(proxy.url, "GET", "/conversation/status")).json
    assert status["last_error"] and "cannot write" in status["last_error"]
    assert any("cannot write" in r.getMessage() for r in caplog.records)
    await works(proxy)


async def test_undecodable_host_and_origin_are_refused_and_logged_safely(
    make_proxy: ProxyFactory,
) -> None:
    proxy = await make_proxy(BIG_MODEL=BIG, SMALL_MODEL=SMALL)
    for extra in (b"Origin: https://\xff\xfe.example\r\n", b""):
        host = b"127.0.0.1" if extra else b"evil\xff.example"
        head = (
            b"GET /config HTTP/1.1\r\nHost: "
            + host
            + b"\r\n"
            + extra
            + b"Connection: close\r\n\r\n"
        )
        status, envelope = await raw_exchange(proxy, head)
        assert (status, envelope["error"]["type"]) == (403, "permission_error")
    # The refusals are in the debug log, which still serialises.
    logged = await send(proxy.url, "GET", "/debug_logs?log_type=error&format=jsonl")
    assert logged.status == 200 and logged.text.count("refused") == 2
    await works(proxy)
