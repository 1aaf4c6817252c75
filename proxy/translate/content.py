"""Anthropic content blocks -> OpenAI message parts (text, images, files)."""

from __future__ import annotations

from typing import Any

from proxy.translate.deferred import reference_text


def system_text(system: Any, drop_prefix: str | None = None) -> str:
    """A system prompt (string or text blocks) as one string, optionally dropping some blocks."""
    if isinstance(system, str):
        return system
    if not isinstance(system, list):
        return ""
    texts = []
    for block in system:
        if isinstance(block, dict) and isinstance(block.get("text"), str):
            text = block["text"]
            # Claude Code's billing header changes every request: sending it on would defeat
            # the upstream's prefix caching and means nothing to other providers.
            if drop_prefix and text.startswith(drop_prefix):
                continue
            texts.append(text)
        elif isinstance(block, str):
            texts.append(block)
    return "\n\n".join(texts)


def image_part(source: Any) -> dict[str, Any] | None:
    """An Anthropic image source (base64 or url) as an OpenAI image_url part."""
    if not isinstance(source, dict):
        return None
    kind = source.get("type")
    if kind == "base64" and isinstance(source.get("data"), str):
        media = source.get("media_type") or "image/png"
        return {"type": "image_url", "image_url": {"url": f"data:{media};base64,{source['data']}"}}
    if kind == "url" and isinstance(source.get("url"), str):
        return {"type": "image_url", "image_url": {"url": source["url"]}}
    return None


def document_part(block: dict[str, Any]) -> dict[str, Any] | None:
    """An Anthropic document block as an OpenAI file part (PDF) or text."""
    source = block.get("source")
    if not isinstance(source, dict):
        return None
    title = block.get("title")
    kind = source.get("type")
    if kind == "base64" and isinstance(source.get("data"), str):
        media = source.get("media_type") or "application/pdf"
        return {
            "type": "file",
            "file": {
                "filename": title or "document.pdf",
                "file_data": f"data:{media};base64,{source['data']}",
            },
        }
    text = None
    if kind == "text" and isinstance(source.get("data"), str):
        text = source["data"]
    elif kind == "content" and isinstance(source.get("content"), list | str):
        text = system_text(source["content"])
    elif kind == "url" and isinstance(source.get("url"), str):
        text = f"Document at {source['url']}"
    if text is None:
        return None
    if title:
        text = f"# {title}\n\n{text}"
    return {"type": "text", "text": text}


def user_part(block: dict[str, Any], notes: list[str]) -> dict[str, Any] | None:
    """One user content block as an OpenAI content part (None when it has no equivalent)."""
    kind = block.get("type")
    if kind == "text":
        text = block.get("text")
        return {"type": "text", "text": text} if isinstance(text, str) else None
    if kind == "image":
        part = image_part(block.get("source"))
        if part is None:
            notes.append("dropped an image block with an unsupported source")
        return part
    if kind == "document":
        part = document_part(block)
        if part is None:
            notes.append("dropped a document block with an unsupported source")
        return part
    if kind in ("thinking", "redacted_thinking"):
        return None
    notes.append(f"dropped a user block of type {kind!r}")
    return None


def tool_result_parts(block: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    """A tool_result's content as (text for the tool message, image parts to send after it)."""
    content = block.get("content")
    texts: list[str] = []
    images: list[dict[str, Any]] = []
    if isinstance(content, str):
        texts.append(content)
    elif isinstance(content, list):
        for item in content:
            if isinstance(item, str):
                texts.append(item)
            elif isinstance(item, dict):
                if item.get("type") == "text" and isinstance(item.get("text"), str):
                    texts.append(item["text"])
                elif item.get("type") == "image":
                    part = image_part(item.get("source"))
                    if part is not None:
                        images.append(part)
                elif item.get("type") == "tool_reference":
                    texts.append(reference_text(item))
                elif item.get("type") == "document":
                    part = document_part(item)
                    if part is not None and part["type"] == "text":
                        texts.append(part["text"])
    text = "\n".join(texts)
    if block.get("is_error") is True:
        text = f"Error: {text}" if text else "Error"
    if not text:
        text = "(image attached below)" if images else "(no output)"
    return text, images
