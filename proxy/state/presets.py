"""Model presets: the built-in seven from the repo's `presets.toml`, plus the user's own file.

User presets override built-ins of the same name. A broken file is reported (file and line) and
skipped, so the proxy always starts with at least the built-ins.
"""

from __future__ import annotations

import asyncio
import builtins
import logging
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomli_w

from proxy.core.atomic import atomic_write_bytes
from proxy.core.paths import config_dir
from proxy.core.settings import Settings
from proxy.routing import model_map as routing
from proxy.routing.rules import Rule, parse_rule

log = logging.getLogger(__name__)

BUILTIN_FILE = Path(__file__).resolve().parents[2] / "presets.toml"
NAME_PATTERN = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
USER_HEADER = (
    "# claude-proxy user presets, saved from the TUI or POST /presets (comments are not kept).\n"
    "# Each [presets.NAME] has big, small and an optional description.\n\n"
)
_FIELDS = frozenset({"big", "small", "description", "rules", "tool_call_recovery"})


@dataclass(frozen=True, slots=True)
class Preset:
    """A named big/small model pair."""

    name: str
    big: str
    small: str
    description: str = ""
    builtin: bool = False
    rules: tuple[Rule, ...] = ()
    """Routing rules, evaluated in order (first match wins) while this preset is active."""
    tool_call_recovery: bool | None = None
    """Overrides TOOL_CALL_RECOVERY while this preset is active (None: the setting decides)."""


class PresetFileError(Exception):
    """A presets file that cannot be used; the message names the file and line."""


def user_presets_path(settings: Settings, environ: Mapping[str, str] | None = None) -> Path:
    """PRESETS_FILE, else `$XDG_CONFIG_HOME/claude-proxy/presets.toml` (~/.config by default)."""
    if settings.presets_file:
        return Path(settings.presets_file).expanduser()
    return config_dir(environ) / "presets.toml"


def _line_of(text: str, name: str, key: str | None = None) -> int:
    # tomllib reports lines only for syntax errors; find the table header (and key) for the others.
    header = re.compile(
        rf"^[ \t]*\[[ \t]*presets[ \t]*\.[ \t]*\"?{re.escape(name)}\"?[ \t]*\]", re.M
    )
    match = header.search(text)
    if match is None:
        return 1
    pos = match.start()
    if key is not None:
        found = re.compile(rf"^[ \t]*{re.escape(key)}[ \t]*=", re.M).search(text, match.end())
        if found is not None:
            pos = found.start()
    return text.count("\n", 0, pos) + 1


