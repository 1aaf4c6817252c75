"""Anthropic Messages request -> OpenAI chat-completions request (pure functions over dicts)."""

from __future__ import annotations

from itertools import islice
from operator import eq, is_
from typing import Any, NamedTuple

import orjson

from proxy.core import catalogue
from proxy.core.conversation_cache import Conversation
from proxy.core.tools_cache import SYSTEM, TOOLS
from proxy.routing.model_map import Target
from proxy.translate.carrier import (
    Recall,
    ReturnPath,
    anthropic_original,
    is_proxy_signature,
    return_path,
)
from proxy.translate.content import system_text, tool_result_parts, user_part
from proxy.translate.deferred import visible_tools
from proxy.translate.max_tokens import clamp_max_tokens
from proxy.translate.returned import Returned

BILLING_PREFIX = "x-anthropic-billing-header:"
EFFORTS = {"low": "low", "medium": "medium", "high": "high", "max": "high", "xhigh": "high"}
# Providers that want the model's earlier reasoning sent back as `reasoning_content`.
REASONING_ECHO_HINTS = ("deepseek", "kimi", "moonshot")
OPENAI_STOP_LIMIT = 4
# LiteLLM providers that take top_k; OpenAI-style APIs reject it as an unknown argument.
TOP_K_PROVIDERS = frozenset(
    {"gemini", "vertex_ai", "anthropic", "bedrock", "ollama", "ollama_chat", "cohere"}
)


def reasoning_effort(body: dict[str, Any]) -> str | None:
    """Map `thinking` and `output_config.effort` onto an OpenAI-style reasoning effort."""
    thinking = body.get("thinking")
    thinking = thinking if isinstance(thinking, dict) else {}
    kind = thinking.get("type")
    if kind == "disabled":
        return None
    config = body.get("output_config")
    config = config if isinstance(config, dict) else {}
    effort = config.get("effort")
    if isinstance(effort, str) and effort in EFFORTS:
        return EFFORTS[effort]
    if kind == "enabled":
        budget = thinking.get("budget_tokens")
        budget = budget if isinstance(budget, int) else 8192
        return "low" if budget < 4096 else "medium" if budget < 16384 else "high"
    if kind == "adaptive":
        return "medium"
    return None


def is_reasoning_model(target: Target) -> bool:
    """True when the catalogue (or the name, for o-series and gpt-5) says the model reasons."""
    known = catalogue.supports(target.model, "reasoning")
    if known is not None:
        return known
    name = target.upstream_model.lower()
    return name.startswith(("o1", "o3", "o4", "gpt-5"))


def wants_reasoning_echo(target: Target) -> bool:
    """True for providers that need earlier reasoning returned on assistant turns (DeepSeek)."""
    model = target.model
    echo = _ECHO.get(model)
    if echo is None:
        lowered = model.lower()
        echo = any(hint in lowered for hint in REASONING_ECHO_HINTS)
        if len(_ECHO) >= ECHO_MEMO:
            _ECHO.clear()
        _ECHO[model] = echo
    return echo


ECHO_MEMO = 256
_ECHO: dict[str, bool] = {}
"""Model -> wants_reasoning_echo, asked once per request of the few models in use."""


def clean_schema(schema: dict[str, Any] | None) -> dict[str, Any]:
    """A tool's input_schema as OpenAI function parameters (drops `$schema`)."""
    if not isinstance(schema, dict):
        return {"type": "object", "properties": {}}
    out = {k: v for k, v in schema.items() if k != "$schema"}
    out.setdefault("type", "object")
    if out.get("type") == "object":
        out.setdefault("properties", {})
    return out


def convert_tools(tools: list[dict[str, Any]], notes: list[str]) -> list[dict[str, Any]]:
    """Client tools as OpenAI functions; server tools (no input_schema) dropped with a note."""
    out = []
    for tool in tools:
        if "input_schema" not in tool and tool.get("type") not in (None, "custom"):
            notes.append(f"dropped server tool {tool.get('name')!r} ({tool.get('type')})")
            continue
        function: dict[str, Any] = {
            "name": tool.get("name"),
            "parameters": clean_schema(tool.get("input_schema")),
        }
        if tool.get("description"):
            function["description"] = tool["description"]
        out.append({"type": "function", "function": function})
    return out


