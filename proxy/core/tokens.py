"""Token estimates (cheap, for message_start) and counts (LiteLLM's counter, for count_tokens)."""

from __future__ import annotations

from typing import Any

import orjson

from proxy.core.tools_cache import tools_json_size

IMAGE_TOKENS = 1600  # Anthropic's rule of thumb for a ~1 megapixel image
CHARS_PER_TOKEN = 4


TEXT_KEYS = ("text", "thinking", "content", "input")
MEDIA = ("image", "document")


def _text_chars(value: Any) -> int:
    # Runs over every block of every request: loops and direct key lookups, no generators.
    if isinstance(value, str):
        return len(value)
    if isinstance(value, list):
        total = 0
        for item in value:
            total += _text_chars(item)
        return total
    if isinstance(value, dict):
        if value.get("type") in MEDIA and isinstance(value.get("source"), dict):
            return IMAGE_TOKENS * CHARS_PER_TOKEN
        total = 0
        for key in TEXT_KEYS:
            if key in value:
                item = value[key]
                total += len(orjson.dumps(item)) if isinstance(item, dict) else _text_chars(item)
        return total
    return 0


text_chars = _text_chars
"""The characters `estimate_input_tokens` counts for one value (a block, a message, a list)."""


def estimate_input_tokens(body: dict[str, Any]) -> int:
    """A fast estimate of a request's input tokens (about 4 characters a token)."""
    chars = _text_chars(body.get("system")) + _text_chars(body.get("messages"))
    return tokens_from_chars(chars, body.get("tools"))


def tokens_from_chars(chars: int, tools: Any) -> int:
    """`estimate_input_tokens` of a body whose system and messages count `chars` characters."""
    if tools:
        known = tools_json_size(tools)
        chars += known if known is not None else len(orjson.dumps(tools))
    return max(1, chars // CHARS_PER_TOKEN)


def tokens_if_cheap(chars: int | None, tools: Any) -> int | None:
    """`tokens_from_chars` when the tools' size is known without serialising them, else None."""
    if chars is None:
        return None
    if not tools:
        return max(1, chars // CHARS_PER_TOKEN)
    known = tools_json_size(tools)
    return None if known is None else max(1, (chars + known) // CHARS_PER_TOKEN)


MIN_MEDIA_BYTES = 28
"""The shortest JSON an image or document block can be sent as: `{"type":"image","source":{}}`."""
CHARS_PER_BYTE = 5 + IMAGE_TOKENS * CHARS_PER_TOKEN // MIN_MEDIA_BYTES + 1
"""At most this many characters counted per byte of a body: one per byte of text, five per byte
of a value re-serialised for its size (orjson writes `1e15` as `1000000000000000.0`), and a
media block's fixed count over its shortest form."""


def tokens_bound(size: int) -> int:
    """At least `estimate_input_tokens` of any body sent as `size` bytes of JSON (no walk)."""
    return max(1, size * CHARS_PER_BYTE // CHARS_PER_TOKEN)


def count_openai_tokens(
    litellm: Any, model: str, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None
) -> int:
    """Count the tokens of translated OpenAI messages and tools with LiteLLM's counter."""
    try:
        return int(
            litellm.token_counter(
                model=model,
                messages=messages,
                tools=tools or None,
                use_default_image_token_count=True,
            )
        )
    except Exception:
        # The counter chokes on some exotic parts; an estimate beats a failed /context.
        text = orjson.dumps({"m": messages, "t": tools or []})
        return max(1, len(text) // CHARS_PER_TOKEN)
