"""Upstream state going back on the next turn, in the shape that upstream expects.

The state comes from carriers (translate/carrier.py) in the assistant turn's thinking blocks,
or from the proxy's memory, and only ever goes to the upstream that handed it out:
- Gemini thought signatures go on their function call (LiteLLM: `provider_specific_fields`;
  Gemini's OpenAI-compatible API: `extra_content.google`);
- OpenRouter-style reasoning items go back as `reasoning_details`, each with its own text;
- Mistral thinking goes back as Mistral's own `thinking` content parts.
"""

from __future__ import annotations

from typing import Any

from proxy.translate.carrier import ReturnPath, unpack

TEXT_FIELDS = {"reasoning.text": "text", "reasoning.summary": "summary"}


class Returned:
    """What one assistant turn's thinking blocks carried for the upstream of this request."""

    def __init__(self, back: ReturnPath) -> None:
        self.back = back
        self.signatures: dict[str, str] = {}
        self.details: list[dict[str, Any]] = []
        self.parts: list[str] = []

    def read(self, block: dict[str, Any]) -> None:
        """Take the state a thinking or redacted_thinking block carries, if it is ours."""
        opaque = block.get("data") if block.get("type") == "redacted_thinking" else None
        payload = unpack(opaque or block.get("signature"))
        if payload is None or payload.get("o") != self.back.origin:
            return
        tools = payload.get("tool")
        if isinstance(tools, dict):
            self.signatures.update({k: v for k, v in tools.items() if isinstance(v, str)})
        thinking = block.get("thinking")
        text = thinking if isinstance(thinking, str) else ""
        position = 0
        for entry in payload.get("rd") or ():
            if not isinstance(entry, dict):
                continue
            item = {k: v for k, v in entry.items() if k != "_n"}
            field = TEXT_FIELDS.get(str(item.get("type")))
            length = entry.get("_n")
            if field is not None and isinstance(length, int):
                item[field] = text[position : position + length]
                position += length
            self.details.append(item)
        if payload.get("parts") and text:
            self.parts.append(text)

    def apply(self, message: dict[str, Any]) -> None:
        """Put the state on the OpenAI-style assistant message."""
        for call in message.get("tool_calls") or ():
            signature = self.signatures.get(call["id"])
            if signature is None:
                remembered = self.back.remembered(call["id"])
                signature = remembered.signature if remembered is not None else None
            if signature:
                if self.back.transport == "litellm":
                    call["provider_specific_fields"] = {"thought_signature": signature}
                else:
                    call["extra_content"] = {"google": {"thought_signature": signature}}
        if self.details:
            message["reasoning_details"] = self.details
        if self.parts:
            parts: list[dict[str, Any]] = [
                {"type": "thinking", "thinking": [{"type": "text", "text": t}]} for t in self.parts
            ]
            if message.get("content"):
                parts.append({"type": "text", "text": message["content"]})
            message["content"] = parts