def convert_kept_tools(tools: list[dict[str, Any]], notes: list[str]) -> list[dict[str, Any]]:
    """`convert_tools`, done once for a kept tools list (TOOLS) and sent upstream as kept JSON.

    The result is shared by every request with those tools: read-only, like the list itself.
    """

    def build() -> tuple[list[dict[str, Any]], list[str]]:
        added: list[str] = []
        return convert_tools(tools, added), added

    converted, added = TOOLS.memo(tools, "openai", build)
    notes.extend(added)
    TOOLS.keep_json(tools, converted)
    return converted


def convert_tool_choice(choice: dict[str, Any]) -> str | dict[str, Any] | None:
    """Anthropic tool_choice -> OpenAI tool_choice."""
    kind = choice.get("type")
    if kind == "any":
        return "required"
    if kind == "tool" and choice.get("name"):
        return {"type": "function", "function": {"name": choice["name"]}}
    if kind == "none":
        return "none"
    if kind == "auto":
        return "auto"
    return None


def _join_text(parts: list[dict[str, Any]]) -> str | list[dict[str, Any]]:
    # Plain strings reach the most OpenAI-compatible servers (some reject lists of parts).
    texts = []
    for part in parts:
        if part.get("type") != "text" or "cache_control" in part:
            return parts
        texts.append(part["text"])
    return texts[0] if len(texts) == 1 else "\n".join(texts)


def _signed_thinking(block: dict[str, Any]) -> dict[str, Any] | None:
    # Only blocks Anthropic signed can go back to Anthropic; ours would be rejected (a carrier
    # holding Claude's own signature, from OpenRouter, gives that signature back).
    kind = block.get("type")
    opaque = block.get("data") if kind == "redacted_thinking" else block.get("signature")
    if is_proxy_signature(opaque):
        return anthropic_original(block)
    if kind == "redacted_thinking" and isinstance(opaque, str):
        return {"type": "redacted_thinking", "data": opaque}
    if kind == "thinking" and opaque:
        return {"type": "thinking", "thinking": block.get("thinking", ""), "signature": opaque}
    return None


def _assistant_message(
    blocks: list[Any],
    echo_reasoning: bool,
    keep_thinking: bool = False,
    back: ReturnPath | None = None,
) -> dict[str, Any]:
    texts: list[str] = []
    reasoning: list[str] = []
    thinking_blocks: list[dict[str, Any]] = []
    calls: list[dict[str, Any]] = []
    returned = Returned(back) if back is not None else None
    for block in blocks:
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind == "text" and isinstance(block.get("text"), str):
            texts.append(block["text"])
        elif kind == "tool_use" or kind == "server_tool_use":
            arguments = orjson.dumps(block.get("input") or {}).decode()
            calls.append(
                {
                    "id": str(block.get("id") or f"call_{len(calls)}"),
                    "type": "function",
                    "function": {"name": block.get("name", ""), "arguments": arguments},
                }
            )
        elif kind in ("thinking", "redacted_thinking"):
            if kind == "thinking" and isinstance(block.get("thinking"), str):
                reasoning.append(block["thinking"])
            signed = _signed_thinking(block) if keep_thinking else None
            if signed is not None:
                thinking_blocks.append(signed)
            if returned is not None:
                returned.read(block)
    message: dict[str, Any] = {"role": "assistant", "content": "".join(texts) or None}
    if calls:
        message["tool_calls"] = calls
    elif message["content"] is None:
        message["content"] = ""
    if echo_reasoning and reasoning:
        message["reasoning_content"] = "".join(reasoning)
    if thinking_blocks:
        # LiteLLM turns these back into Anthropic thinking blocks (needed on tool-use turns).
        message["thinking_blocks"] = thinking_blocks
    if returned is not None:
        returned.apply(message)
    return message


def _with_cache(part: dict[str, Any], block: dict[str, Any], keep: bool) -> dict[str, Any]:
    # LiteLLM turns cache_control on parts and tool messages back into Anthropic breakpoints.
    if keep and isinstance(block.get("cache_control"), dict):
        return {**part, "cache_control": block["cache_control"]}
    return part


