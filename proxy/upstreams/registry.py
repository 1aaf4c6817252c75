"""Which transport serves a target: one instance of each, chosen by the target's transport name."""

from __future__ import annotations

from proxy.routing.model_map import Target
from proxy.upstreams.anthropic import AnthropicTransport
from proxy.upstreams.litellm import LiteLLMTransport
from proxy.upstreams.openai import OpenAITransport
from proxy.upstreams.transport import Transport

ANTHROPIC = AnthropicTransport()
"""Also answers count_tokens, which only Anthropic upstreams can count exactly."""
TRANSPORTS: dict[str, Transport] = {
    "openai": OpenAITransport(),
    "anthropic": ANTHROPIC,
    "litellm": LiteLLMTransport(),
}


def transport_for(target: Target) -> Transport:
    """The transport of a routed target."""
    return TRANSPORTS[target.transport]
