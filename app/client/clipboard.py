"""Copying text where the user can paste it, and saying truthfully where it went.

A terminal app cannot see whether its terminal honoured an OSC 52 request (SSH, most terminals
inside tmux by default, and many others drop it silently). So a clipboard the machine has is
tried first (wl-copy, xclip, xsel, pbcopy, clip.exe), then tmux's paste buffer when inside
tmux; only when neither exists does the caller fall back to OSC 52, and says it may not work.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass

TIMEOUT = 2.0


@dataclass(frozen=True, slots=True)
class Copied:
    """Where the text went (None: nowhere the app can confirm) and what to tell the user."""

    where: str | None
    message: str


def candidates(environ: Mapping[str, str], platform: str = sys.platform) -> list[list[str]]:
    """Clipboard commands usable here, best first (only those whose display is reachable)."""
    found: list[list[str]] = []
    if platform == "darwin":
        found.append(["pbcopy"])
    if environ.get("WAYLAND_DISPLAY"):
        found.append(["wl-copy"])
    if environ.get("DISPLAY"):
        found += [["xclip", "-selection", "clipboard"], ["xsel", "--clipboard", "--input"]]
    release = os.uname().release.lower() if hasattr(os, "uname") else ""
    if "microsoft" in release:  # WSL: the Windows clipboard
        found.append(["clip.exe"])
    if environ.get("TMUX"):
        found.append(["tmux", "load-buffer", "-w", "-"])
    return [command for command in found if shutil.which(command[0])]


def describe(command: list[str]) -> str:
    """Where a command puts the text, in the user's words."""
    if command[0] == "tmux":
        return "tmux's paste buffer (prefix ] pastes it)"
    return f"the clipboard ({command[0]})"


def copy_text(text: str, environ: Mapping[str, str] | None = None) -> Copied:
    """Copy with the first clipboard command that works (blocking: run it in a thread)."""
    env = os.environ if environ is None else environ
    for command in candidates(env):
        try:
            done = subprocess.run(
                command,
                input=text.encode(),
                capture_output=True,
                timeout=TIMEOUT,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired):
            continue
        if done.returncode == 0:
            return Copied(command[0], f"In {describe(command)}.")
    return Copied(
        None,
        "Asked the terminal to copy it (OSC 52), which many terminals and SSH sessions ignore: "
        "if pasting gives nothing, select the line on screen.",
    )
