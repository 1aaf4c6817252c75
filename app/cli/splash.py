"""The first frame: written straight to the terminal before the heavy imports, so a launch never
shows a blank screen. It draws on the alternate screen, which the TUI then takes over and
repaints; a failure before that leaves the alternate screen again, so the error stays readable.

Plain escape sequences only: this module must load nothing (it runs before Textual exists).
"""

from __future__ import annotations

from typing import TextIO

ENTER, LEAVE = "\x1b[?1049h", "\x1b[?1049l"
HIDE_CURSOR, SHOW_CURSOR = "\x1b[?25l", "\x1b[?25h"
CLEAR = "\x1b[2J\x1b[H"


class Splash:
    """`claude-proxy · starting…` and one line per start-up step, until the TUI paints."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.shown = False
        self.row = 4

    def show(self) -> None:
        """Enter the alternate screen and draw the title."""
        self.shown = True
        self._write(f"{ENTER}{HIDE_CURSOR}{CLEAR}\x1b[2;3H\x1b[1mclaude-proxy\x1b[0m · starting…")

    def step(self, what: str) -> None:
        """One more line: what is loading now (dim, so the title stays the eye-catcher)."""
        if self.shown:
            self._write(f"\x1b[{self.row};3H\x1b[2m{what}…\x1b[0m")
            self.row += 1

    def hand_over(self) -> None:
        """The TUI owns the screen from now on (it leaves the alternate screen when it exits)."""
        self.shown = False

    def close(self) -> None:
        """Back to the normal screen (only when the TUI will not take over)."""
        if self.shown:
            self.shown = False
            self._write(f"{SHOW_CURSOR}{LEAVE}")

    def _write(self, text: str) -> None:
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):
            # A closed terminal: the app itself will say so, the splash is only a courtesy.
            self.shown = False
