"""The Textual app that is also the proxy: starts it, drains its events, routes actions."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen
from textual.signal import Signal
from textual.worker import Worker, WorkerState

from app.backend import LocalBackend
from app.bridge import Activity, EventSink, Frame
from app.commands import ModelCommands, PresetCommands
from app.requests import RequestStore
from app.status import ERROR, READY, STARTING, STOPPING, Status
from proxy.routing import KEY_VARS
from proxy.runner import PortInUseError, ProxyThread
from proxy.settings import Settings
from screens.main import MainScreen

STYLES = Path(__file__).resolve().parent.parent / "styles"
FPS = 25


def _b(key: str, action: str, description: str, tooltip: str, show: bool = True) -> Binding:
    return Binding(key, action, description, show=show, id=action.split("(")[0], tooltip=tooltip)


def has_provider_key(settings: Settings) -> bool:
    """True when any provider can be reached (a key, or a keyless OpenAI-compatible base)."""
    return bool(
        settings.openai_api_key
        or settings.gemini_api_key
        or settings.anthropic_api_key
        or settings.openai_api_base
        or settings.forward_client_key
    )


def missing_key(model: str | None, settings: Settings) -> str | None:
    """The variable to set when `model`'s provider has no key (None when it can be reached)."""
    provider = (
        model.split("/", 1)[0] if model and "/" in model else "anthropic" if not model else ""
    )
    if provider not in KEY_VARS:
        return None
    var, attr = KEY_VARS[provider]
    if getattr(settings, attr):
        return None
    if provider == "openai" and settings.openai_api_base:
        return None
    if provider == "anthropic" and settings.forward_client_key:
        return None
    return var


