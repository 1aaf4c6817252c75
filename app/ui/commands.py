"""Command palette providers: apply a preset, or make any catalogue model big or small."""

from __future__ import annotations

from functools import partial
from typing import Any, Protocol, runtime_checkable

from textual.command import DiscoveryHit, Hit, Hits, Provider

from app.client.backend import Backend


@runtime_checkable
class PaletteHost(Protocol):
    """What the palette's providers need from the app (Textual builds them; no constructor)."""

    backend: Backend

    def apply_preset(self, number: int | None = None, name: str | None = None) -> object:
        """Switch to a preset by list position or name."""
        ...

    def assign_model(self, tier: str, model: str) -> object:
        """Make `model` the big or the small model."""
        ...


def host(provider: Provider) -> PaletteHost:
    """The provider's app, typed as what the palette uses of it."""
    app = provider.app
    assert isinstance(app, PaletteHost), "the command palette needs the ProxyApp"
    return app


class PresetCommands(Provider):
    """`preset: NAME` for every preset (fetched from the proxy when the palette opens)."""

    async def startup(self) -> None:
        """Load the presets through the backend (on the proxy loop, not here)."""
        self.presets: list[Any] = []
        try:
            self.presets = await host(self).backend.presets()
        except Exception:
            self.presets = []

    def _commands(self) -> list[tuple[str, str, Any]]:
        commands = []
        for number, preset in enumerate(self.presets, 1):
            title = f"Preset {number}: {preset.name}" if number < 10 else f"Preset: {preset.name}"
            help_text = f"big {preset.big} · small {preset.small}"
            apply = partial(host(self).apply_preset, name=preset.name)
            commands.append((title, help_text, apply))
        return commands

    async def discover(self) -> Hits:
        """Every preset, when the palette is empty."""
        for title, help_text, apply in self._commands():
            yield DiscoveryHit(title, apply, help=help_text)

    async def search(self, query: str) -> Hits:
        """Presets whose name fuzzily matches."""
        matcher = self.matcher(query)
        for title, help_text, apply in self._commands():
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), apply, help=help_text)


class ModelCommands(Provider):
    """`big: MODEL` and `small: MODEL` for every catalogue model (search only: there are many)."""

    async def startup(self) -> None:
        """Load the catalogue through the backend."""
        self.models: list[dict[str, Any]] = []
        try:
            listing = await host(self).backend.model_list()
            self.models = list(listing.get("models", []))
        except Exception:
            self.models = []

    async def search(self, query: str) -> Hits:
        """`big <model>` / `small <model>` matches."""
        matcher = self.matcher(query)
        for model in self.models:
            model_id = str(model.get("id", ""))
            for tier in ("big", "small"):
                title = f"Use as {tier}: {model_id}"
                score = matcher.match(title)
                if score > 0:
                    assign = partial(host(self).assign_model, tier, model_id)
                    help_text = f"provider {model.get('provider')}"
                    if not model.get("key_configured", True):
                        help_text += f" (no key: set {model.get('key_var')})"
                    yield Hit(score, matcher.highlight(title), assign, help=help_text)
