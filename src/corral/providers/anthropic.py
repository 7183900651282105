"""The Anthropic Messages API adapter.

Translates a Corral conversation into a Messages request, the answer (streamed or whole) into
provider events, and every SDK failure into `ProviderError`. The translation functions are pure;
only `AnthropicProvider` talks to the network.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp
import anthropic

from corral.domain.conversation import Block, Message, Text, Thinking, ToolCall, ToolResult
from corral.errors import ProviderError
from corral.providers import failures, history, transport, wire
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
from corral.providers.sse import Frame, SSEDecoder
from corral.types.errors import ErrorCode

PROVIDER = "anthropic"
"""The provider's name in error messages."""

_PATH = "/v1/messages"
_DEFAULT_MAX_TOKENS = 8192
_CLAUDE_3_MAX_TOKENS = 4096
_CLAUDE_3_MODELS = ("claude-3-opus", "claude-3-sonnet", "claude-3-haiku")
"""The first Claude 3 models write at most 4096 tokens; later ones allow 8192 or more."""

_STOP_REASONS = {
    "end_turn": "end_turn",
    "stop_sequence": "end_turn",
    "tool_use": "tool_use",
    "max_tokens": "max_tokens",
}
_STREAM_ERROR_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "overloaded_error": 529,
}
"""The HTTP status each error type stands for when it arrives inside a stream that began 200."""


def max_tokens(request: ModelRequest) -> int:
    """The request's output limit, else the model family's usual one plus the thinking budget.

    Anthropic counts thinking within `max_tokens` and requires it to exceed the budget.
    """
    if request.max_output_tokens is not None:
        return request.max_output_tokens
    claude_3 = request.model.startswith(_CLAUDE_3_MODELS)
    limit = _CLAUDE_3_MAX_TOKENS if claude_3 else _DEFAULT_MAX_TOKENS
    return limit + (request.settings.thinking_budget_tokens or 0)


def wire_messages(messages: Sequence[Message]) -> list[dict[str, Any]]:
    """The conversation as Messages API turns.

    Tool results travel in a user turn, and consecutive turns of one role are merged, since the
    API wants user and assistant to alternate.
    """
    ids = history.wire_call_ids(messages)
    turns: list[dict[str, Any]] = []
    for message in messages:
        role = "assistant" if message.role == "assistant" else "user"
        content = [
            translated
            for block in message.blocks()
            if (translated := _wire_block(block, ids)) is not None
        ]
        if not content:
            continue
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(content)
        else:
            turns.append({"role": role, "content": content})
    return turns


def _wire_block(block: Block, ids: dict[str, str]) -> dict[str, Any] | None:
    """One Corral block as a Messages content block, or None when Anthropic cannot take it.

    Thinking goes back only with Anthropic's signature; blocks with an `id` (other providers'
    reasoning) are dropped.
    """
    match block:
        case Text(text=text):
            return {"type": "text", "text": text} if text else None
        case Thinking(text=text, signature=signature, id=block_id):
            if not signature or block_id is not None:
                return None
            return {"type": "thinking", "thinking": text, "signature": signature}
        case ToolCall(call_id=call_id, name=name, input=arguments):
            return {
                "type": "tool_use",
                "id": ids.get(call_id, call_id),
                "name": name,
                "input": arguments,
            }
        case ToolResult(call_id=call_id, output=output, is_error=is_error):
            tool_use_id = ids.get(call_id, call_id)
            result: dict[str, Any] = {"type": "tool_result", "tool_use_id": tool_use_id}
            if output:
                result["content"] = output
            if is_error:
                result["is_error"] = True
            return result


def request_params(request: ModelRequest) -> dict[str, Any]:
    """The Messages request body, without its `stream` flag."""
    params: dict[str, Any] = {
        "model": request.model,
        "max_tokens": max_tokens(request),
        "messages": wire_messages(request.messages),
    }
    if request.instructions:
        params["system"] = request.instructions
    if request.tools:
        params["tools"] = [
            {"name": tool.name, "description": tool.description, "input_schema": tool.parameters}
            for tool in request.tools
        ]
    if request.settings.temperature is not None:
        params["temperature"] = request.settings.temperature
    if budget := request.settings.thinking_budget_tokens:
        params["thinking"] = {"type": "enabled", "budget_tokens": budget}
    return params


