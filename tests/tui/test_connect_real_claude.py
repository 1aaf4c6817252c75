"""The connect line, copied from the TUI's screen, runs the real Claude Code for a brand-new user.

Two tmux sessions on a private tmux server: `claude-proxy` (the TUI, 80x24, against the fake
upstream) and a bare shell with a fresh HOME (no login, no onboarding). The line is read back from
the TUI's screen, typed into the shell as is, Claude Code's first-run questions are answered, a
prompt goes out, and the answer and the request must show up in both places.

Skipped where tmux or Claude Code is missing (CI has no Claude Code). Installs are found in
CLAUDE_CODE_BINS (paths separated by `:`), else /work/scratch/cc/*/node_modules/.bin/claude.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import FAKE_KEYS
from tests.support.fake_upstream import DEFAULT_TEXT, FakeUpstream

ROOT = Path(__file__).resolve().parents[2]
LINE = re.compile(r"ANTHROPIC_BASE_URL=\S+ ANTHROPIC_AUTH_TOKEN=\S+ claude")
PROXY_KEY = "sk-test-proxy-key-0000000000000042"


def claude_installs() -> list[Path]:
    """Every Claude Code binary this machine offers for the test."""
    listed = os.environ.get("CLAUDE_CODE_BINS")
    if listed:
        paths = [Path(p) for p in listed.split(os.pathsep) if p]
    else:
        paths = sorted(Path("/work/scratch/cc").glob("*/node_modules/.bin/claude"))
    return [p for p in paths if p.exists()]


INSTALLS = claude_installs()
SKIP = pytest.mark.skipif(
    shutil.which("tmux") is None or not INSTALLS,
    reason="needs tmux and a Claude Code install (CLAUDE_CODE_BINS); CI has no Claude Code",
)


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Tmux:
    """A private tmux server (its own socket), so parallel tests and users never meet."""

    def __init__(self, name: str) -> None:
        self.socket = name

    def run(self, *args: str) -> str:
        """One tmux command; its stdout."""
        result = subprocess.run(
            ["tmux", "-L", self.socket, *args], capture_output=True, text=True, timeout=10
        )
        return result.stdout

    def start(self, session: str, size: tuple[int, int], command: str, cwd: Path) -> None:
        """A detached session of that size running `command`."""
        width, height = size
        self.run("new-session", "-d", "-s", session, "-x", str(width), "-y", str(height),
                 "-c", str(cwd), command)  # fmt: skip

    def screen(self, session: str) -> str:
        """What the session shows now."""
        return self.run("capture-pane", "-p", "-t", session)

    def keys(self, session: str, *keys: str, literal: bool = False) -> None:
        """Type into the session (`literal`: text, not key names)."""
        self.run("send-keys", "-t", session, *(["-l"] if literal else []), *keys)

    def kill(self) -> None:
        """Stop the server and every session in it."""
        self.run("kill-server")


async def until(condition: object, timeout: float, what: str) -> str:
    """Poll `condition()` (letting the fake upstream serve) until it returns text."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()  # type: ignore[operator]
        if found:
            return str(found)
        await asyncio.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


def shell_command(env: dict[str, str]) -> str:
    """`env -i` with exactly these variables, then a bare bash."""
    pairs = " ".join(f"{k}={v}" for k, v in env.items())
    return f"env -i {pairs} bash --norc --noprofile"


async def answer_first_run(tmux: Tmux, session: str, upstream: FakeUpstream) -> str:
    """Walk Claude Code's first-run questions, send one prompt; the screen with the answer."""
    sent = False
    deadline = time.monotonic() + 120
    last_action, last_time = "", 0.0
    while time.monotonic() < deadline:
        await asyncio.sleep(0.5)
        screen = tmux.screen(session)
        for dead_end in ("Not logged in", "Unable to connect", "Detected a custom API key"):
            assert dead_end not in screen, screen
        if sent and DEFAULT_TEXT in screen:
            return screen
        action = ""
        if "Choose the text style" in screen or "Press Enter to continue" in screen:
            action = "enter"
        elif "trust this folder" in screen:
            action = "down-enter" if re.search(r"❯\s*(\d\.\s*)?No", screen) else "enter"
        elif not sent and re.search(r"for shortcuts|/effort", screen):
            tmux.keys(session, "say hi", literal=True)
            await asyncio.sleep(0.3)
            tmux.keys(session, "Enter")
            sent = True
            continue
        now = time.monotonic()
        # A question stays on screen a moment after its answer: never answer it twice at once.
        if action and (action != last_action or now - last_time > 3):
            tmux.keys(session, *(["Down", "Enter"] if action == "down-enter" else ["Enter"]))
            last_action, last_time = action, now
    raise AssertionError(f"no answer from Claude Code:\n{tmux.screen(session)}")


CASES = [pytest.param(path, False, id=path.parent.parent.parent.name) for path in INSTALLS]
if INSTALLS:
    CASES.append(pytest.param(INSTALLS[-1], True, id=f"{INSTALLS[-1].parents[2].name}-proxy-key"))


