"""The Textual app that is also the proxy: starts it, drains its events, routes actions."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable, Hashable, Iterable
from pathlib import Path
from typing import Any

from textual import constants, work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.driver import Driver
from textual.screen import Screen
from textual.signal import Signal
from textual.widgets import Input, TextArea
from textual.worker import Worker, WorkerState

from app.client.backend import Backend, BackendError, ProxyNotRunning
from app.client.bridge import Activity, Frame
from app.client.clipboard import copy_text
from app.client.requests import RequestStore
from app.client.session_pins import SessionPins
from app.client.status import DISCONNECTED, ERROR, READY, STOPPING, Status
from app.ui.commands import ModelCommands, PresetCommands
from app.ui.heap import HeapPolicy
from app.ui.key_routing import KeyRoutingApp
from app.ui.ui_state import UiMemory
from screens.base import ViewScreen
from screens.context import ScreenContext
from screens.main import MainScreen
from screens.quit import NOW, WAIT, QuitScreen
from screens.request_log import RequestLog

STYLES = Path(__file__).resolve().parents[2] / "styles"
FPS = 25
FORCE_QUIT_WINDOW = 3.0
"""Seconds within which a second Ctrl+C quits at once."""
FORCE_QUIT_CODE = 130
UNREACHABLE_TOAST_SECONDS = 10.0

log = logging.getLogger("claude-proxy.ui")
PALETTE_TITLES = {
    "keys": "Provider keys",
    "copy_connect": "Copy the connect command",
    "test_config": "Test big and small",
    "toggle_theme": "Light/dark theme",
}
"""Palette names where the footer's short word would be unclear or taken (Textual has "Keys")."""


def _b(key: str, action: str, description: str, tooltip: str, show: bool = True) -> Binding:
    return Binding(key, action, description, show=show, id=action.split("(")[0], tooltip=tooltip)


