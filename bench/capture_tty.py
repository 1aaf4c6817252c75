"""Drive the interactive Claude Code TUI in a pseudo-terminal: what a fresh user sees offline.

`bench.capture_claude_code --auth-probe` uses it to answer "which environment line lets a brand-new
HOME reach the base URL?" (the connect line the proxy's TUI shows). The driver reads the screen
(escape codes stripped), answers onboarding the way a user who wants to get going would (default
theme, Enter on notes, "Yes" on folder trust and on a detected API key), types a prompt once the
input box shows, and stops when an answer appears, a dead end shows, or time runs out.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import re
import signal
import struct
import subprocess
import termios
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

_COLUMN = re.compile(r"\x1b\[\d*G")
_FORWARD = re.compile(r"\x1b\[(\d*)C")
_ESCAPE = re.compile(
    r"\x1b\[[0-9;?<>=]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[()][0-9A-Za-z]|\x1b[=>78MDEc]"
)
UP, DOWN, ENTER = "\x1b[A", "\x1b[B", "\r"

# Screens that end the probe: (phrase, outcome). "Not logged in" is not one: the status line can
# show it until a just-approved key takes effect, so the prompt is typed anyway.
DEAD_ENDS = (
    ("Unable to connect to Anthropic services", "blocked: connectivity check to api.anthropic.com"),
    ("Select login method", "blocked: asks to log in"),
    ("didn't start because this folder isn't trusted", "blocked: folder not trusted"),
)


def screen_text(raw: bytes) -> str:
    """Readable text from raw terminal output: cursor moves become spaces, escapes go."""
    text = raw.decode("utf-8", "replace")
    text = _FORWARD.sub(lambda m: " " * int(m.group(1) or 1), text)
    text = _COLUMN.sub(" ", text)
    text = _ESCAPE.sub("", text).replace("\r", "")
    lines = [re.sub(r"[ \t]+", " ", line).rstrip() for line in text.split("\n")]
    return "\n".join(line for line in lines if line.strip(" ░▒▓█▄▀▌▐▘▝▗▖▛▜▙▟*.╌─"))


@dataclass
class TtyResult:
    """What happened: each screen seen with the keys sent after it, and how it ended."""

    outcome: str = "timeout"
    steps: list[dict[str, str]] = field(default_factory=list)


def _reply(screen: str, typed: bool) -> tuple[str | None, str]:
    """The keys a hurried user presses on this screen, and why; None to wait."""
    if not typed and re.search(r"for shortcuts|for agents|/effort", screen):
        return (
            "say hi",
            "prompt: type",
        )  # first: the prompt screen still shows "trust this folder ✔"
    if "Choose the text style" in screen:
        return ENTER, "theme: keep the default"
    if "Do you want to use this API key" in screen or "Detected a custom API key" in screen:
        if re.search(r"❯\s*(\d\.\s*)?No", screen):  # the cursor starts on "No (recommended)"
            return UP + ENTER, "API key: move to Yes"
        return ENTER, "API key: Yes"
    if "to continue" in screen:  # "Press Enter to continue", sometimes repainted in pieces
        return ENTER, "notes: continue"
    if "trust this folder" in screen or "Do you trust the files" in screen:
        if re.search(r"❯\s*(\d\.\s*)?No", screen):
            return DOWN + ENTER, "trust: move to Yes"
        return ENTER, "trust: Yes"
    return None, ""


async def drive(
    binary: Path, cwd: str, env: dict[str, str], seconds: float, answered: Callable[[], bool]
) -> TtyResult:
    """Run the TUI, answer its screens, stop when `answered()` is true or a dead end shows."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    proc = subprocess.Popen(
        [str(binary)],
        cwd=cwd,
        env=env,
        stdin=slave,
        stdout=slave,
        stderr=slave,
        start_new_session=True,
    )
    os.close(slave)
    loop = asyncio.get_running_loop()
    pending = bytearray()

    def readable() -> None:
        try:
            pending.extend(os.read(master, 65536))
        except OSError:
            loop.remove_reader(master)

    loop.add_reader(master, readable)
    result = TtyResult()
    typed = False
    not_logged_in = False
    deadline = loop.time() + seconds
    try:
        while loop.time() < deadline:
            await asyncio.sleep(1.5)
            screen = screen_text(bytes(pending))
            not_logged_in = not_logged_in or "Not logged in" in screen
            if answered():
                result.outcome = "answered"
                result.steps.append(
                    {"screen": screen[-3000:], "keys": "", "why": "an answer arrived"}
                )
                break
            dead = next((why for phrase, why in DEAD_ENDS if phrase in screen), None)
            if dead is not None:
                result.outcome = dead
                result.steps.append({"screen": screen[-3000:], "keys": "", "why": "dead end"})
                break
            keys, why = _reply(screen, typed)
            if keys is None:
                continue
            result.steps.append({"screen": screen[-3000:], "keys": repr(keys), "why": why})
            pending.clear()
            if why == "prompt: type":
                typed = True
                os.write(master, keys.encode())
                await asyncio.sleep(0.5)
                keys = ENTER
            # One key per write: an arrow and Enter in one read are not two key presses to Ink.
            for key in re.findall(r"\x1b\[[A-D]|.", keys, re.S):
                os.write(master, key.encode())
                await asyncio.sleep(0.3)
        else:
            if typed and not_logged_in:
                result.outcome = "blocked: not logged in"
            result.steps.append(
                {"screen": screen_text(bytes(pending))[-3000:], "keys": "", "why": "timeout"}
            )
    finally:
        loop.remove_reader(master)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        os.close(master)
    return result
