"""The management service: the one owner of the proxy's live state.

Models, presets, history, debug log and stats live here, on the proxy's event loop. The HTTP
routes and the TUI both call it; the UI calls the coroutines with `run_coroutine_threadsafe`.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from proxy.core import lazy_litellm, logs
from proxy.core.errors import ProxyError, mask_key
from proxy.core.paths import confined_path, data_dir
from proxy.core.redact import Redactor
from proxy.core.settings import Settings
from proxy.core.user_state import STATE_FILE, UserState, config_dir
from proxy.routing import model_map as routing
from proxy.routing.model_map import ModelPair, Target
from proxy.routing.route import Routed, route_request
from proxy.routing.rules import Rule, parse_rule
from proxy.state import model_list
from proxy.state.debug_log import DebugLog
from proxy.state.events import (
    LIFECYCLE,
    MODEL_SWITCHED,
    EventBus,
    ProxyEvent,
)
from proxy.state.history import (
    ConversationHistory,
    HistoryFileError,
    read_history_file,
    validate_export,
)
from proxy.state.history_store import HistoryStore
from proxy.state.latency import LatencyHistograms
from proxy.state.ledger import RequestLedger
from proxy.state.presets import (
    NAME_PATTERN,
    Preset,
    PresetFileError,
    PresetStore,
    user_presets_path,
)
from proxy.state.recorder import Recording, store_path
from proxy.state.remembered import MODELS_KEY, default_pair, remembered_pair, to_remember
from proxy.state.session_models import SessionModels
from proxy.state.stats import TOTALS, Stats
from proxy.state.tool_memory import ToolMemory
from proxy.translate.validate import check_model_string

log = logging.getLogger(__name__)


MAX_SESSION_PINS = 1000


class ProxyService:
    """Owns the active model pair, presets, history, debug log, stats and the event bus."""

    def __init__(self, settings: Settings, environ: Mapping[str, str] | None = None) -> None:
        self.settings = settings
        self._keys_of: tuple[Settings, tuple[str | None, ...]] | None = None
        # Masks the configured keys in anything that leaves the proxy (events, errors, logs).
        self.redact = Redactor(self._keys)
        self._secrets_of: tuple[Settings, list[str]] | None = None
        self.bus = EventBus(secrets=self._secrets)
        self.pair = default_pair(settings)
        self.started_at = time.time()
        # Sent upstream as a header: seeing it come back means requests are looping.
        self.instance_id = secrets.token_hex(8)
        self.presets = PresetStore(user_presets_path(settings, environ))
        self.history = ConversationHistory(
            settings.conversation_limit, secrets=self._keys, max_file_bytes=settings.max_file_bytes
        )
        # Files named over HTTP (and remembered in state.json) must be inside this folder.
        self.data_dir = data_dir(environ, settings.data_dir)
        self.debug = DebugLog(settings.debug_log_limit, secrets=self._keys)
        self.stats = Stats()
        self.tool_memory = ToolMemory()
        """Tool ids, upstream ids and thought signatures of recent answers (second source)."""
        self.counters = self.stats.counters
        """Request counters since start; the Stats own them (fed by the bus)."""
        self.session_pins: dict[str, str] = {}
        self.session_models = SessionModels()
        """Each session's newest main request's routing (for the status line)."""
        logs.add_redactor(self.redact)
        lazy_litellm.on_failure(self._litellm_failed)
        self.latency = LatencyHistograms()
        """Duration and TTFT histograms since start, by provider and model (for /metrics)."""
        self.ledger = RequestLedger(
            self.stats, self.latency, self.session_models, self.history, self.debug
        )
        """The one lifecycle subscriber: stats, histograms, session models, history, debug log."""
        self.bus.subscribe(self.ledger.on_event, kinds=LIFECYCLE)
        self.bus.subscribe(self.debug.on_event, kinds=(MODEL_SWITCHED,))
        self.recording = Recording(settings, store_path(settings, environ), self.bus, self.redact)
        """The durable record (store writer and reader): started and stopped with the server."""
        self.history_store = HistoryStore(self.history, self.recording)
        """The history as the API reads it: from the store, memory as the fallback."""
        # Remembers the history file that persistence was enabled for, across restarts.
        self.user_state = UserState(config_dir(environ) / STATE_FILE)
        state = self.user_state.read()
        # The models chosen before the last exit (remembered.py says when .env wins instead).
        self.pair = remembered_pair(state.get(MODELS_KEY), settings, self.presets) or self.pair
        if settings.conversation_file:
            # The user's own setting: trusted, like any path in .env.
            self._attach_at_start(Path(settings.conversation_file).expanduser())
        else:
            remembered = state.get("conversation_file")
            if isinstance(remembered, str) and remembered:
                self._attach_remembered(remembered)

    def _attach_remembered(self, remembered: str) -> None:
        # state.json may have been written by an older version, or edited: the rule again.
        try:
            path = confined_path(remembered, self.data_dir)
        except ProxyError as exc:
            self.history.last_error = f"remembered history file refused: {exc.message}"
            log.error(
                "conversation history: not loading %r remembered in %s: %s",
                remembered,
                self.user_state.path,
                exc.message,
            )
            return
        self._attach_at_start(path)

    def _litellm_failed(self, message: str) -> None:
        # Logged by lazy_litellm; the debug log is where the TUI and /debug_logs show it.
        self.debug.add("error", message, {"component": "litellm"})

    def _secrets(self) -> list[str]:
        # The bus asks on every event: the same settings object has the same keys.
        s = self.settings
        cached = self._secrets_of
        if cached is not None and cached[0] is s:
            return cached[1]
        secrets = self.redact.secrets
        self._secrets_of = (s, secrets)
        return secrets

    def _keys(self) -> tuple[str | None, ...]:
        # Read from the current settings: the TUI may swap them to add a key while we run.
        # Settings are frozen, so the same object has the same keys (read on every event).
        s = self.settings
        cached = self._keys_of
        if cached is not None and cached[0] is s:
            return cached[1]
        keys = (s.openai_api_key, s.gemini_api_key, s.anthropic_api_key, s.proxy_api_key)
        self._keys_of = (s, keys)
        return keys

    def _attach_at_start(self, path: Path) -> None:
        try:
            records = read_history_file(path, self.settings.max_file_bytes)
            loaded = self.history.attach(path, records)
        except HistoryFileError as exc:
            # A damaged file must not stop the proxy, nor be overwritten: persistence stays off.
            self.history.last_error = str(exc)
            log.error("conversation history not loaded: %s", exc)
            return
        # Into the store when it opens (a file from an older version is imported once: turns
        # already stored are skipped each start).
        self.history_store.pending_import = records
        log.info("conversation history: %d messages loaded from %s", loaded, path)

    # -- models ---------------------------------------------------------------------------------

    def resolve(self, requested: str) -> Target:
        """Map a requested model id with the pair in force right now."""
        return routing.resolve(requested, self.pair, self.settings)

    def route(
        self,
        body: dict[str, Any],
        session_id: str | None,
        body_bytes: int | None = None,
        text_chars: int | None = None,
    ) -> Routed:
        """Full routing of a request: session pin, subagent marker, preset rules, big/small."""
        pair = self.pair
        pinned = self.session_pins.get(session_id) if session_id else None
        preset = self.presets.get(pair.preset) if pair.preset else None
        return route_request(
            body, session_id, pair, pinned, preset, self.settings, body_bytes, text_chars
        )

    def tool_call_recovery(self) -> bool:
        """Whether tool-call recovery is on now: the active preset's choice, else the setting."""
        preset = self.presets.get(self.pair.preset) if self.pair.preset else None
        if preset is not None and preset.tool_call_recovery is not None:
            return preset.tool_call_recovery
        return self.settings.tool_call_recovery

    async def pin_session(self, session_id: str, model: str | None) -> dict[str, str]:
        """Pin a model for one Claude Code session (None removes the pin); returns all pins."""
        if model is None:
            self.session_pins.pop(session_id, None)
        else:
            self.session_pins[session_id] = self._model_string(model, "model")
            while len(self.session_pins) > MAX_SESSION_PINS:
                self.session_pins.pop(next(iter(self.session_pins)))
        return dict(self.session_pins)

    def switch(
        self, big: str | None = None, small: str | None = None, preset: str | None = None
    ) -> ModelPair:
        """Replace the model pair in one assignment (requests in flight keep their target)."""
        return self._apply(
            ModelPair(
                big=big if big is not None else self.pair.big,
                small=small if small is not None else self.pair.small,
                preset=preset,
            ),
            preserve_conversation=True,
        )

    def _apply(self, new: ModelPair, preserve_conversation: bool) -> ModelPair:
        old = self.pair
        # One assignment: a request resolving now sees the old pair or the new one, never a mix.
        self.pair = new
        if routing.needs_litellm(new, self.settings):
            lazy_litellm.start_import()
        if not preserve_conversation:
            self.history.clear()
        self.bus.publish(
            ProxyEvent(
                MODEL_SWITCHED,
                "",
                {"old": old, "new": new, "preserve_conversation": preserve_conversation},
            )
        )
        return new

    def _model_string(self, value: Any, field: str) -> str:
        if not isinstance(value, str) or not value.strip():
            raise ProxyError(
                400, "invalid_request_error", f"{field}: must be a non-empty model string"
            )
        check_model_string(value, field)
        try:
            return routing.normalise_model_string(
                value, self.settings.preferred_provider, strict=True
            )
        except routing.ModelStringError as exc:
            raise ProxyError(400, "invalid_request_error", f"{field}: {exc}") from None

    def _rules(self, raw: Any) -> tuple[Rule, ...]:
        if raw is None:
            return ()
        if not isinstance(raw, list):
            raise ProxyError(400, "invalid_request_error", "rules: must be a list of rules")
        out = []
        for position, item in enumerate(raw):
            try:
                rule = parse_rule(item)
            except ValueError as exc:
                raise ProxyError(400, "invalid_request_error", f"rules.{position}: {exc}") from None
            model = self._model_string(rule.model, f"rules.{position}.model")
            out.append(Rule(rule.when, model, rule.threshold))
        return tuple(out)

    def _preset(self, name: str) -> Preset:
        preset = self.presets.get(name)
        if preset is None:
            raise ProxyError(
                404,
                "not_found_error",
                f"unknown preset {name!r}; presets: {', '.join(self.presets.names())}",
            )
        return preset

    async def switch_model(
        self,
        *,
        preset: str | None = None,
        big: str | None = None,
        small: str | None = None,
        preserve_conversation: bool = True,
        default: bool = False,
    ) -> ModelPair:
        """Switch to a preset, to explicit models (either one alone is fine) or back to the .env
        `default`; validated first, remembered for the next start."""
        if preset is not None and (big is not None or small is not None):
            raise ProxyError(
                400,
                "invalid_request_error",
                "give either preset or big_model/small_model, not both",
            )
        if default and (preset is not None or big is not None or small is not None):
            raise ProxyError(
                400,
                "invalid_request_error",
                "default: true goes back to the .env models; give no preset or models with it",
            )
        if default:
            new = default_pair(self.settings)
        elif preset is not None:
            chosen = self._preset(preset)
            new = ModelPair(big=chosen.big, small=chosen.small, preset=chosen.name)
        elif big is None and small is None:
            raise ProxyError(
                400, "invalid_request_error", "preset, big_model or small_model: one is required"
            )
        else:
            new = ModelPair(
                big=self._model_string(big, "big_model") if big is not None else self.pair.big,
                small=self._model_string(small, "small_model")
                if small is not None
                else self.pair.small,
            )
        self._apply(new, preserve_conversation)
        await self._remember_models(new)
        return new

    async def _remember_models(self, pair: ModelPair) -> None:
        try:
            value = to_remember(pair, self.settings)
            await asyncio.to_thread(self.user_state.update, **{MODELS_KEY: value})
        except OSError as exc:
            # The switch holds for this run; only the next start will not know about it.
            log.warning("cannot remember the models in %s: %s", self.user_state.path, exc)

    # -- presets --------------------------------------------------------------------------------

    async def save_preset(
        self,
        name: str,
        big: str,
        small: str,
        description: str = "",
        rules: list[Any] | None = None,
        tool_call_recovery: bool | None = None,
    ) -> Preset:
        """Save a user preset (models and routing rules validated) to the user presets file."""
        if not isinstance(name, str) or not NAME_PATTERN.match(name):
            raise ProxyError(
                400,
                "invalid_request_error",
                "name: 1-64 characters of letters, digits, '_', '-' or '.'",
            )
        if not isinstance(description, str):
            raise ProxyError(400, "invalid_request_error", "description: must be a string")
        if tool_call_recovery is not None and not isinstance(tool_call_recovery, bool):
            raise ProxyError(
                400, "invalid_request_error", "tool_call_recovery: must be true, false or null"
            )
        preset = Preset(
            name=name,
            big=self._model_string(big, "big_model"),
            small=self._model_string(small, "small_model"),
            description=description.strip(),
            builtin=False,
            rules=self._rules(rules),
            tool_call_recovery=tool_call_recovery,
        )
        with self._preset_write_errors():
            return await self.presets.save(preset)

    async def delete_preset(self, name: str) -> None:
        """Delete a user preset (a built-in shadowed by it comes back)."""
        if not self.presets.has_user(name):
            if self.presets.is_builtin(name):
                raise ProxyError(
                    400,
                    "invalid_request_error",
                    f"{name!r} is a built-in preset and cannot be deleted",
                )
            self._preset(name)  # raises the 404 listing presets
        with self._preset_write_errors():
            try:
                await self.presets.delete(name)
            except KeyError:
                self._preset(name)

    @contextmanager
    def _preset_write_errors(self) -> Iterator[None]:
        """A broken user file is a 409, a failed write a 500 naming the file."""
        try:
            yield
        except PresetFileError as exc:
            raise ProxyError(409, "invalid_request_error", str(exc)) from None
        except OSError as exc:
            raise ProxyError(
                500, "api_error", f"cannot write {self.presets.user_path}: {exc}"
            ) from None

    # -- history --------------------------------------------------------------------------------

    async def clear_history(self) -> int:
        """Forget the recorded conversation (store, memory, export file); returns how many turns."""
        return await self.history_store.clear()

    async def enable_persistence(self, path: str) -> dict[str, Any]:
        """Keep `path` in the data folder up to date as an export of the newest turns, after
        importing what it holds (turns already recorded are skipped); returns the status.

        `path` is a file name or a path inside the data folder (`confined_path`): it may come
        from any HTTP client, and a file the proxy writes must never land in a dotfile.
        """
        if not isinstance(path, str) or not path.strip():
            raise ProxyError(400, "invalid_request_error", "file_path: must be a non-empty string")
        # Disk work off the loop: streams keep flowing while a large file is read.
        target = await asyncio.to_thread(confined_path, path, self.data_dir)
        try:
            records = await asyncio.to_thread(
                read_history_file, target, self.settings.max_file_bytes
            )
        except HistoryFileError as exc:
            error_type = "request_too_large" if exc.status == 413 else "invalid_request_error"
            raise ProxyError(exc.status, error_type, f"file_path: {exc}") from None
        loaded = self.history.attach(target, records)
        stored = await self.history_store.store_import(records)
        await self.history.save()
        if self.history.last_error:
            message = self.history.last_error
            self.history.detach()
            raise ProxyError(400, "invalid_request_error", f"file_path: {message}")
        await self._remember_file(str(target))
        status = await self.history_store.status()
        return {**status, "loaded": loaded if stored is None else stored}

    async def _remember_file(self, path: str | None) -> None:
        try:
            await asyncio.to_thread(self.user_state.update, conversation_file=path)
        except OSError as exc:
            # Persistence works for this run; only the next start will not know about it.
            log.warning("cannot remember the history file in %s: %s", self.user_state.path, exc)

    async def disable_persistence(self) -> dict[str, Any]:
        """Stop keeping the export file (the file stays, the store keeps every turn)."""
        await self.history.flush()
        self.history.detach()
        await self._remember_file(None)
        return await self.history_store.status()

    async def export_history(self, fmt: str = "json") -> str:
        """Every recorded turn as JSON text (importable) or Markdown."""
        if fmt not in ("json", "markdown"):
            raise ProxyError(
                400, "invalid_request_error", f"format: {fmt!r} is not one of json, markdown"
            )
        return await self.history_store.export(fmt)

    async def import_history(self, data: dict[str, Any]) -> int:
        """Add the messages of a JSON export (validated); returns how many were new."""
        try:
            records = validate_export(data)
        except HistoryFileError as exc:
            raise ProxyError(400, "invalid_request_error", str(exc)) from None
        return await self.history_store.import_records(records)

    # -- snapshots ------------------------------------------------------------------------------

    def _model_info(self, model: str | None) -> dict[str, Any]:
        if model is None:
            return {"model": None, "provider": "anthropic", "passthrough": True}
        provider, _ = routing.parse_model_string(model, self.settings.preferred_provider)
        return {"model": model, "provider": provider, "passthrough": False}

    def config_snapshot(self) -> dict[str, Any]:
        """What GET /config returns: models, preset, providers, keys (masked), history, counters."""
        s = self.settings
        pair = self.pair
        key_status = model_list.key_status(s)
        keys = {
            status["key_var"]: {
                "set": status["key_configured"],
                "masked": mask_key(getattr(s, routing.KEY_VARS[provider][1])),
            }
            for provider, status in key_status.items()
        }
        return {
            "big_model": self._model_info(pair.big),
            "small_model": self._model_info(pair.small),
            "active_preset": pair.preset,
            "models_from_env": pair.from_env,
            "preferred_provider": s.preferred_provider,
            "upstream_engine": s.upstream_engine,
            "upstream_bases": s.upstream_bases(),
            "keys": keys,
            "listen": {"host": s.host, "port": s.port},
            "proxy_auth": bool(s.proxy_api_key),
            "forward_client_key": s.forward_client_key,
            "conversation": self.history.status(),
            "presets_file": str(self.presets.user_path),
            "presets_error": self.presets.error,
            "debug_log_limit": s.debug_log_limit,
            "uptime_seconds": round(time.time() - self.started_at, 3),
            "counters": {
                "total": self.counters.total,
                "in_flight": self.counters.in_flight,
                "errors": self.counters.errors,
            },
            "totals": self.totals(),
            "recording": self.recording.status(),
            "usable_providers": [
                provider for provider, status in key_status.items() if status["key_usable"]
            ],
        }

    def totals(self) -> dict[str, Any]:
        """The numbers a TUI's header shows: request counters, tokens and cost since start
        (in /config, and in every request event of /events, so an attached TUI shows these)."""
        return self.totals_from(self.totals_parts())

    def totals_parts(self) -> tuple[int, int, int, int, float]:
        """`totals` as a tuple, taken now and made a dict later (`totals_from`): /events keeps
        these while nobody watches."""
        return TOTALS(self.counters)

    @staticmethod
    def totals_from(parts: tuple[Any, ...]) -> dict[str, Any]:
        """The `totals` dict of a `totals_parts` tuple."""
        total, in_flight, errors, tokens, cost = parts
        return {
            "total": total,
            "in_flight": in_flight,
            "errors": errors,
            "tokens": tokens,
            "cost": round(cost, 6),
        }

    def model_list(self) -> dict[str, Any]:
        """What GET /models returns."""
        extra = [self.pair.big, self.pair.small, self.settings.big_model, self.settings.small_model]
        return model_list.build(self.settings, self.presets.list(), extra)
