"""`claude-proxy statusline`: one line for Claude Code's `statusLine` setting.

Claude Code runs the command on every update of the conversation with a JSON object on stdin
(`session_id`, `model.id`, `cwd`, `cost`, ...); the first line printed becomes its status line.
This prints what only the proxy knows about that session: the model its requests were really
routed to, the preset in force, and the session's tokens and cost as the proxy priced them.

It runs on every prompt, so it stays light: the standard library's `http.client` and `json`, one
GET of `/sessions/{id}/status` with a one-second timeout, and never an error exit (a status line
that fails would only show Claude Code's own warning).
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any, TextIO
from urllib.parse import quote, urlsplit

from app.client import formatting as fmt

DEFAULT_URL = "http://127.0.0.1:8082"
TIMEOUT = 1.0
HOW = {"direct model": "/model", "big model": "", "small model": "small"}
CLAUDE_ALIASES = frozenset({"haiku", "sonnet", "opus", "opusplan", "default", "best"})
"""Claude Code's model aliases (as proxy.routing.model_map knows them, without importing it)."""


def is_claude(model: str) -> bool:
    """A Claude id or alias (the proxy maps it to big/small); anything else passes through."""
    lower = model.lower()
    return lower.startswith("claude") or lower.split("[", 1)[0] in CLAUDE_ALIASES


def proxy_url(environ: dict[str, str] | os._Environ[str]) -> str:
    """CLAUDE_PROXY_URL, else ANTHROPIC_BASE_URL (Claude Code's own, inherited), else the default."""
    return (
        environ.get("CLAUDE_PROXY_URL") or environ.get("ANTHROPIC_BASE_URL") or DEFAULT_URL
    ).rstrip("/")


def read_input(stream: TextIO) -> dict[str, Any]:
    """The JSON Claude Code passes on stdin; empty when run by hand or unreadable."""
    if stream.isatty():
        return {}
    try:
        data = json.loads(stream.read() or "{}")
    except (ValueError, OSError):
        return {}
    return data if isinstance(data, dict) else {}


def fetch(url: str, path: str, environ: dict[str, str] | os._Environ[str]) -> tuple[int, Any]:
    """GET `path` on the proxy with the key Claude Code uses; (status, parsed JSON body)."""
    parts = urlsplit(url)
    headers = {"accept": "application/json"}
    token = environ.get("PROXY_API_KEY") or environ.get("ANTHROPIC_AUTH_TOKEN")
    if token:
        headers["authorization"] = f"Bearer {token}"
    if environ.get("ANTHROPIC_API_KEY"):
        headers["x-api-key"] = environ["ANTHROPIC_API_KEY"]
    target = parts.path.rstrip("/") + path
    if parts.scheme == "https":
        return _fetch_https(parts.hostname or "", parts.port, target, headers)
    return _fetch_plain(parts.hostname or "127.0.0.1", parts.port or 80, target, headers)


def _fetch_plain(host: str, port: int, target: str, headers: dict[str, str]) -> tuple[int, Any]:
    # One HTTP/1.0-style exchange on a socket: http.client would import the email package
    # (tens of milliseconds, on every prompt) to parse two headers.
    import socket

    lines = [f"GET {target} HTTP/1.1", f"Host: {host}:{port}", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    with socket.create_connection((host, port), timeout=TIMEOUT) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    if b"transfer-encoding: chunked" in head.lower():
        raise ValueError("chunked answers are not expected from the proxy")
    return status, json.loads(body or b"null")


def _fetch_https(
    host: str, port: int | None, target: str, headers: dict[str, str]
) -> tuple[int, Any]:
    import http.client

    connection = http.client.HTTPSConnection(host, port, timeout=TIMEOUT)
    try:
        connection.request("GET", target, headers=headers)
        response = connection.getresponse()
        return response.status, json.loads(response.read() or b"null")
    except http.client.HTTPException as exc:
        raise OSError(f"{type(exc).__name__}: {exc}") from None
    finally:
        connection.close()


def render(status: dict[str, Any], claude_model: str | None = None) -> str:
    """`⇄ openai/gpt-4o-mini (/model) · preset default (.env) · 1.2k tok · $0.0012`."""
    model = status.get("model")
    how = "pinned" if status.get("pinned") else HOW.get(str(status.get("reason")), "")
    if model is None:
        # No request of this session ended yet: where its next main request would go.
        chosen = claude_model if claude_model and not is_claude(claude_model) else None
        model = status.get("pinned") or chosen or status.get("big_model") or "-"
        how = how or "next"
    preset = status.get("preset") or (
        "default (.env)" if status.get("models_from_env") else "custom"
    )
    parts = [f"⇄ {model}" + (f" ({how})" if how else ""), f"preset {preset}"]
    usage = status.get("usage")
    if isinstance(usage, dict):
        tokens = int(usage.get("input_tokens") or 0) + int(usage.get("output_tokens") or 0)
        parts.append(f"{fmt.tokens(tokens)} tok")
        parts.append(fmt.cost(float(usage.get("cost") or 0.0)))
    return " · ".join(parts)


def statusline(stdin: TextIO, environ: dict[str, str] | os._Environ[str]) -> str:
    """The line to print for the session described on `stdin`."""
    given = read_input(stdin)
    session = str(given.get("session_id") or "")
    model_info = given.get("model")
    claude_model = model_info.get("id") if isinstance(model_info, dict) else None
    url = proxy_url(environ)
    where = url.split("://", 1)[-1]
    path = f"/sessions/{quote(session, safe='')}/status" if session else "/sessions/-/status"
    try:
        status, body = fetch(url, path, environ)
    except (OSError, ValueError, IndexError):
        return f"claude-proxy: not reachable at {where}"
    if status == 401:
        return "claude-proxy: key refused (ANTHROPIC_AUTH_TOKEN must be PROXY_API_KEY)"
    if status == 404:
        return f"claude-proxy: {where} has no statusline support (update claude-proxy)"
    if status != 200 or not isinstance(body, dict):
        return f"claude-proxy: HTTP {status} from {where}"
    return render(body, claude_model)


def run_statusline(argv: list[str]) -> int:
    """Print the line; always exit 0 (Claude Code shows a failing command as an error)."""
    if argv and argv[0] in ("-h", "--help"):
        print("usage: claude-proxy statusline  (reads Claude Code's statusLine JSON on stdin)")
        return 0
    print(statusline(sys.stdin, os.environ))
    return 0