class ProxyApp(KeyRoutingApp):
    """claude-proxy: the proxy on its own thread, watched and steered from here."""

    TITLE = "claude-proxy"
    # Every view's styles too: parsed with the app's at start (a few ms more), not on the view's
    # first open, where Textual parses every stylesheet again and restyles every screen (~25 ms).
    CSS_PATH = [
        STYLES / name
        for name in (
            "global.tcss",
            "main.tcss",
            "views.tcss",
            "dialogs.tcss",
            "history.tcss",
            "usage.tcss",
        )
    ]
    COMMANDS = App.COMMANDS | {PresetCommands, ModelCommands}
    BINDINGS = [
        _b("m", "models", "Models", "Search the model catalogue; assign big/small"),
        _b("p", "presets", "Presets", "Apply or save model presets"),
        _b("h", "history", "History", "Conversation history by session"),
        _b("d", "debug", "Debug", "The debug log, filterable by type"),
        _b("s", "stats", "Stats", "Per-model tokens, cost and latency"),
        # Not in the footer (its width is spoken for at 80 columns): Help and the palette list it.
        _b("u", "usage", "Usage", "Cost and tokens per day, model and session", show=False),
        _b("t", "test_config", "Test", "Send a tiny probe to the big and small model"),
        _b("k", "keys", "Keys", "Enter provider API keys (saved to .env)", show=False),
        _b(
            "c", "copy_connect", "Copy", "Copy the command that points Claude Code here", show=False
        ),
        _b("question_mark", "help", "Help", "All keys and what they do"),
        # F1 too: `?` is a character, so in a text input it is typed, not pressed.
        Binding("f1", "help", "Help", show=False, id="help_f1", tooltip="Help, from anywhere"),
        _b("q", "quit", "Quit", "Stop the proxy (releasing the port) and exit"),
        # Priority: it must work in dialogs too (a selection in a field is still copied).
        Binding(
            "ctrl+c",
            "ctrl_c",
            "Quit now",
            show=False,
            priority=True,
            id="ctrl_c",
            tooltip="Pressed twice, quit at once (requests in flight are cut)",
        ),
        _b("ctrl+t", "toggle_theme", "Light/dark", "Switch between dark and light", show=False),
        # Not priority bindings: an Input that has focus keeps its digits.
        _b("0", "default_models", "Default models", "Back to BIG_MODEL/SMALL_MODEL of .env", False),
        *(
            Binding(
                str(n),
                f"apply_preset({n})",
                f"Preset {n}",
                show=False,
                id=f"preset_{n}",
                tooltip=f"Apply preset number {n}",
            )
            for n in range(1, 10)
        ),
    ]

    def __init__(
        self, backend: Backend, *, first_run_prompt: bool = True, memory: UiMemory | None = None
    ) -> None:
        super().__init__()
        self.memory = memory or UiMemory()
        """The theme and filter the user left last time (tui.json in the config folder)."""
        saved = self.memory.choices
        if saved.theme in self.available_themes:
            self.theme = saved.theme
        self.first_run_prompt = first_run_prompt
        self.backend = backend
        self.store = RequestStore()
        self.pins = SessionPins()
        self.activity = Activity()
        self.heap = HeapPolicy()
        self.quit_when_idle = False
        """The user chose to quit once the requests in flight are done."""
        self._ctrl_c_at = -FORCE_QUIT_WINDOW
        self.status = Status(attached=backend.attached, url=backend.url if backend.attached else "")
        self.status_signal: Signal[Status] = Signal(self, "status")
        self.frame_signal: Signal[Frame] = Signal(self, "frame")
        self.resync_signal: Signal[int] = Signal(self, "resync")
        """Published when the proxy's state was fetched again: views reload what they show."""
        self.ctx = ScreenContext(
            backend=backend,
            status=self.status_signal,
            frames=self.frame_signal,
            resync=self.resync_signal,
            current_status=lambda: self.status,
            apply_preset=lambda name: self.apply_preset(name=name),
            assign_model=self.assign_model,
            open_detail=self.action_detail,
            saved_filter=(saved.filter_model, saved.filter_status),
            remember_filter=lambda model, status: self.remember(
                filter_model=model, filter_status=status
            ),
        )
        """What every screen gets in its constructor."""
        self.views: dict[Hashable, ViewScreen] = {}
        """The full-screen views built so far, kept to be shown again (see `open_view`)."""
        self._revision = -1
        self._generation = 0
        self._unreachable_said = -UNREACHABLE_TOAST_SECONDS

    def get_driver_class(self) -> type[Driver]:
        """Textual's driver for the platform; on Linux, one that acts on Escape sooner."""
        driver = super().get_driver_class()
        if driver.__name__ == "LinuxDriver" and constants.DRIVER is None:
            from app.ui.escape_driver import PromptEscapeDriver

            return PromptEscapeDriver
        return driver

    @property
    def state(self) -> str:
        """starting / ready / error / disconnected (attached) / stopping."""
        return STOPPING if self.stopping else self.backend.link.state

    @property
    def error_message(self) -> str:
        """Why the state is error or disconnected."""
        return self.backend.link.message

    # Start and stop ---------------------------------------------------------------------------
    def get_default_screen(self) -> Screen[None]:
        """The request log is the home screen."""
        return MainScreen(self.ctx, self.store)

    def on_mount(self) -> None:
        """Start the backend off the UI thread, and the frame timer."""
        self.heap.start()
        self.theme_changed_signal.subscribe(self, lambda theme: self.remember(theme=theme.name))
        self.refresh_status()
        self.set_interval(1 / FPS, self._drain, name="drain")
        self.start_backend()

    @work(exclusive=True, group="proxy-start", exit_on_error=False)
    async def start_backend(self) -> None:
        """Start the embedded proxy (or begin connecting to a remote one), then show the state."""
        await self.backend.start()
        self.refresh_status()
        if (
            self.state == READY
            and not self.backend.attached
            and not self.backend.keys.any
            and self.first_run_prompt
        ):
            self.action_keys()

    @property
    def main_screen(self) -> MainScreen:
        """The home screen (always at the bottom of the stack)."""
        screen = self.screen_stack[0]
        assert isinstance(screen, MainScreen)
        return screen

    async def action_quit(self) -> None:
        """Stop the proxy (releasing the port) and exit; with requests in flight, ask first."""
        if self.stopping:
            return
        in_flight = self.backend.counts.in_flight
        # Attached, quitting detaches: the proxy elsewhere keeps serving every stream.
        if self.backend.attached or in_flight == 0:
            self.begin_shutdown()
        elif not isinstance(self.screen, QuitScreen):
            self.push_screen(QuitScreen(in_flight), self._quit_answer)

    def _quit_answer(self, answer: str | None) -> None:
        self.quit_when_idle = answer == WAIT
        if answer == NOW:
            self.begin_shutdown()
        elif answer == WAIT:
            self.notify(
                "Quitting once the requests in flight are done (q again to quit now).",
                title="quit",
            )
        self.refresh_status()

    def action_ctrl_c(self) -> None:
        """Twice within a few seconds: quit at once (streams in flight are cut); once: say so."""
        focused = self.focused
        if isinstance(focused, Input | TextArea) and focused.selected_text:
            focused.action_copy()
            return
        now = time.monotonic()
        if now - self._ctrl_c_at <= FORCE_QUIT_WINDOW:
            self.quit_now()
            return
        self._ctrl_c_at = now
        in_flight = 0 if self.backend.attached else self.backend.counts.in_flight
        cut = f", cutting {in_flight} in flight" if in_flight else ""
        self.notify(f"Ctrl+C again quits at once{cut}; q quits after asking.", title="quit")

    def quit_now(self) -> None:
        """Exit at once: requests in flight are cut (on_unmount still releases the port)."""
        self.stopping = True
        self.exit(FORCE_QUIT_CODE, return_code=FORCE_QUIT_CODE)

    def begin_shutdown(self) -> None:
        """From now on keys open nothing; the proxy stops in a worker, then the app exits."""
        self.stopping = True
        self.refresh_status()
        self.shutdown()

    @work(exclusive=True, group="shutdown", exit_on_error=False)
    async def shutdown(self) -> None:
        """Stop the proxy (or detach from it) without blocking the UI, then exit."""
        failed = self.backend.link.state == ERROR
        self.stopping = True
        self.refresh_status()
        await self.backend.stop()
        code = 1 if failed else 0
        self.exit(code, return_code=code)

    async def on_unmount(self) -> None:
        """Safety net for exits that skipped action_quit (ctrl+c): never leave the port bound."""
        try:
            await self.backend.close()
        finally:
            self.heap.stop()

    @work(thread=True, group="ui-state", exit_on_error=False)
    def remember(self, **changes: Any) -> None:
        """Keep the theme or the filter for the next start (a small atomic write, off the UI)."""
        self.memory.remember(**changes)

    # Frames -----------------------------------------------------------------------------------
    def _drain(self) -> None:
        self.heap.settle()
        backend = self.backend
        if self.quit_when_idle and not self.stopping and backend.counts.in_flight == 0:
            self.begin_shutdown()
        frame = backend.sink.drain(self.store)
        generation = backend.link.generation
        if generation != self._generation:
            self._generation = generation
            self.resync_signal.publish(generation)
        if frame is None:
            # Nothing new: only a state change or the retry countdown needs the header redrawn.
            paused = backend.recording.paused
            if (
                backend.revision != self._revision
                or self.status.retry_in is not None
                or paused != (self.status.recording_paused is not None)
            ):
                self.refresh_status()
            return
        self.activity.note(frame)
        for record in frame.changed.values():
            # Idempotent, and newest-start wins: a record seen again (deltas, its end) is harmless.
            self.pins.note(record)
        with self.batch_update():
            self.frame_signal.publish(frame)
            self.refresh_status()

    def refresh_status(self) -> None:
        """Rebuild the status snapshot; broadcast it only when something changed."""
        backend = self.backend
        self._revision = backend.revision
        link, pair, counts, keys = backend.link, backend.pair, backend.counts, backend.keys
        recording = backend.recording
        state = self.state
        retry_in = None
        if state == DISCONNECTED and link.retry_at is not None:
            retry_in = max(0, math.ceil(link.retry_at - time.monotonic()))
        listening = state in (READY, STOPPING, DISCONNECTED) or backend.attached
        status = Status(
            state=state,
            url=backend.url if listening else "",
            big=pair.big,
            small=pair.small,
            preset=pair.preset,
            models_from_env=pair.from_env,
            in_flight=counts.in_flight,
            requests=counts.total,
            errors=counts.errors,
            tokens=counts.tokens,
            cost=counts.cost,
            message=link.message if state in (ERROR, DISCONNECTED) else "",
            no_provider_key=state == READY and not keys.any,
            big_key_missing=keys.missing(pair.big),
            small_key_missing=keys.missing(pair.small),
            attached=backend.attached,
            retry_in=retry_in,
            proxy_key=bool(backend.api_key),
            quit_pending=self.quit_when_idle and not self.stopping,
            pins=self.pins.pins,
            recording_paused=(recording.reason or "unknown") if recording.paused else None,
        )
        if status != self.status:
            self.status = status
            self.status_signal.publish(status)

    # Errors of every worker end up here (one place, like harlequin's handle_worker_error): the
    # app's own, and those of screens and widgets, which forward theirs (see screens.context).
    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """Show a failed UI job as a notification (and a debug-log entry), never a crash."""
        if event.state != WorkerState.ERROR or event.worker.error is None:
            return
        error = event.worker.error
        reason = (
            str(error) if isinstance(error, BackendError) else f"{type(error).__name__}: {error}"
        )
        log.debug("worker %s failed: %s", event.worker.name, reason, exc_info=error)
        if isinstance(error, ProxyNotRunning) and self.state != READY:
            # The header already says so; views that poll would toast every second.
            now = time.monotonic()
            if now - self._unreachable_said < UNREACHABLE_TOAST_SECONDS:
                return
            self._unreachable_said = now
        else:
            self.backend.note_error(f"{event.worker.name or 'a UI job'} failed: {reason}")
        self.notify(reason, title="error", severity="error")

    # Navigation -------------------------------------------------------------------------------
    def open_view(self, key: Hashable, build: Callable[[], ViewScreen], over: bool = False) -> None:
        """Show a full-screen view over the log; from another view, replace it (`over`: show it
        over the current screen whatever that is, as Help does).

        Each view is built once and kept (installed): shown again, it only fetches its data
        again (`reopen`), which costs a fraction of composing it anew.
        """
        if self.stopping:
            return
        kept = self.views.get(key)
        if kept is None:
            screen = kept = build()
            self.views[key] = kept
            self.install_screen(kept, f"view-{len(self.views)}")
        elif kept in self.screen_stack:
            # Under the view on top (a view opened from Help over it): a one-off copy.
            screen = build()
        else:
            screen = kept
        if type(self.screen) is type(screen):
            return
        if len(self.screen_stack) > 1 and not self.screen.is_modal and not over:
            self.switch_screen(screen)
        else:
            self.push_screen(screen)
        if screen.is_mounted:
            screen.reopen()

    def action_models(self) -> None:
        """Open the model picker."""
        from screens.models import ModelPickerScreen

        self.open_view(ModelPickerScreen, lambda: ModelPickerScreen(self.ctx))

    def action_presets(self) -> None:
        """Open the presets."""
        from screens.presets import PresetsScreen

        self.open_view(PresetsScreen, lambda: PresetsScreen(self.ctx))

    def action_history(self) -> None:
        """Open the conversation history."""
        from screens.history import HistoryScreen

        self.open_view(HistoryScreen, lambda: HistoryScreen(self.ctx))

    def action_debug(self) -> None:
        """Open the debug log."""
        from screens.debug import DebugScreen

        self.open_view(DebugScreen, lambda: DebugScreen(self.ctx))

    def action_stats(self) -> None:
        """Open the stats."""
        from screens.stats import StatsScreen

        self.open_view(StatsScreen, lambda: StatsScreen(self.ctx, self.activity))

    def action_usage(self) -> None:
        """Open the usage charts."""
        from screens.usage import UsageScreen

        self.open_view(UsageScreen, lambda: UsageScreen(self.ctx))

    def action_help(self) -> None:
        """Open the help over the current screen: its keys first, then the app's."""
        from screens.help import HelpScreen, from_bindings, screen_keys, screen_title

        screen = self.screen
        if isinstance(screen, HelpScreen):
            return
        title, here = screen_title(screen), screen_keys(screen)
        everywhere = from_bindings(self.BINDINGS)
        self.open_view(
            (HelpScreen, title, tuple(here)),
            lambda: HelpScreen(self.ctx, title, here, everywhere),
            over=True,
        )

    def action_detail(self, request_id: str | None = None) -> None:
        """Open a request's detail (the selected one by default)."""
        from screens.detail import DetailScreen

        if self.stopping:
            return
        request_id = request_id or self.main_screen.query_one("#requests", RequestLog).selected_id
        record = self.store.get(request_id) if request_id else None
        if record is None:
            self.notify("No request selected.", severity="warning")
            return
        self.push_screen(DetailScreen(self.ctx, record))

    def action_test_config(self) -> None:
        """Probe the big and small model through the proxy."""
        from screens.config_test import ConfigTestScreen

        if self.stopping:
            return
        if self.state != READY:
            what = (
                "Not connected to the proxy."
                if self.backend.attached
                else "The proxy is not running."
            )
            self.notify(what, severity="error")
            return
        self.push_screen(ConfigTestScreen(self.backend))

    def action_keys(self) -> None:
        """Enter provider keys."""
        from screens.keys import KeysScreen

        if self.stopping:
            return
        if self.backend.attached:
            self.notify(
                f"Unavailable in attach mode: keys live with the proxy at {self.backend.url}. "
                "Set them in its .env or environment and restart it.",
                title="keys",
                severity="warning",
            )
            return
        if not isinstance(self.screen, KeysScreen):
            self.push_screen(KeysScreen(self.backend))

    def action_copy_connect(self) -> None:
        """Copy the Claude Code command (OSC 52) and say so."""
        command = self.status.connect_command
        if not command:
            self.notify("The proxy is not listening yet.", severity="warning")
            return
        self.copy_connect(command)

    @work(exclusive=True, group="clipboard", exit_on_error=False)
    async def copy_connect(self, command: str) -> None:
        """Copy where it can be confirmed; else OSC 52, saying it may not have worked."""
        copied = await asyncio.to_thread(copy_text, command)
        if copied.where is None:
            self.copy_to_clipboard(command)
            self.notify(f"{command}\n{copied.message}", title="copy?", severity="warning")
        else:
            self.notify(f"{command}\n{copied.message}", title="copied")

    def action_toggle_theme(self) -> None:
        """Dark <-> light."""
        self.theme = "textual-light" if self.theme == "textual-dark" else "textual-dark"

    def action_apply_preset(self, number: int) -> None:
        """Apply the preset at position `number` in the presets list."""
        self.apply_preset(number=number)

    @work(exclusive=True, group="switch", exit_on_error=False)
    async def apply_preset(self, number: int | None = None, name: str | None = None) -> None:
        """Switch to a preset by list position or name, then confirm on screen."""
        if name is None:
            presets = await self.backend.presets()
            if number is None or not 1 <= number <= len(presets):
                self.notify(f"There is no preset {number}.", severity="warning")
                return
            name = presets[number - 1].name
        pair = await self.backend.switch_model(preset=name)
        self.refresh_status()
        self.notify(f"big {pair.big} · small {pair.small}", title=f"preset {name}")

    @work(exclusive=True, group="switch", exit_on_error=False)
    async def action_default_models(self) -> None:
        """Back to the models configured in .env (BIG_MODEL/SMALL_MODEL), remembered as such."""
        pair = await self.backend.switch_model(default=True)
        self.refresh_status()
        self.notify(f"big {pair.big} · small {pair.small}", title="default (.env)")

    @work(exclusive=True, group="switch", exit_on_error=False)
    async def assign_model(self, tier: str, model: str) -> None:
        """Make `model` the big or the small model."""
        if tier == "big":
            pair = await self.backend.switch_model(big=model)
        else:
            pair = await self.backend.switch_model(small=model)
        self.refresh_status()
        self.notify(f"big {pair.big} · small {pair.small}", title=f"{tier} model set")

    # Command palette --------------------------------------------------------------------------
    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        """Every action of the app, searchable in the palette (ctrl+p)."""
        for command in super().get_system_commands(screen):
            # Textual's "Keys" panel: the Help view lists every key of the screen instead.
            if command.title != "Keys":
                yield command
        actions: set[str] = set()
        for binding in self.BINDINGS:
            assert isinstance(binding, Binding)
            if binding.action.startswith(("quit", "apply_preset")) or binding.action in actions:
                continue
            if binding.action == "ctrl_c":
                yield SystemCommand(binding.description, "Quit at once", self.quit_now)
                continue
            actions.add(binding.action)
            yield SystemCommand(
                PALETTE_TITLES.get(binding.id or "", binding.description),
                binding.tooltip,
                getattr(self, f"action_{binding.action}"),
            )
        yield SystemCommand("Request detail", "Open the selected request", self.action_detail)