def _user_messages(
    blocks: list[Any], notes: list[str], keep_cache: bool = False
) -> list[dict[str, Any]]:
    tool_msgs: list[dict[str, Any]] = []
    tool_images: list[dict[str, Any]] = []
    parts: list[dict[str, Any]] = []
    for block in blocks:
        if not isinstance(block, dict):
            continue
        if block.get("type") == "tool_result":
            text, images = tool_result_parts(block)
            tool_id = str(block.get("tool_use_id", ""))
            message = {"role": "tool", "tool_call_id": tool_id, "content": text}
            tool_msgs.append(_with_cache(message, block, keep_cache))
            if images:
                label = f"Image(s) returned by tool call {block.get('tool_use_id')}:"
                tool_images.extend([{"type": "text", "text": label}, *images])
            continue
        if block.get("type") == "text":  # user_part's first case, without the call
            said = block.get("text")
            if said.__class__ is str:
                plain: dict[str, Any] = {"type": "text", "text": said}
                parts.append(_with_cache(plain, block, True) if keep_cache else plain)
            continue
        part = user_part(block, notes)
        if part is not None:
            parts.append(_with_cache(part, block, keep_cache and part["type"] == "text"))
    # OpenAI requires tool messages straight after the assistant's tool_calls.
    out = list(tool_msgs)
    if tool_images or parts:
        out.append({"role": "user", "content": _join_text(tool_images + parts)})
    return out


def _system_parts(system: Any, keep_cache: bool) -> list[dict[str, Any]]:
    if not isinstance(system, list):
        text = system_text(system)
        return [{"type": "text", "text": text}] if text else []
    parts = []
    for block in system:
        # system_text([block], drop_prefix=BILLING_PREFIX), without the list and the call.
        said: Any = block.get("text") if isinstance(block, dict) else block
        if not isinstance(said, str) or (said is not block and said.startswith(BILLING_PREFIX)):
            continue
        if said:
            part = {"type": "text", "text": said}
            parts.append(_with_cache(part, block, keep_cache and isinstance(block, dict)))
    return parts


class Translated(NamedTuple):
    """One Anthropic message as OpenAI messages, and what else translating it gave.

    Kept with a kept conversation (`Conversation.derived_list`) and shared by the requests that
    resend the message: never changed once made (`_renamed` copies what it renames)."""

    message: Any
    """The message translated (read by identity: the memo is valid for this object only)."""
    out: tuple[dict[str, Any], ...]
    system: tuple[dict[str, Any], ...]
    """A mid-conversation system turn's text, folded into the one system prompt."""
    notes: tuple[str, ...]
    asked: tuple[str, ...]
    answers: tuple[Any, ...]
    """The tool ids the proxy's memory was asked about (`ReturnPath.recall`), and its answers."""
    renames: tuple[tuple[str, str], ...] = ()
    """Tool ids given back to the upstream in its own spelling (client id, upstream id): the
    tool results that follow take them too."""


def _translate(
    msg: dict[str, Any], echo_reasoning: bool, for_anthropic: bool, back: ReturnPath | None
) -> Translated:
    role, content = msg.get("role"), msg.get("content")
    if role == "user" and content.__class__ is str:
        # What _user_messages gives for one text block: the text as the content.
        return Translated(msg, ({"role": "user", "content": content},), (), (), (), ())
    blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content or []
    if role == "system":
        # Mid-conversation system turns are folded into the one system prompt: many
        # OpenAI-compatible chat templates reject a system message after the first turn.
        text = system_text(blocks)
        return Translated(msg, (), ({"type": "text", "text": text},) if text else (), (), (), ())
    if role == "assistant":
        if back is None or back.recall is None:
            message = _assistant_message(blocks, echo_reasoning, for_anthropic, back)
            return Translated(msg, (message,), (), (), (), ())
        asked: list[str] = []
        answers: list[Any] = []
        back = _recording(back, asked, answers)
        message = _assistant_message(blocks, echo_reasoning, for_anthropic, back)
        renames = _upstream_ids(message, back)
        return Translated(msg, (message,), (), (), tuple(asked), tuple(answers), renames)
    notes: list[str] = []
    out = tuple(_user_messages(blocks, notes, for_anthropic))
    return Translated(msg, out, (), tuple(notes), (), ())


