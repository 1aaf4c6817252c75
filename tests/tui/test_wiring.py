"""Static checks of the TUI's wiring: bindings, palette, import boundary, key file writing."""

from __future__ import annotations

import importlib
import pkgutil
import stat
import subprocess
import sys
from pathlib import Path

from textual.binding import Binding
from textual.screen import Screen

import screens
from app.client.envfile import update_env_file
from app.ui.proxy_app import ProxyApp
from proxy.core.settings import read_env_file
from tests.support.tui_support import build_app, isolated_tui

__all__ = ["isolated_tui"]


def all_bindings() -> list[tuple[str, Binding]]:
    """Every Binding declared by the app, its screens and their widgets."""
    found: list[tuple[str, Binding]] = [(ProxyApp.__name__, b) for b in ProxyApp.BINDINGS]  # type: ignore[misc]
    for module in pkgutil.iter_modules(screens.__path__):
        loaded = importlib.import_module(f"screens.{module.name}")
        for value in vars(loaded).values():
            if isinstance(value, type) and value.__module__ == loaded.__name__:
                found += [(value.__name__, b) for b in vars(value).get("BINDINGS", [])]
    return found


def test_every_binding_has_an_id_and_a_tooltip() -> None:
    bindings = all_bindings()
    assert len(bindings) > 30
    for owner, binding in bindings:
        assert isinstance(binding, Binding), (owner, binding)
        assert binding.id, (owner, binding.key)
        assert binding.tooltip, (owner, binding.key)
        # Preset digits must not steal keys from a focused Input. Ctrl+C is the one exception:
        # a second one quits from anywhere (dialogs too); with a selection in a field it copies.
        assert not binding.priority or binding.id == "ctrl_c", (owner, binding.key)


def test_every_app_action_is_in_the_command_palette(tmp_path: Path) -> None:
    app = build_app(None, tmp_path)
    commands = list(app.get_system_commands(Screen()))
    titles = {command.title for command in commands}
    callbacks = {getattr(command.callback, "__name__", "") for command in commands}
    for binding in ProxyApp.BINDINGS:
        assert isinstance(binding, Binding)
        if binding.action == "ctrl_c":  # in the palette as "Quit at once"
            assert "quit_now" in callbacks
        elif not binding.action.startswith("apply_preset"):
            assert f"action_{binding.action}" in callbacks, binding.action
    assert {"Quit", "Request detail", "Theme"} <= titles


def test_proxy_never_imports_textual() -> None:
    code = (
        "import sys, proxy.server.runner, proxy.state.service, proxy.server.app, proxy.server.messages; "
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'rich')); "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_keys_go_to_env_with_mode_0600_and_other_lines_kept(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text("# mine\nPORT=9000\nOPENAI_API_KEY=old\n")
    env.chmod(0o644)
    update_env_file(env, {"OPENAI_API_KEY": "sk-new-1234567890", "GEMINI_API_KEY": "AIza x"})
    assert stat.S_IMODE(env.stat().st_mode) == 0o600
    text = env.read_text()
    assert text.startswith("# mine\nPORT=9000\nOPENAI_API_KEY=sk-new-1234567890\n")
    assert read_env_file(env) == {
        "PORT": "9000",
        "OPENAI_API_KEY": "sk-new-1234567890",
        "GEMINI_API_KEY": "AIza x",
    }
    assert [p.name for p in tmp_path.iterdir()] == [".env"]
