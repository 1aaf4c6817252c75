"""Helpers for the issue-2 suite: an SDK client whose every stream is validated, raw posts, and a
dialect-neutral view of what the fake upstream received (OpenAI chat, Gemini, Anthropic)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anthropic
import httpx2 as httpx  # the HTTP client the anthropic SDK is built on
import orjson

from proxy.core.lazy_litellm import start_import
from proxy.server.runner import ProxyServer
from tests.support.fake_upstream import RecordedRequest
from tests.support.stream_validator import validate_anthropic_message, validate_anthropic_stream

# LiteLLM's import warns, and warnings are errors here. Imported in the background (as the proxy
# does), it races pytest's per-test reset of the warning filters and can fail; importing it once
# now, while the main thread waits, keeps the suite deterministic.
start_import().result()

# Keys the SDK takes as named arguments; everything else goes in extra_body untouched.
SDK_ARGS = ("model", "max_tokens", "messages")
TIMEOUT = 30.0
# Claude Code's TypeScript SDK adds this to every beta call; the Python SDK does not.
BETA_QUERY = {"beta": "true"}
# A 1x1 PNG.
PNG_B64 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
PDF_B64 = "JVBERi0xLjQKJcOkw7zDtsOfCjEgMCBvYmoKPDwvVHlwZS9DYXRhbG9nPj4KZW5kb2JqCnRyYWlsZXIKPDw+PgolJUVPRgo="


RECORDED = "recorded_body"


class _Tee(httpx.AsyncByteStream):
    """Passes a response body through while keeping a copy of every byte."""

    def __init__(self, inner: httpx.AsyncByteStream, sink: bytearray) -> None:
        self.inner = inner
        self.sink = sink

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self.inner:
            self.sink.extend(chunk)
            yield chunk

    async def aclose(self) -> None:
        await self.inner.aclose()


class RecordingTransport(httpx.AsyncBaseTransport):
    """An httpx transport that records every response body, so SSE can be validated raw."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.bodies: list[tuple[str, bytearray]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        sink = bytearray()
        self.bodies.append((response.headers.get("content-type", ""), sink))
        assert isinstance(response.stream, httpx.AsyncByteStream)
        return httpx.Response(
            status_code=response.status_code,
            headers=response.headers,
            stream=_Tee(response.stream, sink),
            # Each response carries its own copy: concurrent streams must not be mixed up.
            extensions={**response.extensions, RECORDED: sink},
            request=request,
        )

    async def aclose(self) -> None:
        await self.inner.aclose()