def _recording(back: ReturnPath, asked: list[str], answers: list[Any]) -> ReturnPath:
    recall = back.recall
    assert recall is not None

    def recorded(tool_id: str) -> Any:
        found = recall(tool_id)
        asked.append(tool_id)
        answers.append(found)
        return found

    return ReturnPath(back.origin, back.transport, recorded)


def _upstream_ids(message: dict[str, Any], back: ReturnPath) -> tuple[tuple[str, str], ...]:
    # The upstream's own tool ids where the client got a safe spelling (its calls are new here).
    renames = []
    for call in message.get("tool_calls") or ():
        remembered = back.remembered(call["id"])
        if remembered is not None and remembered.upstream_id:
            renames.append((call["id"], remembered.upstream_id))
            call["id"] = remembered.upstream_id
    return tuple(renames)


def _renamed(out: tuple[dict[str, Any], ...], renamed: dict[str, str]) -> list[dict[str, Any]]:
    # Tool results of renamed calls, as copies (`out` may be shared: Translated).
    return [
        {**m, "tool_call_id": renamed[m["tool_call_id"]]}
        if m["role"] == "tool" and m["tool_call_id"] in renamed
        else m
        for m in out
    ]


class Joined(NamedTuple):
    """`convert_messages`' running state after a conversation's first messages, kept with the
    conversation so that a request resending them starts there (`Conversation.derived_list`).

    Valid only for the very message objects it covers and while the proxy's tool memory is at
    the same version (what the memory answered for their tool ids is then what it answers now).
    Never changed once made: the requests that start from it copy what they extend."""

    messages: tuple[Any, ...]
    version: int
    out: tuple[dict[str, Any], ...]
    """Their OpenAI messages, upstream tool ids given back, before `repair_tool_pairs`."""
    system: tuple[dict[str, Any], ...]
    notes: tuple[str, ...]
    renamed: tuple[tuple[str, str], ...]
    repair: RepairState
    json: tuple[bytes, ...] | None = None
    """`repair.out`'s elements as orjson writes them in a list, in pieces (`elem,elem`, none
    empty), so that a request resending them serialises only what is new (`with_system_json`);
    None when they do not serialise."""


class KeptJson(NamedTuple):
    """Where the kept JSON of a joined prefix goes in the messages `convert_messages` returned:
    `size` messages from `offset` are `pieces` (see `with_system_json`)."""

    offset: int
    size: int
    pieces: tuple[bytes, ...]


JSON_PIECES = 32
"""Pieces a kept prefix's JSON is in at most (one more per request); then joined into one."""


def _extended_json(
    saved: Joined | None, out: tuple[dict[str, Any], ...]
) -> tuple[bytes, ...] | None:
    """The JSON pieces of `out`: the saved prefix's (when it kept them), and the elements after
    it serialised."""
    done = 0
    pieces: tuple[bytes, ...] = ()
    if saved is not None and saved.json is not None:
        done, pieces = len(saved.repair.out), saved.json
    if len(out) > done:
        try:
            pieces = (*pieces, orjson.dumps(out[done:])[1:-1])
        except orjson.JSONEncodeError:
            return None
        if len(pieces) > JSON_PIECES:
            pieces = (b",".join(pieces),)
    return pieces


class RepairState(NamedTuple):
    """`Repair` part way through, frozen to be kept: its output so far, the newest tool calls'
    ids, those still without a result, and its notes."""

    out: tuple[dict[str, Any], ...]
    pending: tuple[str, ...]
    open_ids: frozenset[str]
    notes: tuple[str, ...]


