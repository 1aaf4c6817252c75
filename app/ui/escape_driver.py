"""Escape acted on after ESCDELAY, not at the input thread's next poll: Textual's Linux driver.

A lone Escape byte may be the start of a sequence (an arrow key, Alt+x, a mouse report), so the
parser waits ESCDELAY for the rest. Textual's input thread only checks that wait when `select`
returns, which without input is every 100 ms: Escape always took 100-200 ms, whatever ESCDELAY
said. This thread wakes when the wait ends. It also makes ESCDELAY 25 ms unless the user set it
(Textual's default is 100): the value vim and ncurses users settle on. A terminal writes each
sequence whole (a key, Alt+key, a mouse report, a paste), so it arrives in one read, locally, in
tmux (which forwards what it parsed in one write) and over ssh (one key's bytes travel in one
packet); the wait only matters when a sequence is split across reads more than 25 ms apart.
"""

from __future__ import annotations

import os
import selectors
from codecs import getincrementaldecoder

from textual import constants
from textual._loop import loop_last
from textual._parser import ParseError
from textual._time import get_time
from textual._xterm_parser import XTermParser
from textual.drivers.linux_driver import LinuxDriver

ESCDELAY_MS = 25
"""Milliseconds to wait for the rest of an escape sequence when ESCDELAY is not set."""
POLL = 0.1
"""Seconds between two checks of the exit flag (Textual's own)."""


def escape_delay(environ: dict[str, str] | os._Environ[str]) -> float:
    """Seconds: ESCDELAY (milliseconds) if the user set it, else ESCDELAY_MS."""
    if "ESCDELAY" in environ:
        return float(constants.ESCAPE_DELAY)
    return ESCDELAY_MS / 1000.0


class PromptEscapeDriver(LinuxDriver):
    """Textual's Linux driver whose input thread wakes when the parser's wait for the rest of
    an escape sequence ends."""

    def start_application_mode(self) -> None:
        """Shorten the default escape wait (the parser reads the constant at each Escape)."""
        # Textual reads ESCDELAY once at import; `constants.ESCAPE_DELAY` is looked up per use.
        setattr(constants, "ESCAPE_DELAY", escape_delay(os.environ))  # noqa: B010
        super().start_application_mode()

    def run_input_thread(self) -> None:
        """Textual's loop (textual/drivers/linux_driver.py), with `select` bounded by the
        parser's pending timeout."""
        selector = selectors.SelectSelector()
        selector.register(self.fileno, selectors.EVENT_READ)
        fileno = self.fileno
        parser = XTermParser(self._debug)
        feed, tick = parser.feed, parser.tick
        decode = getincrementaldecoder("utf-8")().decode

        def process(ready: list[tuple[selectors.SelectorKey, int]], final: bool = False) -> None:
            for last, (_key, mask) in loop_last(ready):
                if mask & selectors.EVENT_READ:
                    data = decode(os.read(fileno, 1024 * 4), final=final and last)
                    if not data:
                        break
                    for event in feed(data):
                        self.process_message(event)
            for event in tick():
                self.process_message(event)

        def timeout() -> float:
            deadline = parser._timeout_time
            if deadline is None:
                return POLL
            return min(POLL, max(0.0, deadline - get_time()))

        try:
            while not self.exit_event.is_set():
                process(selector.select(timeout()))
            selector.unregister(fileno)
            # As Textual does: nothing is registered any more, so this waits 0.1 s, then ticks.
            process(selector.select(0.1), final=True)
        finally:
            selector.close()
            try:
                for _event in feed(""):
                    pass
            except (EOFError, ParseError):
                pass
