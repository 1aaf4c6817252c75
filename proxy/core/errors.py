"""Anthropic error envelopes and the mapping of upstream failures onto them."""

from __future__ import annotations

import re
from typing import Any

import orjson

# Upstream HTTP status -> (status we return, Anthropic error type).
STATUS_MAP: dict[int, tuple[int, str]] = {
    400: (400, "invalid_request_error"),
    401: (401, "authentication_error"),
    402: (402, "billing_error"),
    403: (403, "permission_error"),
    404: (404, "not_found_error"),
    408: (504, "timeout_error"),
    409: (409, "invalid_request_error"),
    413: (413, "request_too_large"),
    422: (400, "invalid_request_error"),
    429: (429, "rate_limit_error"),
    503: (529, "overloaded_error"),
    504: (504, "timeout_error"),
    529: (529, "overloaded_error"),
}

CONTEXT_PATTERNS = re.compile(
    r"context[_ ]length|context window|maximum context|too many tokens|prompt is too long|"
    r"input is too long|exceeds the maximum|reduce the length|token limit",
    re.IGNORECASE,
)
KEY_PATTERN = re.compile(
    r"(sk-[A-Za-z0-9_\-]{8,}|AIza[0-9A-Za-z_\-]{20,}|(?:key|token)=[A-Za-z0-9_\-]{12,})"
)


# What a server-side message must never show a client: a Python traceback, and file paths of
# the server (LiteLLM puts both in some messages).
TRACEBACK = re.compile(r"\s*Traceback \(most recent call last\):.*", re.DOTALL)
FILE_LINE = re.compile(r'\s*File "[^"]*", line \d+[^\n]*')
SERVER_PATH = re.compile(
    r"(?<![\w:/])(?:/[\w.@+-]+){2,}\.py\b|[A-Za-z]:\\(?:[\w.@+-]+\\)+[\w.@+-]+\.py\b"
)


def clean_message(text: str) -> str:
    """An error message fit for a client: no traceback, no server file path."""
    if "Traceback" in text:
        text = TRACEBACK.sub("", text)
    if ".py" in text:
        text = SERVER_PATH.sub("<server file>", FILE_LINE.sub("", text))
    return text.strip() or "upstream error"


def error_status(error: Any) -> int:
    """The HTTP status an error object names (Groq: `status_code`, OpenRouter: `code`), else
    502: an error event inside a stream then keeps the type the upstream gave it."""
    if isinstance(error, dict):
        for key in ("status_code", "code", "status"):
            value = error.get(key)
            if isinstance(value, int) and not isinstance(value, bool) and 400 <= value < 600:
                return value
    return 502


class ProxyError(Exception):
    """An error the client gets as an Anthropic envelope with an HTTP status."""

    def __init__(
        self,
        status: int,
        error_type: str,
        message: str,
        headers: dict[str, str] | None = None,
        *,
        retry: bool = True,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error_type = error_type
        self.message = message
        self.headers = headers or {}
        self.retry = retry
        """False when asking again would get the same answer (one the proxy cannot read)."""

    def envelope(self) -> dict[str, Any]:
        """The Anthropic error body for this error."""
        return error_envelope(self.error_type, self.message)


def error_envelope(error_type: str, message: str) -> dict[str, Any]:
    """`{"type":"error","error":{"type":...,"message":...}}` (the message cleaned for a client)."""
    return {"type": "error", "error": {"type": error_type, "message": clean_message(message)}}


def mask_key(key: str | None) -> str | None:
    """Show a key as `sk-...abcd` (never the whole key)."""
    if not key:
        return None
    if len(key) <= 8:
        return "***"
    return f"{key[:3]}...{key[-4:]}"


def scrub(text: str) -> str:
    """Mask anything that looks like an API key inside free text (upstream error messages)."""
    # Every match holds one of these literally: substring tests are ~6x cheaper than the search.
    if "sk-" not in text and "AIza" not in text and "key=" not in text and "token=" not in text:
        return text
    return KEY_PATTERN.sub(lambda m: mask_key(m.group(0)) or "***", text)


def extract_message(body: bytes | str | None, fallback: str) -> str:
    """Pull a human message out of an upstream error body in any dialect."""
    if not body:
        return fallback
    raw = body if isinstance(body, str) else body.decode("utf-8", "replace")
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        text = raw.strip()
        if text.startswith("<"):
            return f"{fallback} (upstream returned HTML, not JSON)"
        return text[:500] or fallback
    if isinstance(data, list) and data:
        data = data[0]
    if isinstance(data, dict):
        err = data.get("error", data)
        if isinstance(err, dict):
            msg = err.get("message") or err.get("detail") or err.get("msg")
            if isinstance(msg, str) and msg:
                return msg
        elif isinstance(err, str):
            return err
        detail = data.get("detail") or data.get("message")
        if isinstance(detail, str):
            return detail
    return raw[:500]


def from_upstream(
    status: int, body: bytes | str | None, provider: str, retry_after: str | None = None
) -> ProxyError:
    """Map an upstream HTTP error onto the Anthropic error the client should see."""
    message = scrub(extract_message(body, f"upstream returned HTTP {status}"))
    if status in (400, 413, 422) and CONTEXT_PATTERNS.search(message):
        return context_too_long(message)
    mapped_status, error_type = STATUS_MAP.get(status, (502, "api_error"))
    if status >= 500 and status not in STATUS_MAP:
        mapped_status, error_type = 502, "api_error"
    if "overloaded" in message.lower() and mapped_status >= 500:
        mapped_status, error_type = 529, "overloaded_error"
    headers = {"retry-after": retry_after} if retry_after else {}
    return ProxyError(mapped_status, error_type, f"{provider} upstream: {message}", headers)


def context_too_long(message: str) -> ProxyError:
    """The 400 Claude Code answers by compacting: its message must start `prompt is too long:`."""
    if not message.startswith("prompt is too long:"):
        message = f"prompt is too long: {message}"
    return ProxyError(400, "invalid_request_error", message)


def envelope_bytes(error_type: str, message: str) -> bytes:
    """The envelope serialised, for SSE error frames and raw responses."""
    return orjson.dumps(error_envelope(error_type, message))