class Repair:
    """`repair_tool_pairs` as a pass that can stop and go on: `feed` messages, `end` once."""

    __slots__ = ("notes", "open_ids", "out", "pending")

    def __init__(self, state: RepairState | None = None) -> None:
        if state is None:
            self.out: list[dict[str, Any]] = []
            self.pending: tuple[str, ...] = ()
            self.open_ids: set[str] = set()
            self.notes: list[str] = []
        else:
            self.out, self.pending = list(state.out), state.pending
            self.open_ids, self.notes = set(state.open_ids), list(state.notes)

    def frozen(self) -> RepairState:
        """The state so far, to keep (copies: this pass goes on)."""
        return RepairState(
            tuple(self.out), self.pending, frozenset(self.open_ids), tuple(self.notes)
        )

    def feed(self, messages: list[dict[str, Any]], start: int = 0) -> None:
        """Go on over `messages[start:]`."""
        out, notes, pending, open_ids = self.out, self.notes, self.pending, self.open_ids
        for index in range(start, len(messages)):
            msg = messages[index]
            role = msg["role"]
            if role == "tool":
                if msg["tool_call_id"] in open_ids:
                    open_ids.discard(msg["tool_call_id"])
                    out.append(msg)
                else:
                    notes.append(f"tool_result {msg['tool_call_id']!r} has no matching tool_use")
                    out.append(
                        {
                            "role": "user",
                            "content": f"[tool result {msg['tool_call_id']}]\n{msg['content']}",
                        }
                    )
                continue
            if open_ids:
                for missing in pending:
                    if missing in open_ids:
                        notes.append(
                            f"tool_use {missing!r} had no tool_result; inserted a placeholder"
                        )
                        out.append(
                            {
                                "role": "tool",
                                "tool_call_id": missing,
                                "content": "(no result: interrupted)",
                            }
                        )
                open_ids = set()
            out.append(msg)
            if role == "assistant":
                calls = msg.get("tool_calls")
                if calls:
                    pending = tuple([c["id"] for c in calls])
                    open_ids = set(pending)
        self.pending, self.open_ids = pending, open_ids

    def end(self) -> list[dict[str, Any]]:
        """The repaired messages, with a placeholder result for each call left open."""
        out = self.out
        for missing in self.pending:
            if missing in self.open_ids:
                out.append(
                    {"role": "tool", "tool_call_id": missing, "content": "(no result: interrupted)"}
                )
        return out


def convert_messages(
    body: dict[str, Any],
    echo_reasoning: bool,
    notes: list[str],
    for_anthropic: bool = False,
    back: ReturnPath | None = None,
    system_texts: list[str] | None = None,
    memo: list[Any] | None = None,
    joined: list[Any] | None = None,
    version: int = 0,
    kept_json: list[KeptJson] | None = None,
) -> list[dict[str, Any]]:
    """The conversation (system folded into one leading system message) as OpenAI messages.

    `for_anthropic` (LiteLLM to Anthropic) keeps signed thinking and cache_control breakpoints;
    `back` gives an upstream the state it handed out in earlier answers (see carrier.py);
    `system_texts` receives the texts the system message joins (for `system_json`); `memo`:
    the `Translated` of the body's first messages, made by an earlier request with the same
    arguments (a kept conversation's), extended here; `joined`: that conversation's holder of
    a `Joined` (at most one), started from when valid and replaced by this body's (all but its
    newest message); `version`: the tool memory's version (`ToolMemory.version`); `kept_json`
    receives where the returned messages start with a joined prefix whose JSON is kept.
    """
    blocks = body.get("system")
    if blocks.__class__ is list and not for_anthropic:
        # Kept blocks (SYSTEM) are translated once; only their texts are read after.
        system = list(SYSTEM.memo(blocks, "openai", lambda: tuple(_system_parts(blocks, False))))
    else:
        system = _system_parts(blocks, for_anthropic)
    own_system, first_note = len(system), len(notes)
    messages = body.get("messages", [])
    out: list[dict[str, Any]] = []
    renamed: dict[str, str] = {}
    start = repaired = 0
    saved = joined[0] if joined else None
    if saved is not None and not (
        saved.version == version
        and len(messages) > len(saved.messages)
        and all(map(is_, saved.messages, messages))
    ):
        saved = None
    prefix = saved  # the joined state the returned messages start with
    if saved is not None:
        start = len(saved.messages)
        out.extend(saved.out)
        system.extend(saved.system)
        notes.extend(saved.notes)
        renamed.update(saved.renamed)
        repair, repaired = Repair(saved.repair), len(saved.out)
    else:
        repair = Repair()
    last = len(messages) - 1 if joined is not None and len(messages) - 1 > start else -1
    done = len(memo) if memo is not None else 0
    recall = back.recall if back is not None else None
    for index, msg in enumerate(islice(messages, start, None) if start else messages, start):
        if index == last:
            # All but the newest message: what the next request of this conversation resends.
            repair.feed(out, repaired)
            repaired = len(out)
            frozen = repair.frozen()
            prefix = Joined(
                tuple(messages[:last]),
                version,
                tuple(out),
                tuple(system[own_system:]),
                tuple(notes[first_note:]),
                tuple(renamed.items()),
                frozen,
                _extended_json(saved, frozen.out) if kept_json is not None else None,
            )
            joined[:] = [prefix]  # type: ignore[index]
        if index < done:
            translated = memo[index]  # type: ignore[index]
            # The memory may have forgotten (or learnt) a tool id since: translate it again.
            if translated.message is not msg or (
                translated.asked
                and (recall is None or tuple(map(recall, translated.asked)) != translated.answers)
            ):
                translated = _translate(msg, echo_reasoning, for_anthropic, back)
        else:
            translated = _translate(msg, echo_reasoning, for_anthropic, back)
            if index == done and memo is not None and len(memo) == done:
                memo.append(translated)
                done += 1
        if translated.renames:
            renamed.update(translated.renames)
        if translated.out:
            out.extend(_renamed(translated.out, renamed) if renamed else translated.out)
        if translated.system:
            system.extend(translated.system)
        if translated.notes:
            notes.extend(translated.notes)
    repair.feed(out, repaired)
    result = repair.end()
    if system:
        texts = [p["text"] for p in system]
        joined_text = "\n\n".join(texts)
        if system_texts is not None and not for_anthropic:
            system_texts.extend(texts)
        # First, after the repair: a system message changes none of its state.
        result.insert(0, {"role": "system", "content": system if for_anthropic else joined_text})
    notes.extend(repair.notes)
    if kept_json is not None and prefix is not None and prefix.json:
        kept_json.append(KeptJson(1 if system else 0, len(prefix.repair.out), prefix.json))
    return result


