"""Validation of incoming Anthropic requests: types of the fields we use, everything else allowed."""

from __future__ import annotations

from typing import Any, Literal, TypeVar

import orjson
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    ValidationError,
    model_validator,
)

from proxy.core.conversation_cache import Prefix
from proxy.core.errors import ProxyError

# BLOCK_FIELDS: the fields each known block type must carry, as the Anthropic API checks them;
# unknown block types pass untouched.
from proxy.translate.json_depth import check_rest_depth, deep_error
from proxy.translate.validate_fast import BLOCK_FIELDS, TOO_DEEP, valid_chars

T = TypeVar("T", bound="CountTokensRequest")

MAX_MODEL_LENGTH = 256


class _Open(BaseModel):
    # New fields from newer clients must never be a 400.
    model_config = ConfigDict(extra="allow")


JSON_NAMES: dict[type, str] = {str: "a string", dict: "an object"}


class Block(_Open):
    """One content block; its type decides what else it carries."""

    type: StrictStr

    @model_validator(mode="after")
    def _known_fields(self) -> Block:
        extra = self.model_extra or {}
        for name, kind in BLOCK_FIELDS.get(self.type, ()):
            value = extra.get(name)
            if not isinstance(value, kind) or isinstance(value, bool):
                raise ValueError(f"{self.type} block: {name} must be {JSON_NAMES[kind]}")
        content = extra.get("content")
        if self.type == "tool_result" and not isinstance(content, str | list | None):
            raise ValueError("tool_result block: content must be a string or a list")
        return self


class Message(_Open):
    """A conversation turn; `system` turns come from Claude Code's mid-conversation-system beta."""

    role: Literal["user", "assistant", "system"]
    content: StrictStr | list[Block]


class Tool(_Open):
    """A client tool (with input_schema) or a server tool (with a versioned type)."""

    name: StrictStr
    input_schema: dict[str, Any] | None = None
    description: StrictStr | None = None
    type: StrictStr | None = None


class ToolChoice(_Open):
    """auto, any, tool (with name) or none."""

    type: Literal["auto", "any", "tool", "none"]
    name: str | None = None
    disable_parallel_tool_use: StrictBool | None = None


class TextBlock(_Open):
    """A system prompt block."""

    type: StrictStr = "text"
    text: StrictStr


class Thinking(_Open):
    """`thinking`: enabled (with a budget), disabled, adaptive, or a type a newer client sends."""

    type: StrictStr
    budget_tokens: StrictInt | None = Field(default=None, ge=0)


class OutputConfig(_Open):
    """`output_config`: effort and a response format."""

    effort: StrictStr | None = None
    format: dict[str, Any] | None = None


class CountTokensRequest(_Open):
    """Body of /v1/messages/count_tokens."""

    model: StrictStr = Field(min_length=1)
    messages: list[Message]
    system: StrictStr | list[TextBlock] | None = None
    tools: list[Tool] | None = None
    tool_choice: ToolChoice | None = None
    thinking: Thinking | None = None


class MessagesRequest(CountTokensRequest):
    """Body of /v1/messages."""

    # Strict like the Anthropic API: `true`, `"10"` or `5.0` for max_tokens is a 400 naming the
    # field, never a value coerced and forwarded.
    max_tokens: StrictInt = Field(ge=1)
    stream: StrictBool | None = None
    temperature: StrictFloat | None = Field(default=None, ge=0, le=2)
    top_p: StrictFloat | None = Field(default=None, ge=0, le=1)
    top_k: StrictInt | None = Field(default=None, ge=0)
    stop_sequences: list[StrictStr] | None = None
    metadata: dict[str, Any] | None = None
    output_config: OutputConfig | None = None


def _describe(exc: ValidationError) -> str:
    found: dict[str, list[str]] = {}
    for err in exc.errors():
        # Union members and validators add their own names to the path; the field is enough.
        loc = ".".join(str(p) for p in err["loc"] if not _is_type_name(p)) or "body"
        message = err["msg"].removeprefix("Value error, ")
        if message not in found.setdefault(loc, []):
            found[loc].append(message)
    # A union that failed inside one member (a list of blocks) also says the value is not the
    # other member (a string): the deeper error is the one that helps.
    deepest = [loc for loc in found if not any(o.startswith(loc + ".") for o in found)]
    parts = []
    for loc in deepest[:5]:
        first, *rest = found[loc]
        alternatives = [m.removeprefix("Input should be ") for m in rest]
        parts.append(f"{loc}: {' or '.join([first, *alternatives])}")
    return "; ".join(parts)


def _is_type_name(part: object) -> bool:
    return isinstance(part, str) and (
        part.startswith(("function-", "union[", "list[", "dict["))
        or part in ("str", "int", "float", "bool", "Block", "TextBlock")
    )


def check_model_string(value: str, field: str = "model") -> str:
    """A model string of at most 256 printable characters (it is echoed in headers and logs)."""
    if len(value) > MAX_MODEL_LENGTH or not value.isprintable():
        raise ProxyError(
            400,
            "invalid_request_error",
            f"{field}: must be at most {MAX_MODEL_LENGTH} printable characters "
            "(no control characters)",
        )
    return value


def validate_messages(
    body: object,
    *,
    depth_checked: bool = True,
    prefix: Prefix | None = None,
    each: list[int] | None = None,
) -> int | None:
    """Check a /v1/messages body, or raise a 400 naming the field.

    Returns the characters the token estimate counts in its system and messages
    (`tokens.tokens_from_chars`), when the check walked them (None: ask the estimate).
    `depth_checked=False`: also refuse a body nesting too deep to serialise (json_depth),
    its tools apart (checked when they were parsed). `prefix`: its first messages are kept
    ones, checked before; `each` gets the count of every message the walk checked.
    """
    return _validate(MessagesRequest, body, depth_checked, prefix, each)


def validate_count_tokens(body: object) -> None:
    """Check a /v1/messages/count_tokens body, or raise a 400 naming the field."""
    _validate(CountTokensRequest, body)


def _validate(
    cls: type[T],
    body: object,
    depth_checked: bool = True,
    prefix: Prefix | None = None,
    each: list[int] | None = None,
) -> int | None:
    if not isinstance(body, dict):
        raise ProxyError(400, "invalid_request_error", "request body must be a JSON object")
    # The common, valid body is checked by hand (pydantic over every block costs ~40 us on a
    # Claude Code request); pydantic decides, and words the error, for everything else.
    chars: int | None = valid_chars(
        body, messages_request=cls is MessagesRequest, prefix=prefix, each=each
    )
    if chars == TOO_DEEP:
        raise deep_error()
    if chars is not None and chars < 0:
        chars = None
        if not depth_checked:  # the walk stopped short: serialise it to know
            try:
                check_rest_depth(body)
            except orjson.JSONEncodeError:
                raise deep_error() from None
        try:
            cls.model_validate(body)
        except ValidationError as exc:
            raise ProxyError(400, "invalid_request_error", _describe(exc)) from None
    check_model_string(body["model"])
    messages = body.get("messages")
    if isinstance(messages, list) and not messages:
        raise ProxyError(400, "invalid_request_error", "messages: at least one message is required")
    return chars
