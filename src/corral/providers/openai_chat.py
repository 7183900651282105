"""The Chat Completions adapter: OpenAI, and every server that speaks its dialect.

DeepSeek, Ollama, vLLM and OpenRouter accept the same request but answer with small
differences: where usage and reasoning arrive, how tool calls are chunked, which finish reason
closes a tool call. This module absorbs them, so the runtime sees one kind of stream.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping, Sequence
from typing import Any

import openai
from openai import AsyncOpenAI

from corral.domain.conversation import Block, Text, Thinking, ToolCall, ToolResult
from corral.errors import ProviderError
from corral.providers import failures, openai_http, transport
from corral.providers.base import (
    ModelRequest,
    ProviderEvent,
    Stop,
    TextDelta,
    ThinkingDelta,
    ToolCallDelta,
    ToolCallStart,
    UsageUpdate,
)
from corral.providers.history import wire_call_ids

_NO_KEY = "none"
"""Sent when a request has no key: local servers ignore it, and the SDK would otherwise look
for one in the environment."""

_STOP_REASONS = {
    "stop": "end_turn",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "length": "max_tokens",
}

_REASONING_FIELDS = ("reasoning_content", "reasoning")
"""Where the compatible servers put the model's thinking: DeepSeek says `reasoning_content`,
Ollama and OpenRouter say `reasoning`; a server that sends both is read once."""


class OpenAIChatProvider:
    """Calls `/chat/completions` through the official SDK, one pooled client per endpoint.

    `name` is the provider named in error messages (`openai`, `deepseek`, `ollama`…). With
    `replay_reasoning`, an assistant turn's thinking goes back to the server as that message's
    `reasoning_content`, which DeepSeek requires on turns with tool calls; otherwise thinking is
    not sent back at all.
    """

    def __init__(
        self,
        name: str = "openai",
        *,
        replay_reasoning: bool = False,
        url_variable: str | None = None,
    ) -> None:
        self.name = name
        self._replay_reasoning = replay_reasoning
        self._url_variable = url_variable
        """The server's variable for this provider's base URL (`OLLAMA_BASE_URL`), for errors."""
        # OpenAI deprecated `max_tokens` and its reasoning models refuse it; every compatible
        # server knows `max_tokens`, not all of them the newer name.
        self._max_tokens_param = "max_completion_tokens" if name == "openai" else "max_tokens"
        self._endpoints = openai_http.OpenAIEndpoints()

    async def stream(self, request: ModelRequest) -> AsyncIterator[ProviderEvent]:
        """Make the call; a plain request when `request.stream` is false."""
        client = self._endpoints.client(request.api_key or _NO_KEY, request.base_url)
        params = self._params(request)
        try:
            if request.stream:
                async for event in self._streamed(client, params):
                    yield event
            else:
                completion = await self._endpoints.answer(client, "/chat/completions", params)
                for event in _completion_events(self.name, completion):
                    yield event
        except transport.NETWORK_ERRORS as exc:  # timeouts included
            raise failures.connection_lost(
                self.name,
                exc,
                base_url=str(client.base_url).rstrip("/"),
                url_variable=self._url_variable,
            ) from exc
        except openai.APIError as exc:
            raise self._failure(exc) from exc

    async def aclose(self) -> None:
        """Close every SDK client and connection this adapter opened."""
        await self._endpoints.aclose()

    def _params(self, request: ModelRequest) -> dict[str, Any]:
        params: dict[str, Any] = {
            "model": request.model,
            "messages": _chat_messages(request, replay_reasoning=self._replay_reasoning),
        }
        if request.tools:
            params["tools"] = [
                _tool(tool.name, tool.description, tool.parameters) for tool in request.tools
            ]
        if request.max_output_tokens is not None:
            params[self._max_tokens_param] = request.max_output_tokens
        if request.settings.temperature is not None:
            params["temperature"] = request.settings.temperature
        if request.settings.reasoning_effort:
            params["reasoning_effort"] = request.settings.reasoning_effort
        return params

    async def _streamed(
        self, client: AsyncOpenAI, params: dict[str, Any]
    ) -> AsyncIterator[ProviderEvent]:
        reader = _ChunkReader()
        params = {**params, "stream_options": {"include_usage": True}}
        chunks = self._endpoints.payloads(client, "/chat/completions", params)
        async with contextlib.aclosing(chunks):
            async for chunk in chunks:
                for event in reader.read(chunk):
                    yield event
        # A stream may end without `[DONE]`; every complete answer names a finish reason, so a
        # stream without one was cut short.
        if reader.finish_reason is None:
            lost = ConnectionError("the stream ended before the answer was complete")
            raise failures.connection_lost(self.name, lost)
        yield reader.stop()

    def _failure(self, exc: openai.APIError) -> ProviderError:
        """The run failure an error answer stands for, or an error sent inside a stream."""
        body: dict[str, Any] = exc.body if isinstance(exc.body, dict) else {}
        message = body.get("message")
        if not isinstance(message, str):
            message = exc.message
        metadata = body.get("metadata")
        if isinstance(metadata, dict) and isinstance(metadata.get("raw"), str):
            message = f"{message}: {metadata['raw']}"  # OpenRouter: the upstream's own words
        code = body.get("code")
        error_type = next((v for v in (code, body.get("type")) if isinstance(v, str)), None)
        headers: Mapping[str, str] | None = None
        if isinstance(exc, openai.APIStatusError):
            status, headers = exc.status_code, exc.response.headers
        elif isinstance(code, int) and 400 <= code < 600:
            status = code  # an error event mid-stream; OpenRouter puts the status in `code`
        else:
            status = 500  # the server failed after its answer had begun
        return failures.from_status(self.name, status, message, headers, error_type=error_type)


def _chat_messages(
    request: ModelRequest, *, replay_reasoning: bool = False
) -> list[dict[str, Any]]:
    """The request's instructions and conversation as Chat Completions messages."""
    ids = wire_call_ids(request.messages)
    wire: list[dict[str, Any]] = []
    if request.instructions:
        wire.append({"role": "system", "content": request.instructions})
    for message in request.messages:
        parts = message.blocks()
        if message.role == "assistant":
            wire.append(_assistant_message(parts, ids, replay_reasoning=replay_reasoning))
        elif message.role == "tool":
            wire.extend(
                {
                    "role": "tool",
                    "tool_call_id": ids.get(part.call_id, part.call_id),
                    "content": part.output,
                }
                for part in parts
                if isinstance(part, ToolResult)
            )
        else:
            wire.append({"role": "user", "content": _joined(parts, Text)})
    return wire


