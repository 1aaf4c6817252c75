"""Deferred tools (beta advanced-tool-use): what a model without Anthropic's tool search sees.

Claude Code 2.1.332 sends some tools with `defer_loading: true`: a "never call" placeholder
(DeferredToolPlaceholder) always, and each tool its ToolSearch loaded, whose tool_result names it
in a `tool_reference` block. Anthropic shows a deferred tool to the model only once a
tool_reference names it; other upstreams get the same: the loaded ones, never the placeholder,
and each tool_reference as a line of text.
"""

from __future__ import annotations

from typing import Any

from proxy.core.tools_cache import TOOLS


def _any_deferred(tools: Any) -> bool:
    return isinstance(tools, list) and any(
        isinstance(t, dict) and t.get("defer_loading") is True for t in tools
    )


def has_deferred(tools: Any) -> bool:
    """True when any tool is sent with `defer_loading: true`."""
    # Asked twice per request (translation, translator) of Claude Code's same ~27 tools.
    return TOOLS.memo(tools, "deferred", lambda: _any_deferred(tools))


def referenced_tools(messages: Any) -> set[str]:
    """Names of the tools tool_reference blocks loaded anywhere in the conversation."""
    names: set[str] = set()
    for message in messages if isinstance(messages, list) else ():
        content = message.get("content") if isinstance(message, dict) else None
        for block in content if isinstance(content, list) else ():
            if not isinstance(block, dict) or block.get("type") != "tool_result":
                continue
            inner = block.get("content")
            if not isinstance(inner, list):
                continue
            for item in inner:
                if isinstance(item, dict) and item.get("type") == "tool_reference":
                    name = item.get("tool_name")
                    if isinstance(name, str):
                        names.add(name)
    return names


def visible_tools(body: dict[str, Any], notes: list[str]) -> list[dict[str, Any]]:
    """The tools a model without tool search may see: every tool not deferred, and the deferred
    ones a tool_reference has loaded."""
    tools = body.get("tools") or []
    if not tools or not has_deferred(tools):
        # The list itself, read-only: a kept tools list (TOOLS) keeps its memoised translation.
        return tools
    loaded = referenced_tools(body.get("messages"))
    deferred = TOOLS.memo(tools, "deferred-names", lambda: _deferred_names(tools))
    for name in deferred:
        if name not in loaded:
            notes.append(f"deferred tool {name!r} not loaded yet: not offered")
    # The same list for the same loaded tools: its translation and JSON are memoised with it.
    shown = frozenset(loaded.intersection(deferred))
    return TOOLS.view(tools, ("visible", shown), lambda: _visible(tools, loaded))


def _deferred_names(tools: list[Any]) -> list[Any]:
    return [
        tool.get("name")
        for tool in tools
        if isinstance(tool, dict) and tool.get("defer_loading") is True
    ]


def _visible(tools: list[Any], loaded: set[str]) -> list[dict[str, Any]]:
    out = []
    for tool in tools:
        if isinstance(tool, dict) and tool.get("defer_loading") is True:
            if tool.get("name") not in loaded:
                continue
            tool = {k: v for k, v in tool.items() if k != "defer_loading"}
        out.append(tool)
    return out


def reference_text(item: dict[str, Any]) -> str:
    """A tool_reference block as text a model understands."""
    return f"Tool {item.get('tool_name')} is loaded: it is now in your tools and can be called."