class ProxyApp(App[int]):
    """claude-proxy: the proxy on its own thread, watched and steered from here."""

    TITLE = "claude-proxy"
    CSS_PATH = [
        STYLES / name for name in ("global.tcss", "main.tcss", "views.tcss", "dialogs.tcss")
    ]
    COMMANDS = App.COMMANDS | {PresetCommands, ModelCommands}
    BINDINGS = [
        _b("m", "models", "Models", "Search the model catalogue; assign big/small"),
        _b("p", "presets", "Presets", "Apply or save model presets"),
        _b("h", "history", "History", "Conversation history by session"),
        _b("d", "debug", "Debug", "The debug log, filterable by type"),
        _b("s", "stats", "Stats", "Per-model tokens, cost and latency"),
        _b("t", "test_config", "Test", "Send a tiny probe to the big and small model"),
        _b("k", "keys", "Keys", "Enter provider API keys (saved to .env)", show=False),
        _b(
            "c", "copy_connect", "Copy", "Copy the command that points Claude Code here", show=False
        ),
        _b("question_mark", "help", "Help", "All keys and what they do"),
        _b("q", "quit", "Quit", "Stop the proxy (releasing the port) and exit"),
        _b("ctrl+t", "toggle_theme", "Light/dark", "Switch between dark and light", show=False),
        # Not priority bindings: an Input that has focus keeps its digits.
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
        self,
        settings: Settings,
        *,
        env_file: Path = Path(".env"),
        first_run_prompt: bool = True,
        proxy: ProxyThread | None = None,
    ) -> None:
        super().__init__()
        self.settings = settings
        self.env_file = env_file
        self.first_run_prompt = first_run_prompt
        self.proxy = proxy or ProxyThread(settings)
        self.backend = LocalBackend(self.proxy)
        self.sink = EventSink()
        self.store = RequestStore()
        self.activity = Activity()
        self.state = STARTING
        self.error_message = ""
        self.tokens_total = 0
        self.cost_total = 0.0
        self.status = Status()
        self.status_signal: Signal[Status] = Signal(self, "status")
        self.frame_signal: Signal[Frame] = Signal(self, "frame")
        self._unsubscribe = self.proxy.service.bus.subscribe(self.sink)

    # Start and stop ---------------------------------------------------------------------------
    def get_default_screen(self) -> Screen[None]:
        """The request log is the home screen."""
        return MainScreen(self.store)

    def on_mount(self) -> None:
        """Start the proxy off the UI thread and the frame timer."""
        self.refresh_status()
        self.set_interval(1 / FPS, self._drain, name="drain")
        self.start_proxy()

    @work(exclusive=True, group="proxy-start", exit_on_error=False)
    async def start_proxy(self) -> None:
        """Bind the port (in a thread: start() waits for the proxy loop), then show readiness."""
        try:
            await asyncio.to_thread(self.proxy.start)
        except PortInUseError as exc:
            self._failed(exc.strerror or str(exc))
            return
        except Exception as exc:
            self._failed(f"the proxy could not start: {exc}")
            return
        self.state = READY
        self.refresh_status()
        if not has_provider_key(self.settings) and self.first_run_prompt:
            self.action_keys()

    def _failed(self, message: str) -> None:
        self.state = ERROR
        self.error_message = message
        self.refresh_status()

    @property
    def main_screen(self) -> MainScreen:
        """The home screen (always at the bottom of the stack)."""
        screen = self.screen_stack[0]
        assert isinstance(screen, MainScreen)
        return screen

    async def action_quit(self) -> None:
        """Stop the proxy (streams get a short grace, the port is released), then exit."""
        self.shutdown()

    @work(exclusive=True, group="shutdown", exit_on_error=False)
    async def shutdown(self) -> None:
        """Stop the proxy thread without blocking the UI, then exit."""
        self.state = STOPPING
        self.refresh_status()
        self._unsubscribe()
        await asyncio.to_thread(self.proxy.stop)
        code = 1 if self.error_message else 0
        self.exit(code, return_code=code)

    def on_unmount(self) -> None:
        """Safety net for exits that skipped action_quit (ctrl+c): never leave the port bound."""
        self._unsubscribe()
        self.proxy.stop()

    # Frames -----------------------------------------------------------------------------------
    def _drain(self) -> None:
        frame = self.sink.drain(self.store)
        if frame is None:
            return
        self.activity.note(frame)
        self.tokens_total += frame.tokens
        self.cost_total += frame.cost
        with self.batch_update():
            self.frame_signal.publish(frame)
            self.refresh_status()

    def refresh_status(self) -> None:
        """Rebuild the status snapshot; broadcast it only when something changed."""
        pair = self.backend.pair
        counters = self.proxy.service.counters
        status = Status(
            state=self.state,
            url=self.backend.url if self.state in (READY, STOPPING) else "",
            big=pair.big,
            small=pair.small,
            preset=pair.preset,
            in_flight=counters.in_flight,
            requests=counters.total,
            errors=counters.errors,
            tokens=self.tokens_total,
            cost=self.cost_total,
            message=self.error_message,
            no_provider_key=not has_provider_key(self.settings),
            big_key_missing=missing_key(pair.big, self.settings),
            small_key_missing=missing_key(pair.small, self.settings),
        )
        if status != self.status:
            self.status = status
            self.status_signal.publish(status)

    # Errors of every worker end up here (one place, like harlequin's handle_worker_error).
    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """Show a failed UI job as a notification instead of crashing the app."""
        if event.state == WorkerState.ERROR and event.worker.error is not None:
            error = event.worker.error
            self.notify(f"{type(error).__name__}: {error}", title="error", severity="error")

    # Navigation -------------------------------------------------------------------------------
    def open_view(self, screen: Screen[Any]) -> None:
        """Show a full-screen view over the log; from another view, replace it."""
        if type(self.screen) is type(screen):
            return
        if len(self.screen_stack) > 1 and not self.screen.is_modal:
            self.switch_screen(screen)
        else:
            self.push_screen(screen)

    def action_models(self) -> None:
        """Open the model picker."""
        from screens.models import ModelPickerScreen

        self.open_view(ModelPickerScreen(self.backend))

    def action_presets(self) -> None:
        """Open the presets."""
        from screens.presets import PresetsScreen

        self.open_view(PresetsScreen(self.backend))

    def action_history(self) -> None:
        """Open the conversation history."""
        from screens.history import HistoryScreen

        self.open_view(HistoryScreen(self.backend))

    def action_debug(self) -> None:
        """Open the debug log."""
        from screens.debug import DebugScreen

        self.open_view(DebugScreen(self.backend))

    def action_stats(self) -> None:
        """Open the stats."""
        from screens.stats import StatsScreen

        self.open_view(StatsScreen(self.backend, self.activity))

    def action_help(self) -> None:
        """Open the help screen."""
        from screens.help import HelpScreen

        self.open_view(HelpScreen())

    def action_detail(self, request_id: str | None = None) -> None:
        """Open a request's detail (the selected one by default)."""
        from screens.detail import DetailScreen

        request_id = request_id or self.main_screen.query_one("#requests").selected_id  # type: ignore[attr-defined]
        record = self.store.get(request_id) if request_id else None
        if record is None:
            self.notify("No request selected.", severity="warning")
            return
        self.push_screen(DetailScreen(record, self.backend))

    def action_test_config(self) -> None:
        """Probe the big and small model through the proxy."""
        from screens.config_test import ConfigTestScreen

        if self.state != READY:
            self.notify("The proxy is not running.", severity="error")
            return
        self.push_screen(ConfigTestScreen(self.backend))

    def action_keys(self) -> None:
        """Enter provider keys."""
        from screens.keys import KeysScreen

        if not isinstance(self.screen, KeysScreen):
            self.push_screen(KeysScreen(self.env_file))

    def action_copy_connect(self) -> None:
        """Copy the Claude Code command (OSC 52) and say so."""
        command = self.status.connect_command
        if not command:
            self.notify("The proxy is not listening yet.", severity="warning")
            return
        self.copy_to_clipboard(command)
        self.notify(command, title="copied to the clipboard")

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
        yield from super().get_system_commands(screen)
        for binding in self.BINDINGS:
            assert isinstance(binding, Binding)
            if binding.action.startswith(("quit", "apply_preset")):
                continue
            yield SystemCommand(
                binding.description, binding.tooltip, getattr(self, f"action_{binding.action}")
            )
        yield SystemCommand("Request detail", "Open the selected request", self.action_detail)
