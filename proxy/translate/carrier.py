"""Provider metadata that must come back on the next turn, carried by the client itself.

Some upstreams hand out opaque state the next request must return: Gemini's thought signatures
(on function calls), OpenRouter's `reasoning_details` (signed or encrypted reasoning), Mistral's
thinking parts. Claude Code sends every thinking block back verbatim, signature included, so the
proxy puts that state in the `signature` of a thinking block it emits (or the `data` of a
redacted_thinking block): `claude-proxy.c1.<base64url JSON>`. The JSON names the upstream it
came from (`o`), so it only ever goes back to that same upstream; anything else drops it, and
an Anthropic upstream gets only signatures Anthropic made (`anthropic_original`).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import orjson

from proxy.routing.model_map import Target

SIGNATURE_PREFIX = "claude-proxy."
CARRIER_PREFIX = SIGNATURE_PREFIX + "c1."
ANTHROPIC_FORMAT = "anthropic-claude-v1"
"""OpenRouter's `format` for reasoning an Anthropic model signed (Anthropic can take it back)."""


def is_proxy_signature(signature: object) -> bool:
    """True for signatures (or redacted data) this proxy made: Anthropic would reject them."""
    return isinstance(signature, str) and signature.startswith(SIGNATURE_PREFIX)


def origin_of(target: Target) -> str:
    """A short fingerprint of an upstream: transport, provider and base URL (not the model,
    so a switch between two models of one provider keeps the state)."""
    return _fingerprint(f"{target.transport}|{target.provider}|{target.api_base or ''}")


@lru_cache(maxsize=256)
def _fingerprint(key: str) -> str:
    # Asked twice per request of the same few upstreams: hash each once.
    return hashlib.sha256(key.encode()).hexdigest()[:10]


def pack(payload: dict[str, Any]) -> str:
    """A carrier signature holding `payload`."""
    raw = base64.urlsafe_b64encode(orjson.dumps(payload)).rstrip(b"=")
    return CARRIER_PREFIX + raw.decode()


def unpack(signature: object) -> dict[str, Any] | None:
    """The payload of a carrier signature, or None for anything else (or a damaged one)."""
    if not isinstance(signature, str) or not signature.startswith(CARRIER_PREFIX):
        return None
    raw = signature[len(CARRIER_PREFIX) :]
    try:
        payload = orjson.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    except (ValueError, orjson.JSONDecodeError):
        return None
    return payload if isinstance(payload, dict) else None


def anthropic_original(block: dict[str, Any]) -> dict[str, Any] | None:
    """The block as Anthropic signed it, when the carrier holds an Anthropic signature
    (Claude through OpenRouter); None when Anthropic would not take it back."""
    kind = block.get("type")
    payload = unpack(block.get("signature") if kind == "thinking" else block.get("data"))
    if payload is None:
        return None
    for entry in payload.get("rd") or ():
        if not isinstance(entry, dict) or entry.get("format") != ANTHROPIC_FORMAT:
            continue
        if kind == "thinking" and isinstance(entry.get("signature"), str) and entry["signature"]:
            return {"type": "thinking", "thinking": block.get("thinking", ""), **_sig(entry)}
        if kind == "redacted_thinking" and isinstance(entry.get("data"), str):
            return {"type": "redacted_thinking", "data": entry["data"]}
    return None


def _sig(entry: dict[str, Any]) -> dict[str, str]:
    return {"signature": entry["signature"]}


Recall = Callable[[str], "Remembered | None"]


@dataclass(frozen=True, slots=True)
class Remembered:
    """What the proxy's memory holds about one tool call it answered."""

    origin: str
    upstream_id: str | None
    signature: str | None


@dataclass(frozen=True, slots=True)
class ReturnPath:
    """Where this request's history goes: the upstream (to match carriers), its transport
    (which decides the shape state goes back in) and the memory of earlier answers."""

    origin: str
    transport: str
    recall: Recall | None = None

    def remembered(self, tool_id: str) -> Remembered | None:
        """The memory's entry for a tool id, when it came from this same upstream."""
        found = self.recall(tool_id) if self.recall is not None else None
        return found if found is not None and found.origin == self.origin else None


def return_path(target: Target, recall: Recall | None = None) -> ReturnPath:
    """The ReturnPath of a routed target."""
    return ReturnPath(origin_of(target), target.transport, recall)