def repair_tool_pairs(messages: list[dict[str, Any]], notes: list[str]) -> list[dict[str, Any]]:
    """Give every tool call a result and every result a call, as OpenAI-style APIs insist."""
    repair = Repair()
    repair.feed(messages)
    notes.extend(repair.notes)
    return repair.end()


def response_format(body: dict[str, Any]) -> dict[str, Any] | None:
    """`output_config.format` (JSON schema) as an OpenAI response_format."""
    config = body.get("output_config")
    fmt = config.get("format") if isinstance(config, dict) else None
    if not isinstance(fmt, dict) or fmt.get("type") != "json_schema":
        return None
    schema = fmt.get("schema") if isinstance(fmt.get("schema"), dict) else {"type": "object"}
    return {"type": "json_schema", "json_schema": {"name": "response", "schema": schema}}


def to_openai(
    body: dict[str, Any],
    target: Target,
    notes: list[str],
    *,
    for_litellm: bool = False,
    recall: Recall | None = None,
    system_texts: list[str] | None = None,
    conversation: Conversation | None = None,
    memory_version: int = 0,
    kept_json: list[KeptJson] | None = None,
) -> dict[str, Any]:
    """Translate a validated Anthropic request into an OpenAI chat-completions request.

    `recall` is the proxy's memory of earlier answers' tool calls (state/tool_memory.py), at
    `memory_version`; `kept_json` receives where its messages' JSON is kept (`with_system_json`);
    `system_texts` receives the texts its system message joins (`system_json`);
    `conversation`: a kept conversation the body's messages start with (their translations
    are kept with it).
    """
    echo = wants_reasoning_echo(target)
    for_anthropic = target.provider == "anthropic"
    back = return_path(target, recall)
    memo = joined = None
    if conversation is not None:
        memo_key = ("openai", echo, for_anthropic, back.origin, back.transport, recall is None)
        memo = conversation.derived_list(memo_key)
        joined = conversation.derived_list(("joined", *memo_key))
    out: dict[str, Any] = {
        "model": target.model if for_litellm else target.upstream_model,
        "messages": convert_messages(
            body,
            echo,
            notes,
            for_anthropic=for_anthropic,
            back=back,
            system_texts=system_texts,
            memo=memo,
            joined=joined,
            version=memory_version,
            kept_json=kept_json,
        ),
    }
    max_tokens = clamp_max_tokens(int(body.get("max_tokens") or 4096), target.model, notes)
    official_openai = target.provider == "openai" and target.api_base is None
    out["max_completion_tokens" if official_openai else "max_tokens"] = max_tokens
    effort = reasoning_effort(body)
    reasons = is_reasoning_model(target)
    # Models the catalogue does not know get the effort too: LiteLLM drops it where unsupported.
    unknown = for_litellm and catalogue.supports(target.model, "reasoning") is None
    if effort is not None and (reasons or unknown):
        out["reasoning_effort"] = effort
    # OpenAI's reasoning models refuse sampling parameters; every other model keeps them.
    if not (reasons and target.provider == "openai"):
        for key in ("temperature", "top_p"):
            if isinstance(body.get(key), int | float):
                out[key] = body[key]
    if for_litellm and target.provider in TOP_K_PROVIDERS and isinstance(body.get("top_k"), int):
        out["top_k"] = body["top_k"]
    stops = body.get("stop_sequences")
    if isinstance(stops, list) and stops:
        out["stop"] = [s for s in stops if isinstance(s, str)][:OPENAI_STOP_LIMIT]
    visible = visible_tools(body, notes)
    tools = convert_kept_tools(visible, notes) if visible else visible
    choice = body.get("tool_choice") if isinstance(body.get("tool_choice"), dict) else None
    if tools:
        out["tools"] = tools
        mapped = convert_tool_choice(choice) if choice else None
        if mapped is not None:
            out["tool_choice"] = mapped
        if choice and choice.get("disable_parallel_tool_use") is True:
            out["parallel_tool_calls"] = False
    fmt = response_format(body)
    if fmt is not None:
        out["response_format"] = fmt
    if body.get("stream") is True:
        out["stream"] = True
        out["stream_options"] = {"include_usage": True}
    return out