def split_body(body: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(named SDK arguments, extra_body): the SDK sends extra_body keys exactly as given."""
    named = {k: body[k] for k in SDK_ARGS if k in body}
    extra = {k: v for k, v in body.items() if k not in SDK_ARGS and k != "stream"}
    return named, extra


class SDK:
    """The official SDK pointed at the proxy; every SSE body it reads is validated on exit."""

    def __init__(self, proxy: ProxyServer, **client_args: Any) -> None:
        self.transport = RecordingTransport()
        self.http = httpx.AsyncClient(transport=self.transport, timeout=TIMEOUT)
        self.client = anthropic.AsyncAnthropic(
            base_url=proxy.url,
            api_key=client_args.pop("api_key", "dummy"),
            max_retries=0,
            http_client=self.http,
            **client_args,
        )
        self.streams: list[dict[str, Any]] = []
        self.last_stream_raw = b""

    async def __aenter__(self) -> SDK:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.client.close()
        await self.http.aclose()
        if exc[0] is None:
            self.check_streams()

    def check_streams(self) -> None:
        """Run the strict validator over every event stream read so far."""
        for ctype, body in self.transport.bodies:
            if ctype.startswith("text/event-stream"):
                validate_anthropic_stream(bytes(body))

    def last_raw(self) -> bytes:
        """The raw body of the last response."""
        return bytes(self.transport.bodies[-1][1])

    async def create(self, body: dict[str, Any], betas: list[str] | None = None) -> dict[str, Any]:
        """Non-streaming messages.create (beta.messages.create with betas); returns the raw JSON."""
        named, extra = split_body(body)
        if betas is None:
            message = await self.client.messages.create(**named, extra_body=extra, timeout=TIMEOUT)
        else:
            message = await self.client.beta.messages.create(
                **named, betas=betas, extra_body=extra, extra_query=BETA_QUERY, timeout=TIMEOUT
            )
        raw = orjson.loads(self.last_raw())
        validate_anthropic_message(raw)
        assert message.id == raw["id"]
        return raw  # type: ignore[no-any-return]

    async def stream(self, body: dict[str, Any], betas: list[str] | None = None) -> dict[str, Any]:
        """messages.stream to the end; returns the message rebuilt by the strict validator."""
        named, extra = split_body(body)
        if betas is None:
            manager: Any = self.client.messages.stream(**named, extra_body=extra, timeout=TIMEOUT)
        else:
            manager = self.client.beta.messages.stream(
                **named, betas=betas, extra_body=extra, extra_query=BETA_QUERY, timeout=TIMEOUT
            )
        async with manager as stream:
            final = await stream.get_final_message()
            raw = bytes(stream.response.extensions[RECORDED])
        message = validate_anthropic_stream(raw)
        self.last_stream_raw = raw
        # The SDK's own accumulation must agree with the validator's.
        sdk_blocks = [b.model_dump(exclude_none=True) for b in final.content]
        assert [b["type"] for b in sdk_blocks] == [b["type"] for b in message["content"]]
        assert final.stop_reason == message["stop_reason"]
        self.streams.append(message)
        return message

    async def ask(
        self, body: dict[str, Any], stream: bool, betas: list[str] | None = None
    ) -> dict[str, Any]:
        """Either path; both return a validated Anthropic message dict."""
        return await (self.stream(body, betas) if stream else self.create(body, betas))

    async def count(self, body: dict[str, Any], betas: list[str] | None = None) -> int:
        """messages.count_tokens (beta.messages.count_tokens with betas, as Claude Code calls it)."""
        named, extra = split_body(body)
        named.pop("max_tokens", None)
        if betas is None:
            result: Any = await self.client.messages.count_tokens(
                **named, extra_body=extra, timeout=TIMEOUT
            )
        else:
            result = await self.client.beta.messages.count_tokens(
                **named, betas=betas, extra_body=extra, extra_query=BETA_QUERY, timeout=TIMEOUT
            )
        assert isinstance(result.input_tokens, int)
        return int(result.input_tokens)


async def raw_post(
    proxy: ProxyServer,
    body: Any,
    path: str = "/v1/messages",
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """POST a body (dict as JSON, bytes as is) and read the whole answer."""
    content = body if isinstance(body, bytes) else orjson.dumps(body)
    async with httpx.AsyncClient(timeout=TIMEOUT) as http:
        return await http.post(
            proxy.url + path,
            content=content,
            headers={"content-type": "application/json", **(headers or {})},
        )


def error_of(response: httpx.Response) -> dict[str, Any]:
    """The Anthropic error object of an error response (the envelope is checked too)."""
    data = response.json()
    assert data["type"] == "error", data
    assert set(data["error"]) >= {"type", "message"}, data
    return data["error"]  # type: ignore[no-any-return]


# --------------------------------------------------------------------- what the upstream got


def _first(d: dict[str, Any], *names: str) -> Any:
    for name in names:
        if name in d:
            return d[name]
    return None


def _gen_config(body: dict[str, Any]) -> dict[str, Any]:
    return _first(body, "generationConfig", "generation_config") or {}


def _texts(content: Any) -> list[str]:
    """Every text string inside any content shape (strings, parts, blocks, nested results)."""
    if isinstance(content, str):
        return [content]
    out: list[str] = []
    if isinstance(content, list):
        for item in content:
            out.extend(_texts(item))
    elif isinstance(content, dict):
        for key in ("text", "content", "parts"):
            if key in content:
                out.extend(_texts(content[key]))
        for key in ("function_response", "functionResponse"):
            if key in content:
                out.extend(_texts(content[key].get("response")))
    return out


def system_text(rec: RecordedRequest) -> str:
    """The system prompt as the upstream received it."""
    body = rec.body or {}
    if rec.dialect == "openai":
        return "\n".join(
            "\n".join(_texts(m.get("content"))) for m in body["messages"] if m["role"] == "system"
        )
    if rec.dialect == "gemini":
        return "\n".join(_texts(_first(body, "system_instruction", "systemInstruction") or []))
    return "\n".join(_texts(body.get("system") or []))


def all_text(rec: RecordedRequest) -> str:
    """System plus every text of the conversation, for 'is X there' checks."""
    body = rec.body or {}
    turns = body.get("contents") if rec.dialect == "gemini" else body.get("messages")
    return system_text(rec) + "\n" + "\n".join(_texts(turns or []))


def turns(rec: RecordedRequest) -> list[dict[str, Any]]:
    """The conversation turns (messages or Gemini contents)."""
    body = rec.body or {}
    return list((body.get("contents") if rec.dialect == "gemini" else body.get("messages")) or [])


def tool_names(rec: RecordedRequest) -> list[str]:
    """Names of the tools offered upstream."""
    body = rec.body or {}
    names: list[str] = []
    for tool in body.get("tools") or []:
        if rec.dialect == "openai":
            names.append(tool["function"]["name"])
        elif rec.dialect == "gemini":
            decls = _first(tool, "function_declarations", "functionDeclarations") or []
            names.extend(d["name"] for d in decls)
        else:
            names.append(tool["name"])
    return names


def tool_schemas(rec: RecordedRequest) -> dict[str, dict[str, Any]]:
    """Tool name -> its parameter schema as sent."""
    body = rec.body or {}
    out: dict[str, dict[str, Any]] = {}
    for tool in body.get("tools") or []:
        if rec.dialect == "openai":
            out[tool["function"]["name"]] = tool["function"]["parameters"]
        elif rec.dialect == "gemini":
            for d in _first(tool, "function_declarations", "functionDeclarations") or []:
                out[d["name"]] = _first(d, "parameters", "parametersJsonSchema") or {}
        elif "input_schema" in tool:
            out[tool["name"]] = tool["input_schema"]
    return out


def tool_choice(rec: RecordedRequest) -> tuple[str | None, str | None]:
    """(auto|any|tool|none|None, forced tool name) as the upstream understood it."""
    body = rec.body or {}
    if rec.dialect == "openai":
        choice = body.get("tool_choice")
        if isinstance(choice, dict):
            return "tool", choice["function"]["name"]
        return {"required": "any"}.get(choice, choice), None
    if rec.dialect == "gemini":
        config = _first(body, "toolConfig", "tool_config") or {}
        calling = _first(config, "functionCallingConfig", "function_calling_config") or {}
        mode = calling.get("mode")
        allowed = _first(calling, "allowed_function_names", "allowedFunctionNames") or []
        if mode == "ANY" and len(allowed) == 1:
            return "tool", allowed[0]
        return ({"ANY": "any", "AUTO": "auto", "NONE": "none"}.get(mode) if mode else None), None
    choice = body.get("tool_choice") or {}
    return choice.get("type"), choice.get("name")


def parallel_disabled(rec: RecordedRequest) -> bool:
    """True when the upstream was told to make at most one tool call."""
    body = rec.body or {}
    if rec.dialect == "openai":
        return body.get("parallel_tool_calls") is False
    return (body.get("tool_choice") or {}).get("disable_parallel_tool_use") is True


def max_tokens(rec: RecordedRequest) -> int | None:
    """The output token limit sent upstream."""
    body = rec.body or {}
    if rec.dialect == "openai":
        return _first(body, "max_completion_tokens", "max_tokens")
    if rec.dialect == "gemini":
        return _first(_gen_config(body), "max_output_tokens", "maxOutputTokens")
    return body.get("max_tokens")


def sampling(rec: RecordedRequest) -> dict[str, Any]:
    """temperature / top_p / top_k / stop sequences as sent (absent keys left out)."""
    body = rec.body or {}
    src = _gen_config(body) if rec.dialect == "gemini" else body
    names = {
        "temperature": ("temperature",),
        "top_p": ("top_p", "topP"),
        "top_k": ("top_k", "topK"),
        "stop": ("stop", "stop_sequences", "stopSequences"),
    }
    out = {}
    for key, spellings in names.items():
        value = _first(src, *spellings)
        if value is not None:
            out[key] = [value] if key == "stop" and isinstance(value, str) else value
    return out


def reasoning(rec: RecordedRequest) -> Any:
    """The reasoning control sent upstream (effort string, Gemini thinkingConfig, Anthropic thinking)."""
    body = rec.body or {}
    if rec.dialect == "openai":
        return body.get("reasoning_effort")
    if rec.dialect == "gemini":
        return _first(_gen_config(body), "thinkingConfig", "thinking_config")
    return body.get("thinking")


def response_schema(rec: RecordedRequest) -> dict[str, Any] | None:
    """The structured-output JSON schema sent upstream, if any."""
    body = rec.body or {}
    if rec.dialect == "openai":
        fmt = body.get("response_format") or {}
        return (fmt.get("json_schema") or {}).get("schema")
    if rec.dialect == "gemini":
        config = _gen_config(body)
        return _first(
            config,
            "response_json_schema",
            "responseJsonSchema",
            "response_schema",
            "responseSchema",
        )
    fmt = (body.get("output_config") or {}).get("format") or body.get("output_format") or {}
    return fmt.get("schema")


def images(rec: RecordedRequest) -> list[str]:
    """Every image sent, as 'data:<mime>' for inline data or the URL for links."""
    out: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, list):
            for item in node:
                walk(item)
        elif isinstance(node, dict):
            if node.get("type") == "image_url":
                url = node["image_url"]["url"]
                out.append(url.split(";")[0] if url.startswith("data:") else url)
            elif node.get("type") == "image":
                src = node.get("source") or {}
                out.append(src.get("url") or f"data:{src.get('media_type')}")
            elif "inline_data" in node or "inlineData" in node:
                data = _first(node, "inline_data", "inlineData")
                out.append(f"data:{_first(data, 'mime_type', 'mimeType')}")
            elif "file_data" in node or "fileData" in node:
                data = _first(node, "file_data", "fileData")
                out.append(_first(data, "file_uri", "fileUri"))
            else:
                for value in node.values():
                    walk(value)

    walk(turns(rec))
    return [i for i in out if not i.startswith("data:application/pdf")]


def tool_results(rec: RecordedRequest) -> list[dict[str, Any]]:
    """Tool results sent upstream: {'id', 'text', 'is_error'} (Gemini: id is the function name)."""
    out: list[dict[str, Any]] = []
    for turn in turns(rec):
        if rec.dialect == "openai":
            if turn["role"] == "tool":
                content = turn["content"]
                text = content if isinstance(content, str) else "\n".join(_texts(content))
                out.append({"id": turn["tool_call_id"], "text": text, "is_error": None})
        elif rec.dialect == "gemini":
            for part in turn.get("parts") or []:
                fr = _first(part, "function_response", "functionResponse")
                if fr:
                    text = "\n".join(_texts(fr.get("response")))
                    out.append({"id": fr.get("name"), "text": text, "is_error": None})
        elif isinstance(turn.get("content"), list):
            for block in turn["content"]:
                if block.get("type") == "tool_result":
                    text = "\n".join(_texts(block.get("content")))
                    out.append(
                        {
                            "id": block["tool_use_id"],
                            "text": text,
                            "is_error": block.get("is_error"),
                        }
                    )
    return out


def tool_calls(rec: RecordedRequest) -> list[dict[str, Any]]:
    """Assistant tool calls echoed upstream: {'id', 'name', 'input'} (Gemini has no ids)."""
    out: list[dict[str, Any]] = []
    for turn in turns(rec):
        if rec.dialect == "openai":
            for call in turn.get("tool_calls") or []:
                args = orjson.loads(call["function"]["arguments"] or "{}")
                out.append({"id": call["id"], "name": call["function"]["name"], "input": args})
        elif rec.dialect == "gemini":
            for part in turn.get("parts") or []:
                fc = _first(part, "function_call", "functionCall")
                if fc:
                    out.append({"id": fc.get("id"), "name": fc["name"], "input": fc.get("args")})
        elif isinstance(turn.get("content"), list):
            for block in turn["content"]:
                if block.get("type") == "tool_use":
                    out.append({"id": block["id"], "name": block["name"], "input": block["input"]})
    return out


def thought_signatures(rec: RecordedRequest) -> list[str]:
    """Gemini thoughtSignature values sent back on parts."""
    sigs = []
    for turn in turns(rec):
        for part in turn.get("parts") or []:
            sig = _first(part, "thoughtSignature", "thought_signature")
            if sig:
                sigs.append(sig)
    return sigs


def check_openai_tool_order(messages: list[dict[str, Any]]) -> None:
    """Every assistant tool_calls is followed at once by one tool message per call, in any order."""
    for i, msg in enumerate(messages):
        if msg["role"] == "tool":
            prev = messages[i - 1]
            assert prev["role"] in ("assistant", "tool"), f"tool message {i} after {prev['role']}"
        if msg["role"] == "assistant" and msg.get("tool_calls"):
            ids = {c["id"] for c in msg["tool_calls"]}
            following = messages[i + 1 : i + 1 + len(ids)]
            assert {m.get("tool_call_id") for m in following} == ids, (
                f"assistant {i} tool calls {ids} not answered right after"
            )
            assert all(m["role"] == "tool" for m in following)