@dataclass
class UsageTally:
    """Running token counts of one call; Anthropic reports some in `message_start` only."""

    uncached_input: int = 0
    cache_read: int = 0
    cache_write: int = 0
    output: int = 0
    reasoning: int = 0

    def update(self, usage: dict[str, Any]) -> UsageUpdate:
        """Take the counts `usage` carries and return the totals so far."""
        if (uncached := usage.get("input_tokens")) is not None:
            self.uncached_input = uncached
        if (cache_read := usage.get("cache_read_input_tokens")) is not None:
            self.cache_read = cache_read
        if (cache_write := usage.get("cache_creation_input_tokens")) is not None:
            self.cache_write = cache_write
        self.output = usage.get("output_tokens", self.output)
        if (details := usage.get("output_tokens_details")) is not None:
            self.reasoning = details.get("thinking_tokens") or 0
        return UsageUpdate(
            input_tokens=self.uncached_input + self.cache_read + self.cache_write,
            output_tokens=self.output,
            cache_read_tokens=self.cache_read,
            cache_write_tokens=self.cache_write,
            reasoning_tokens=self.reasoning,
        )


def stop_reason(raw: str | None) -> str:
    """Anthropic's stop reason in Corral's words; unknown ones pass through."""
    if raw is None:
        return "end_turn"
    return _STOP_REASONS.get(raw, raw)


def _block_events(index: int, block: dict[str, Any]) -> list[ProviderEvent]:
    """The events a content block stands for, whole or as it starts in a stream.

    Redacted thinking and server-side tool blocks are skipped: Corral cannot replay them.
    """
    kind = block.get("type")
    if kind == "text":
        return [TextDelta(block["text"])] if block.get("text") else []
    if kind == "thinking":
        thinking, signature = block.get("thinking") or "", block.get("signature")
        if not thinking and not signature:
            return []
        return [ThinkingDelta(thinking, signature=signature or None)]
    if kind == "tool_use":
        events: list[ProviderEvent] = [ToolCallStart(index, block["name"], call_id=block["id"])]
        if block.get("input"):
            events.append(ToolCallDelta(index, json.dumps(block["input"])))
        return events
    return []


def _delta_events(index: int, delta: dict[str, Any]) -> list[ProviderEvent]:
    kind = delta.get("type")
    if kind == "text_delta":
        return [TextDelta(delta["text"])] if delta.get("text") else []
    if kind == "input_json_delta":
        partial = delta.get("partial_json")
        return [ToolCallDelta(index, partial)] if partial else []
    if kind == "thinking_delta":
        return [ThinkingDelta(delta["thinking"])] if delta.get("thinking") else []
    if kind == "signature_delta":
        return [ThinkingDelta("", signature=delta["signature"])]
    return []


def message_events(message: dict[str, Any]) -> list[ProviderEvent]:
    """A whole (non-streamed) answer as the events a stream of it would give."""
    events: list[ProviderEvent] = []
    for index, block in enumerate(message["content"]):
        events.extend(_block_events(index, block))
    events.append(UsageTally().update(message["usage"]))
    events.append(Stop(stop_reason(message.get("stop_reason"))))
    return events


class StreamTranslator:
    """Turns the raw Messages stream into provider events, one server-sent event at a time.

    Tool calls are indexed by their content block's index, which orders them as the model
    wrote them.
    """

    def __init__(self) -> None:
        self._usage = UsageTally()
        self._stopped = False
        self.is_finished = False
        """Whether `message_stop` arrived; a stream that ends without it was cut off."""

    def feed(self, event: dict[str, Any]) -> list[ProviderEvent]:
        """The provider events one stream event (its JSON data) stands for."""
        kind = event.get("type")
        if kind == "content_block_delta":
            return _delta_events(event["index"], event["delta"])
        if kind == "content_block_start":
            return _block_events(event["index"], event["content_block"])
        if kind == "message_start":
            return [self._usage.update(event["message"]["usage"])]
        if kind == "message_delta":
            events: list[ProviderEvent] = [self._usage.update(event["usage"])]
            reason = event["delta"].get("stop_reason")
            if reason is not None:
                events.append(Stop(stop_reason(reason)))
                self._stopped = True
            return events
        if kind == "message_stop":
            self.is_finished = True
            return [] if self._stopped else [Stop("end_turn")]
        return []


