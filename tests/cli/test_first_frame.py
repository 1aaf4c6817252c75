"""No blank terminal: `claude-proxy` in a terminal draws a first frame before any heavy import.

Run under a real pseudo-terminal with `-X importtime`, whose report goes to the same terminal:
the order of the output proves the frame came first (orderings, not wall time).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

from app.cli.splash import ENTER, LEAVE

ROOT = Path(__file__).resolve().parents[2]
TITLE = "claude-proxy\x1b[0m · starting…"


def run_in_pty(args: list[str], until: bytes, env: dict[str, str], cwd: Path) -> bytes:
    """Run `python ARGS` on a 100x30 pty; everything it wrote until `until` showed (or it ended)."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    process = subprocess.Popen(
        [sys.executable, *args],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env,
        cwd=cwd,
        start_new_session=True,
    )
    os.close(slave)
    out = bytearray()
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline and until not in out:
            ready, _, _ = select.select([master], [], [], 0.1)
            if ready:
                try:
                    data = os.read(master, 65536)
                except OSError:
                    break
                if not data:
                    break
                out += data
            elif process.poll() is not None:
                break
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)
        os.close(master)
    return bytes(out)


def env_for(tmp_path: Path, **extra: str) -> dict[str, str]:
    """A clean environment: no provider settings from the developer's shell."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "OPENAI_"))}
    env.update(TERM="xterm-256color", XDG_CONFIG_HOME=str(tmp_path / "config"), PORT="0")
    env.update(extra)
    return env


def test_the_first_frame_comes_before_the_heavy_imports(tmp_path: Path) -> None:
    out = run_in_pty(
        ["-X", "importtime", "-m", "app.cli"], b"app.ui.proxy_app\r\n", env_for(tmp_path), ROOT
    )
    text = out.decode(errors="replace")
    assert ENTER in text and TITLE in text, text[-2000:]
    first_frame = text.index(TITLE)
    for heavy in ("pydantic", "aiohttp", "textual"):
        found = re.search(rf"\|\s+{heavy}\r\n", text)
        assert found, f"{heavy} was never imported: the check would prove nothing"
        assert first_frame < found.start(), f"{heavy} loaded before the first frame"
    # The steps show the proxy coming up, in order.
    steps = ["reading the settings", "loading the proxy (127.0.0.1:0)", "loading the interface"]
    assert [text.index(s) for s in steps] == sorted(text.index(s) for s in steps)


def test_a_config_error_leaves_the_frame_before_saying_why(tmp_path: Path) -> None:
    out = run_in_pty(
        ["-m", "app.cli", "--env-file", str(tmp_path / "missing.env")],
        b"no such file",
        os.environ.copy(),
        ROOT,
    )
    text = out.decode(errors="replace")
    assert TITLE in text
    assert text.index(TITLE) < text.rindex(LEAVE) < text.index("--env-file")
    assert "no such file" in text


def test_the_quick_version_is_the_installed_one() -> None:
    from importlib.metadata import version

    from app.cli.main import package_version

    assert package_version() == version("claude-proxy")