def with_system_json(
    payload: dict[str, Any],
    texts: list[str],
    kept: list[KeptJson] | None = None,
    system_memo: list[Any] | None = None,
) -> dict[str, Any]:
    """`payload` to serialise: its joined system message written from the texts' own JSON, and
    the messages of a joined prefix as their kept JSON (`KeptJson`).

    The joined string is new, so orjson would encode all of it to UTF-8 again; JSON escapes
    character by character, so joining the texts' JSON with `\\n\\n` gives the same bytes.
    `system_memo`, a kept conversation's holder of the last system message it sent (texts and
    JSON): texts equal to those (a `memcmp` each) are not encoded at all; Claude Code sends the
    same system prompt with every request of a session, as new strings. Returns `payload`
    itself when there is nothing to gain (or a text does not encode).
    """
    messages = payload.get("messages")
    if not messages:
        return payload
    head: list[Any] = messages
    if (
        texts
        and messages[0].get("role") == "system"
        and (len(texts) > 1 or system_memo is not None)
    ):
        content = _system_content(texts, system_memo)
        if content is not None:
            head = [{**messages[0], "content": orjson.Fragment(content)}, *messages[1:]]
    if kept:
        # A list element each piece: orjson writes them with commas between, `elem,elem` in
        # each, the same bytes as the elements themselves.
        offset, size, json = kept[0]
        head = [*head[:offset], *map(orjson.Fragment, json), *messages[offset + size :]]
    if head is messages:
        return payload
    return {**payload, "messages": head}


def _system_content(texts: list[str], memo: list[Any] | None) -> bytes | None:
    """The JSON string of the texts joined with blank lines, from `memo` when it holds them."""
    if memo:
        known, content = memo[0]
        if len(known) == len(texts) and all(map(eq, known, texts)):
            return content
    try:
        pieces = [orjson.dumps(text)[1:-1] for text in texts]
    except orjson.JSONEncodeError:
        return None  # the payload's own serialisation says what is wrong
    content = b'"' + b"\\n\\n".join(pieces) + b'"'
    if memo is not None:
        memo[:] = [(tuple(texts), content)]
    return content
