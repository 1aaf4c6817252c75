"""The header: proxy state, address, preset, big/small with provider, in flight, tokens, cost."""

from __future__ import annotations

from typing import Any

from textual.content import Content
from textual.screen import Screen
from textual.widgets import Static

from app.client import formatting as fmt
from app.client.status import DISCONNECTED, ERROR, READY, STARTING, STOPPING, Status
from screens.context import ScreenContext

STATE_STYLE = {READY: "$text-success", ERROR: "$text-error"}
ATTACHED_WORDS = {READY: "attached to", STARTING: "connecting to", STOPPING: "detaching from"}


def where(status: Status) -> Content:
    """`ready  host:port` in-process; `attached to host:port` (or why not) for a remote proxy."""
    url = (status.url.removeprefix("http://") or "-", "bold $text-accent")
    if not status.attached:
        return Content.assemble((status.state, "bold"), "  ", url)
    if status.state == DISCONNECTED:
        retry = f"disconnected, retrying in {status.retry_in or 0}s"
        return Content.assemble((retry, "bold $text-warning"), "  ", url)
    return Content.assemble((ATTACHED_WORDS.get(status.state, status.state), "bold"), " ", url)


WORDS = [
    ("  preset ", "  in flight ", "  tokens ", "  cost "),
    ("  preset ", "  live ", "  tok ", "  cost "),
    ("  ", "  live ", "  tok ", "  "),
]
"""The first line's labels, from roomy to narrow (80 columns hold the second or third)."""


def first_line(status: Status, width: int = 0) -> Content:
    """State, address, preset, in flight, tokens, cost: the roomiest labels that fit `width`."""
    dot = ("● ", STATE_STYLE.get(status.state, "$text-warning"))
    line = Content()
    for preset, live, tokens, cost in WORDS:
        line = Content.assemble(
            dot,
            where(status),
            preset,
            (status.preset_label, "bold"),
            live,
            (str(status.in_flight), "bold"),
            ("  (quitting when done)", "bold $text-warning") if status.quit_pending else "",
            tokens,
            (fmt.tokens(status.tokens), "bold"),
            cost,
            (fmt.cost(status.cost), "bold"),
        )
        if not width or line.cell_length <= width:
            break
    return line


def render_status(status: Status, width: int = 0) -> Content:
    """Two lines: where and how the proxy runs; which models serve big and small (the first
    line's labels shortened where `width` is narrow)."""
    dot = ("● ", STATE_STYLE.get(status.state, "$text-warning"))
    if status.state == ERROR:
        return Content.assemble(dot, (status.state, "bold"), "  ", (status.message, "$text-error"))
    first = first_line(status, width)
    second = Content.assemble(
        "big ",
        (fmt.bare_model(status.big), "bold $text-secondary"),
        f" ({fmt.provider(status.big)})",
        (f" no key: set {status.big_key_missing}", "$text-error") if status.big_key_missing else "",
        "   small ",
        (fmt.bare_model(status.small), "bold $text-secondary"),
        f" ({fmt.provider(status.small)})",
        (f" no key: set {status.small_key_missing}", "$text-error")
        if status.small_key_missing
        else "",
    )
    if status.requests:
        second = second + Content.assemble(
            f"   requests {status.requests}",
            (f"  errors {status.errors}", "$text-error" if status.errors else ""),
        )
    lines = [first, second]
    if status.pins:
        lines.append(pins_content(status))
    if status.recording_paused is not None:
        lines.append(paused_content(status.recording_paused))
    return Content("\n").join(lines)


def paused_content(reason: str) -> Content:
    """`recording paused (read-only folder): requests served, not recorded`."""
    return Content.assemble(
        (f"recording paused ({reason})", "bold $text-warning"),
        (": requests served, not recorded", "$text-muted"),
    )


def pins_content(status: Status) -> Content:
    """`session 5b1c7e2a pinned to openai/gpt-4o-mini (/model)`: the newest pinned session."""
    pin = status.pins[-1]
    more = f"  +{len(status.pins) - 1} more sessions" if len(status.pins) > 1 else ""
    return Content.assemble(
        f"session {fmt.short_session(pin.session_id)} pinned to ",
        (pin.model, "bold $text-accent"),
        (f" ({pin.how}){more}", "$text-muted"),
    )


def in_sight(screen: Screen[Any]) -> bool:
    """True when `screen` is on top, or under translucent ones only (a dialog over it).

    (Textual's `Screen.is_current` also counts the screen right under a full-screen view.)"""
    stack = screen.app.screen_stack
    if stack and stack[-1] is screen:
        return True
    if screen not in stack:
        return False
    above = stack[stack.index(screen) + 1 :]
    return all(other.styles.background.a < 1 for other in above)


class StatusBar(Static):
    """Shows the app's latest Status; every screen has one, all fed by the same signal."""

    def __init__(self, ctx: ScreenContext, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.ctx = ctx
        self._status: Status | None = None
        self._stale = False
        """A status arrived while its screen was out of sight."""

    def on_resize(self) -> None:
        """The labels depend on the width: render again at the new one."""
        if self._status is not None:
            self.show(self._status)

    def on_mount(self) -> None:
        """Subscribe to status updates and show the current one."""
        self.ctx.status.subscribe(self, self.show)
        self.app.screen_change_signal.subscribe(self, self._screen_changed)
        self.show(self.ctx.current_status())

    def _screen_changed(self, screen: Screen[Any]) -> None:
        if screen is self.screen and self._stale:
            self.show(self.ctx.current_status())

    def show(self, status: Status) -> None:
        """Render a status snapshot (counts change every frame under load: repaint, no layout);
        on a screen out of sight, only when it shows again."""
        self._status = status
        self._stale = not in_sight(self.screen)
        if self._stale:
            return
        error = status.state == ERROR
        pinned = bool(status.pins) and not error
        paused = status.recording_paused is not None and not error
        relayout = (
            error or pinned != self.has_class("-pinned") or paused != self.has_class("-paused")
        )
        self.set_class(error, "-error")
        self.set_class(pinned, "-pinned")
        self.set_class(paused, "-paused")
        # Two lines, fixed height (three while a session is pinned): under load only the numbers
        # change, a repaint without a layout.
        width = self.content_size.width or self.app.size.width - 2
        self.update(render_status(status, width), layout=relayout)


class ConnectBar(Static):
    """The copyable command that points Claude Code at this proxy."""

    def __init__(self, ctx: ScreenContext, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.ctx = ctx
        self._command: str | None = None

    def on_mount(self) -> None:
        """Follow the status (the URL is known once the port is bound)."""
        self.ctx.status.subscribe(self, self.show)
        self.show(self.ctx.current_status())

    def show(self, status: Status) -> None:
        """Render the command, or nothing until the proxy listens (only when it changed)."""
        command = status.connect_command
        self.display = bool(command) and status.state != ERROR
        if command and command != self._command:
            self._command = command
            self._render_command()

    def on_resize(self) -> None:
        """The label and the hint come and go with the width; the command is always whole."""
        self._render_command()

    def _render_command(self) -> None:
        if self._command:
            self.update(connect_content(self._command, self.content_size.width or 78))


def connect_content(command: str, width: int) -> Content:
    """`Claude Code: CMD   c copies`, dropping the label, then the hint, when narrow."""
    line = (command, "bold $text-accent")
    hint = ("   c copies", "$text-muted")
    for parts in (("Claude Code: ", line, hint), (line, hint)):
        content = Content.assemble(*parts)
        if content.cell_length <= width:
            return content
    # Wider than the terminal: the command wraps at a space; `c` still copies it in one piece.
    return Content.assemble(line)