@SKIP
@pytest.mark.xdist_group("real-claude-code")
@pytest.mark.parametrize(("claude", "keyed"), CASES)
async def test_the_line_on_screen_runs_claude_code(
    claude: Path, keyed: bool, upstream: FakeUpstream, tmp_path: Path
) -> None:
    home, work, config = tmp_path / "home", tmp_path / "work", tmp_path / "config"
    for folder in (home, work, config):
        folder.mkdir()
    port = free_port()
    tui_env = {
        **FAKE_KEYS,
        "OPENAI_API_BASE": upstream.url + "/v1",
        "BIG_MODEL": "openai/gpt-4.1",
        "SMALL_MODEL": "openai/gpt-4.1-mini",
        "XDG_CONFIG_HOME": str(config),
        "HOME": str(home),
        "PATH": os.environ["PATH"],
        "TERM": "xterm-256color",
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    }
    if keyed:
        tui_env["PROXY_API_KEY"] = PROXY_KEY
    # The keyed line references "$PROXY_API_KEY" and is wider than 80 columns.
    tui_size = (120, 30) if keyed else (80, 24)
    user_env = {
        "HOME": str(home),
        "PATH": f"{claude.parent}:/usr/bin:/bin",
        "TERM": "xterm-256color",
        "DISABLE_AUTOUPDATER": "1",
    }
    if keyed:
        user_env["PROXY_API_KEY"] = PROXY_KEY
    tmux = Tmux(f"claude-proxy-test-{os.getpid()}-{port}")
    tui_command = f"{sys.executable} -m app.cli --port {port} --env-file {tmp_path / 'none.env'}"
    (tmp_path / "none.env").write_text("")
    try:
        tmux.start("tui", tui_size, shell_command(tui_env) + f" -c '{tui_command}'", ROOT)
        line = await until(
            lambda: (m := LINE.search(tmux.screen("tui"))) and m.group(0), 30, "the connect line"
        )
        assert f":{port} " in line
        assert ('"$PROXY_API_KEY"' in line) is keyed
        tmux.start("user", (120, 40), shell_command(user_env), work)
        await asyncio.sleep(0.5)
        tmux.keys("user", line, literal=True)
        tmux.keys("user", "Enter")
        screen = await answer_first_run(tmux, "user", upstream)
        assert DEFAULT_TEXT in screen
        assert upstream.requests, "Claude Code never reached the fake upstream"
        await until(lambda: re.search(r"requests [1-9]", tmux.screen("tui")), 10, "the TUI count")
        # `/model provider/model` inside Claude Code: routed there, and the TUI shows the pin.
        tmux.keys("user", "/model openai/gpt-4o-mini", literal=True)
        await asyncio.sleep(0.5)
        tmux.keys("user", "Enter")
        await until(lambda: "openai/gpt-4o-mini" in tmux.screen("user"), 20, "/model to apply")
        before = len(upstream.requests)
        await asyncio.sleep(0.5)
        tmux.keys("user", "say hi again", literal=True)
        await asyncio.sleep(0.3)
        tmux.keys("user", "Enter")
        await until(
            lambda: any(r.model == "gpt-4o-mini" for r in upstream.requests[before:]),
            60,
            "a request routed to gpt-4o-mini",
        )
        await until(
            lambda: "pinned to openai/gpt-4o-mini (/model)" in tmux.screen("tui"),
            10,
            "the session pin in the TUI's header",
        )
    finally:
        tmux.kill()


@SKIP
@pytest.mark.xdist_group("real-claude-code")
@pytest.mark.parametrize("claude", INSTALLS, ids=[p.parents[2].name for p in INSTALLS])
async def test_model_flag_routes_there(
    claude: Path, upstream: FakeUpstream, tmp_path: Path
) -> None:
    """The non-interactive `/model`, exactly as a user runs it:

    ANTHROPIC_BASE_URL=http://127.0.0.1:PORT ANTHROPIC_AUTH_TOKEN=any claude -p "say hi" \\
        --model openai/gpt-4o-mini
    """
    from proxy.server.runner import ProxyThread
    from tests.support.tui_support import tui_settings

    proxy = ProxyThread(tui_settings(upstream, tmp_path))
    await asyncio.to_thread(proxy.start)
    try:
        (tmp_path / "home").mkdir()
        env = {
            "HOME": str(tmp_path / "home"),
            "PATH": f"{claude.parent}:/usr/bin:/bin",
            "DISABLE_AUTOUPDATER": "1",
            "ANTHROPIC_BASE_URL": proxy.server.url,
            "ANTHROPIC_AUTH_TOKEN": "any",
        }
        process = await asyncio.create_subprocess_exec(
            str(claude), "-p", "say hi", "--model", "openai/gpt-4o-mini",
            "--output-format", "json",
            env=env, cwd=tmp_path, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        out, err = await asyncio.wait_for(process.communicate(), 120)
        assert process.returncode == 0, (out + err).decode()[-2000:]
        assert DEFAULT_TEXT in out.decode()
        assert {r.model for r in upstream.requests} == {"gpt-4o-mini"}
    finally:
        await asyncio.to_thread(proxy.stop)