def parse_presets(text: str, source: Path, builtin: bool) -> list[Preset]:
    """Parse a presets file's text; raises PresetFileError naming `source` and the line."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PresetFileError(f"{source}: invalid TOML: {exc}") from None
    table = data.get("presets", {})
    if not isinstance(table, dict):
        raise PresetFileError(f"{source}: line 1: `presets` must be a table of [presets.NAME]")
    presets: list[Preset] = []
    for name, entry in table.items():
        where = f"{source}: line {_line_of(text, name)}: preset {name!r}"
        if not isinstance(entry, dict):
            raise PresetFileError(f"{where}: must be a table with big and small")
        unknown = set(entry) - _FIELDS
        if unknown:
            raise PresetFileError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
        values: dict[str, str] = {}
        for key in ("big", "small"):
            value = entry.get(key)
            at = f"{source}: line {_line_of(text, name, key)}: preset {name!r}"
            if not isinstance(value, str) or not value.strip():
                raise PresetFileError(f"{at}: `{key}` must be a non-empty model string")
            try:
                routing.parse_model_string(value, "openai", strict=True)
            except routing.ModelStringError as exc:
                raise PresetFileError(f"{at}: {exc}") from None
            values[key] = value.strip()
        description = entry.get("description", "")
        if not isinstance(description, str):
            raise PresetFileError(f"{where}: `description` must be a string")
        rules = []
        for raw in entry.get("rules", []) if isinstance(entry.get("rules", []), list) else [None]:
            try:
                rule = parse_rule(raw)
                routing.parse_model_string(rule.model, "openai", strict=True)
            except (ValueError, routing.ModelStringError) as exc:
                at = f"{source}: line {_line_of(text, name, 'rules')}: preset {name!r}"
                raise PresetFileError(f"{at}: rule: {exc}") from None
            rules.append(rule)
        recovery = entry.get("tool_call_recovery")
        if recovery is not None and not isinstance(recovery, bool):
            at = f"{source}: line {_line_of(text, name, 'tool_call_recovery')}: preset {name!r}"
            raise PresetFileError(f"{at}: `tool_call_recovery` must be true or false")
        presets.append(
            Preset(
                name, values["big"], values["small"], description, builtin, tuple(rules), recovery
            )
        )
    return presets


def _read(path: Path, builtin: bool) -> list[Preset]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError) as exc:
        raise PresetFileError(f"{path}: cannot read: {exc}") from None
    return parse_presets(text, path, builtin)


def render_user_file(presets: list[Preset]) -> bytes:
    """The user presets file for `presets` (TOML via tomli-w, with a short header)."""
    table: dict[str, Any] = {}
    for p in presets:
        entry: dict[str, Any] = {"description": p.description, "big": p.big, "small": p.small}
        if p.rules:
            entry["rules"] = [rule.as_dict() for rule in p.rules]
        if p.tool_call_recovery is not None:
            entry["tool_call_recovery"] = p.tool_call_recovery
        table[p.name] = entry
    return (USER_HEADER + tomli_w.dumps({"presets": table})).encode("utf-8")


class PresetStore:
    """Built-in and user presets in one ordered view; saves and deletes rewrite the user file."""

    def __init__(self, user_path: Path, builtin_path: Path = BUILTIN_FILE) -> None:
        self.user_path = user_path
        self.builtin_path = builtin_path
        self.errors: list[str] = []
        self._user_broken = False
        self._builtin = self._load(builtin_path, builtin=True)
        self._user = self._load(user_path, builtin=False)
        self._lock: asyncio.Lock | None = None

    def _load(self, path: Path, builtin: bool) -> dict[str, Preset]:
        try:
            return {p.name: p for p in _read(path, builtin)}
        except PresetFileError as exc:
            log.error("presets ignored: %s", exc)
            self.errors.append(str(exc))
            self._user_broken = self._user_broken or not builtin
            return {}

    @property
    def error(self) -> str | None:
        """What was wrong with the presets files at start (None when both loaded)."""
        return "; ".join(self.errors) or None

    def list(self) -> list[Preset]:
        """Built-ins in file order (replaced in place by user overrides), then user-only presets."""
        merged = [self._user.get(name, preset) for name, preset in self._builtin.items()]
        merged.extend(p for name, p in self._user.items() if name not in self._builtin)
        return merged

    def get(self, name: str) -> Preset | None:
        """The preset called `name` (a user preset wins over a built-in)."""
        return self._user.get(name) or self._builtin.get(name)

    def names(self) -> builtins.list[str]:
        """Preset names in display order."""
        return [p.name for p in self.list()]

    def is_builtin(self, name: str) -> bool:
        """True when `name` is one of the shipped presets."""
        return name in self._builtin

    def has_user(self, name: str) -> bool:
        """True when the user file defines `name`."""
        return name in self._user

    async def save(self, preset: Preset) -> Preset:
        """Add or replace a user preset and rewrite the user file atomically."""
        self._check_writable()
        async with self._write_lock():
            user = {**self._user, preset.name: preset}
            await asyncio.to_thread(
                atomic_write_bytes, self.user_path, render_user_file([*user.values()])
            )
            self._user = user
        return preset

    async def delete(self, name: str) -> None:
        """Remove a user preset (KeyError when the user file has no such preset)."""
        self._check_writable()
        async with self._write_lock():
            if name not in self._user:
                raise KeyError(name)
            user = {k: v for k, v in self._user.items() if k != name}
            await asyncio.to_thread(
                atomic_write_bytes, self.user_path, render_user_file([*user.values()])
            )
            self._user = user

    def _check_writable(self) -> None:
        # Rewriting a file we could not parse would silently throw the user's edits away.
        if self._user_broken:
            raise PresetFileError(
                f"{self.user_path} could not be read at start ({self.error}); "
                "fix or remove it before saving presets"
            )

    def _write_lock(self) -> asyncio.Lock:
        if self._lock is None:
            self._lock = asyncio.Lock()
        return self._lock
