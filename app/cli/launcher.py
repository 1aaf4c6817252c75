"""`claude-proxy code` and `claude-proxy env`: point Claude Code at the proxy."""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from app.client.connect import claude_env, export_lines
from proxy.core.settings import Settings

HEALTH_TIMEOUT = 0.5
START_TIMEOUT = 15.0


def proxy_url(settings: Settings) -> str:
    """The URL Claude Code should use for this configuration."""
    host = settings.host
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{settings.port}"


def proxy_is_running(url: str) -> bool:
    """True when a claude-proxy answers /health at `url`."""
    try:
        with urllib.request.urlopen(url + "/health", timeout=HEALTH_TIMEOUT) as response:
            return bool(response.status == 200 and b'"status"' in response.read(200))
    except (urllib.error.URLError, OSError, ValueError):
        return False


def env_lines(settings: Settings) -> list[str]:
    """Shell `export` lines for Claude Code; the proxy key is referenced, never printed."""
    return export_lines(proxy_url(settings), bool(settings.proxy_api_key))


def statusline_command() -> str:
    """The shell command Claude Code runs for its status line: this install's `statusline`."""
    script = Path(sys.executable).with_name("claude-proxy")
    if script.is_file():
        return f"{shlex.quote(str(script))} statusline"
    return f"{shlex.quote(sys.executable)} -m app.cli statusline"


def with_statusline(claude_args: list[str], home: Path | None = None) -> list[str]:
    """`claude_args` plus `--settings` with our statusLine, unless the user has their own (a
    `--settings` of theirs, or a statusLine in ~/.claude/settings.json)."""
    if any(arg == "--settings" or arg.startswith("--settings=") for arg in claude_args):
        return claude_args
    user_settings = (home or Path.home()) / ".claude" / "settings.json"
    try:
        if "statusLine" in json.loads(user_settings.read_text(encoding="utf-8")):
            return claude_args
    except (OSError, ValueError, TypeError):
        pass
    settings = {"statusLine": {"type": "command", "command": statusline_command()}}
    return ["--settings", json.dumps(settings), *claude_args]


def start_headless(settings: Settings, env_file: str | None) -> subprocess.Popen[bytes]:
    """Start a headless proxy in the background and wait until it answers /health."""
    command = [sys.executable, "-m", "app.cli", "--headless", "--host", settings.host]
    command += ["--port", str(settings.port)]
    if env_file:
        command += ["--env-file", env_file]
    process = subprocess.Popen(
        command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    url = proxy_url(settings)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proxy_is_running(url):
            return process
        if process.poll() is not None:
            err = process.stderr.read().decode(errors="replace") if process.stderr else ""
            raise RuntimeError(f"the proxy did not start: {err.strip()[-500:]}")
        time.sleep(0.1)
    process.terminate()
    raise RuntimeError(f"the proxy did not answer on {url} within {START_TIMEOUT:g} s")


def run_code(settings: Settings, claude_args: list[str], env_file: str | None = None) -> int:
    """Run Claude Code against the proxy, starting a headless one first when none runs."""
    claude = shutil.which("claude")
    if claude is None:
        print(
            "claude-proxy: `claude` is not on PATH; install it with "
            "`npm install -g @anthropic-ai/claude-code`",
            file=sys.stderr,
        )
        return 127
    url = proxy_url(settings)
    started: subprocess.Popen[bytes] | None = None
    if not proxy_is_running(url):
        print(f"claude-proxy: starting a headless proxy on {url}", file=sys.stderr)
        try:
            started = start_headless(settings, env_file)
        except RuntimeError as exc:
            print(f"claude-proxy: {exc}", file=sys.stderr)
            return 1
    try:
        command = [claude, *with_statusline(claude_args)]
        return subprocess.call(command, env=claude_env(url, settings.proxy_api_key, os.environ))
    except KeyboardInterrupt:
        return 130
    finally:
        if started is not None:
            started.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                started.wait(5)
