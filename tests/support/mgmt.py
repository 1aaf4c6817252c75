"""Helpers for the management API tests: raw HTTP calls and Messages request bodies."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson

from tests.support.stream_validator import validate_anthropic_stream

SESSION = "X-Claude-Code-Session-Id"
BIG = "openai/gpt-4.1"
SMALL = "openai/gpt-4.1-mini"


@dataclass
class Answer:
    """One HTTP answer: status, raw text (for key-leak checks) and parsed JSON when it is JSON."""

    status: int
    text: str
    headers: dict[str, str]

    @property
    def json(self) -> Any:
        """The body parsed as JSON."""
        return orjson.loads(self.text)

    @property
    def error(self) -> str:
        """The Anthropic envelope's message (asserts the envelope shape)."""
        body = self.json
        assert body["type"] == "error", body
        return str(body["error"]["message"])


async def call(
    base: str,
    method: str,
    path: str,
    body: Any = None,
    *,
    raw: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> Answer:
    """Send one request to the proxy and read the whole answer."""
    data = raw if raw is not None else (orjson.dumps(body) if body is not None else None)
    hdrs = {"content-type": "application/json"} if data is not None else {}
    hdrs.update(headers or {})
    timeout = aiohttp.ClientTimeout(total=15)
    async with (
        aiohttp.ClientSession(timeout=timeout) as session,
        session.request(method, base + path, data=data, headers=hdrs) as response,
    ):
        text = await response.text()
        return Answer(response.status, text, dict(response.headers))


def turn(text: str, model: str = "claude-sonnet-4-5", stream: bool = False) -> dict[str, Any]:
    """A one-message Messages request body."""
    body: dict[str, Any] = {
        "model": model,
        "max_tokens": 100,
        "messages": [{"role": "user", "content": text}],
    }
    if stream:
        body["stream"] = True
    return body


async def ask(
    base: str, body: dict[str, Any], session: str | None = None, path: str = "/v1/messages"
) -> Answer:
    """POST a Messages body (stream or not) and check the answer is a valid Anthropic one."""
    answer = await call(base, "POST", path, body, headers={SESSION: session} if session else None)
    assert answer.status == 200, answer.text
    if body.get("stream"):
        validate_anthropic_stream(answer.text.encode())
    return answer


def streamed_text(raw: str) -> str:
    """The answer text of an Anthropic SSE stream (its text_delta pieces joined)."""
    text = ""
    for line in raw.splitlines():
        if line.startswith("data: ") and '"text_delta"' in line:
            text += orjson.loads(line[6:])["delta"]["text"]
    return text