def _assistant_message(
    parts: Sequence[Block], ids: dict[str, str], *, replay_reasoning: bool
) -> dict[str, Any]:
    calls = [
        {
            "id": ids[part.call_id],
            "type": "function",
            "function": {"name": part.name, "arguments": json.dumps(part.input)},
        }
        for part in parts
        if isinstance(part, ToolCall)
    ]
    text = _joined(parts, Text)
    # Content may be null only beside tool calls.
    message: dict[str, Any] = {"role": "assistant", "content": text or (None if calls else "")}
    if calls:
        message["tool_calls"] = calls
    if replay_reasoning:
        message["reasoning_content"] = _joined(parts, Thinking)
    return message


def _joined(parts: Iterable[Block], kind: type[Text | Thinking]) -> str:
    return "\n\n".join(part.text for part in parts if isinstance(part, kind) and part.text)


def _tool(name: str, description: str, parameters: dict[str, Any]) -> dict[str, Any]:
    function: dict[str, Any] = {"name": name, "parameters": parameters}
    if description:
        function["description"] = description
    return {"type": "function", "function": function}


class _ChunkReader:
    """Turns one call's stream chunks into provider events, a chunk at a time.

    Tool calls are matched by their `index`; a server that sends whole calls without one
    (Ollama) gets a new call for every new id.
    """

    def __init__(self) -> None:
        self._slots: dict[int | str, int] = {}
        self._call_ids: list[str | None] = []
        self.finish_reason: str | None = None

    def read(self, chunk: dict[str, Any]) -> list[ProviderEvent]:
        """The events of one chunk (only the first choice counts: Corral asks for one)."""
        events: list[ProviderEvent] = []
        if choices := chunk.get("choices"):
            choice = choices[0]
            if delta := choice.get("delta"):
                self._delta(delta, events)
            if finish_reason := choice.get("finish_reason"):
                self.finish_reason = finish_reason
        # OpenAI sends usage in a chunk of its own, DeepSeek on the finish chunk, Ollama never.
        usage = chunk.get("usage")
        if usage is not None:
            events.append(_usage_update(usage))
        return events

    def stop(self) -> Stop:
        """The stop event, once the stream is over."""
        return Stop(_stop_reason(self.finish_reason, has_tool_calls=bool(self._call_ids)))

    def _delta(self, delta: dict[str, Any], events: list[ProviderEvent]) -> None:
        if thinking := _reasoning_of(delta):
            events.append(ThinkingDelta(thinking))
        if content := delta.get("content"):
            events.append(TextDelta(content))
        for call in delta.get("tool_calls") or ():
            index, is_new = self._slot(call)
            function = call.get("function") or {}
            if is_new:
                events.append(ToolCallStart(index, function.get("name") or "", call.get("id")))
            if arguments := function.get("arguments"):
                events.append(ToolCallDelta(index, arguments))

    def _slot(self, call: dict[str, Any]) -> tuple[int, bool]:
        """The event index of a tool call fragment, and whether it starts a call."""
        wire_index: int | None = call.get("index")
        call_id: str | None = call.get("id")
        if wire_index is None and call_id is None and self._call_ids:
            return len(self._call_ids) - 1, False
        key: int | str = wire_index if wire_index is not None else f"id:{call_id}"
        slot = self._slots.get(key)
        if slot is not None and (call_id is None or self._call_ids[slot] in (None, call_id)):
            return slot, False
        slot = len(self._call_ids)
        self._call_ids.append(call_id)
        self._slots[key] = slot
        return slot, True