def status_error(error: anthropic.APIStatusError) -> ProviderError:
    """The run failure of an error answer, or of an `error` event in the middle of a stream."""
    status = error.status_code
    if status < 400:
        status = _STREAM_ERROR_STATUS.get(error.type or "", 500)
    return failures.from_status(
        PROVIDER,
        status,
        error.api_message or error.message,
        dict(error.response.headers),
        error_type=error.type,
    )


def _stream_error(frame: Frame, response: aiohttp.ClientResponse) -> anthropic.APIStatusError:
    """The SDK's error for an `error` event inside a stream that began with status 200."""
    answer = transport.sdk_response(str(response.url), response.status, response.headers)
    text = frame.data.decode(errors="replace")
    body: object = text
    try:
        body = wire.decode(frame.data)
        message = f"{body}"
    except ValueError:
        message = text or f"Error code: {response.status}"
    return anthropic.APIStatusError(message, response=answer, body=body)


class AnthropicProvider:
    """Calls the Messages API; the SDK client says what to send, `transport` sends it.

    One client per endpoint, and one connection pool for all; each call wears its run's key,
    since runs may bring keys of their own.
    """

    def __init__(self) -> None:
        self._clients = transport.SDKClients(_new_client)
        self._http = transport.ProviderHTTP()

    async def stream(self, request: ModelRequest) -> AsyncIterator[ProviderEvent]:
        """Yield the call's events; raise `ProviderError` on failure.

        The key must come with the request: the SDK's own lookup in the environment is not used.
        The answer is read as raw bytes: the typed `messages.create` builds a pydantic model per
        streamed event, which costs more CPU than all the rest of a streamed token's way.
        """
        if not request.api_key:
            raise ProviderError(
                f"{PROVIDER}: no API key is configured", code=ErrorCode.MISSING_PROVIDER_KEY
            )
        client = self._clients.get(request.api_key, request.base_url)
        params = request_params(request)
        try:
            if request.stream:
                async for event in self._streamed(client, params):
                    yield event
            else:
                body = wire.encode({**params, "stream": False})
                async with self._http.post(client, _PATH, body) as response:
                    answer = wire.decode(await response.read())
                for event in message_events(answer):
                    yield event
        except anthropic.APIStatusError as exc:
            raise status_error(exc) from exc
        except transport.NETWORK_ERRORS as exc:  # timeouts included
            raise failures.connection_lost(PROVIDER, exc) from exc

    async def _streamed(
        self, client: anthropic.AsyncAnthropic, params: dict[str, Any]
    ) -> AsyncIterator[ProviderEvent]:
        translator = StreamTranslator()
        decoder = SSEDecoder()
        body = wire.encode({**params, "stream": True})
        async with self._http.post(client, _PATH, body) as response:
            async for chunk in response.content.iter_any():
                for frame in decoder.feed(chunk):
                    # As the SDK reads the stream: unnamed events and pings carry nothing.
                    if frame.event is None or frame.event == b"ping":
                        continue
                    if frame.event == b"error":
                        raise _stream_error(frame, response)
                    if frame.data:
                        for event in translator.feed(wire.decode(frame.data)):
                            yield event
        if not translator.is_finished:
            cut_off = EOFError("the stream ended before message_stop")
            raise failures.connection_lost(PROVIDER, cut_off)

    async def aclose(self) -> None:
        """Close the SDK clients and the connections."""
        await self._clients.aclose()
        await self._http.aclose()


def _new_client(api_key: str, base_url: str | None) -> anthropic.AsyncAnthropic:
    # Corral retries failed calls itself, with its own backoff and budget.
    return anthropic.AsyncAnthropic(api_key=api_key, base_url=base_url, max_retries=0)