def _completion_events(provider: str, completion: Any) -> Iterator[ProviderEvent]:
    """The events of a whole (non-streamed) answer."""
    choices = completion.get("choices") if isinstance(completion, dict) else None
    if not choices:
        raise ProviderError(f"{provider}: the answer held no choices", retryable=True)
    choice = choices[0]
    message = choice.get("message") or {}
    if thinking := _reasoning_of(message):
        yield ThinkingDelta(thinking)
    if content := message.get("content"):
        yield TextDelta(content)
    calls = message.get("tool_calls") or []
    for index, call in enumerate(calls):
        function = call.get("function")  # only function tools are offered
        if function is None:
            continue
        yield ToolCallStart(index, function.get("name"), call.get("id"))
        if arguments := function.get("arguments"):
            yield ToolCallDelta(index, arguments)
    usage = completion.get("usage")
    if usage is not None:
        yield _usage_update(usage)
    yield Stop(_stop_reason(choice.get("finish_reason"), has_tool_calls=bool(calls)))


def _reasoning_of(part: dict[str, Any]) -> str | None:
    """The thinking text a message or delta carries, under whichever name its server uses."""
    for field in _REASONING_FIELDS:
        value = part.get(field)
        if value and isinstance(value, str):
            return value
    return None


def _usage_update(usage: dict[str, Any]) -> UsageUpdate:
    """Chat Completions usage as Corral counts it; `prompt_tokens` includes cached tokens."""
    prompt_details = usage.get("prompt_tokens_details")
    cached = prompt_details.get("cached_tokens") if prompt_details else None
    if not cached:
        cached = usage.get("prompt_cache_hit_tokens")  # DeepSeek's own name
    details = usage.get("completion_tokens_details")
    return UsageUpdate(
        input_tokens=usage.get("prompt_tokens") or 0,
        output_tokens=usage.get("completion_tokens") or 0,
        cache_read_tokens=cached if isinstance(cached, int) else 0,
        reasoning_tokens=(details.get("reasoning_tokens") or 0) if details else 0,
    )


def _stop_reason(finish_reason: str | None, *, has_tool_calls: bool) -> str:
    """Corral's stop reason for a finish reason.

    Ollama ends a turn of tool calls with `stop`; a turn with calls is a `tool_use` turn
    unless it ran out of tokens.
    """
    reason = _STOP_REASONS.get(finish_reason or "stop", finish_reason or "end_turn")
    if has_tool_calls and reason == "end_turn":
        return "tool_use"
    return reason
