"""OpenAI's Responses API behind Corral's provider interface.

Corral keeps the conversation, so every call is stateless (`store: false`): the whole
conversation goes out each time, and reasoning comes back as encrypted items that are replayed
verbatim on later turns. SDK errors and failed responses become `ProviderError` here.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from typing import Any

import openai
from openai.types.responses import (
    Response,
    ResponseCompletedEvent,
    ResponseErrorEvent,
    ResponseFailedEvent,
    ResponseFunctionCallArgumentsDeltaEvent,
    ResponseFunctionToolCall,
    ResponseIncompleteEvent,
    ResponseOutputItem,
    ResponseOutputItemAddedEvent,
    ResponseOutputItemDoneEvent,
    ResponseOutputMessage,
    ResponseReasoningItem,
    ResponseReasoningSummaryPartAddedEvent,
    ResponseReasoningSummaryTextDeltaEvent,
    ResponseReasoningTextDeltaEvent,
    ResponseRefusalDeltaEvent,
    ResponseStreamEvent,
    ResponseTextDeltaEvent,
    ResponseUsage,
)

from corral.domain.conversation import Message, Text, Thinking, ToolCall, ToolResult
from corral.domain.tools import ToolSchema
from corral.errors import ProviderError
from corral.providers import failures, history
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
from corral.types.errors import ErrorCode

PROVIDER = "openai"
"""The provider name in error messages."""

_TIMEOUT = openai.Timeout(600.0, connect=10.0)
_REASONING_PREFIX = "rs_"
"""Thinking blocks whose id has this prefix are OpenAI reasoning items; others are dropped."""
_PART_BREAK = "\n\n"
"""Joins the texts of separate output messages, and of reasoning summary parts."""
_FAILURE_STATUS = {"server_error": 500, "rate_limit_exceeded": 429, "vector_store_timeout": 504}
"""The HTTP status a failed response's error code stands for (others read as a bad request)."""


class OpenAIResponsesProvider:
    """Streams model calls through `POST /v1/responses`."""

    def __init__(self) -> None:
        self._clients: dict[str | None, openai.AsyncOpenAI] = {}

    async def stream(self, request: ModelRequest) -> AsyncIterator[ProviderEvent]:
        """Yield the call's events; raise `ProviderError` on failure."""
        client = self._client(request)
        params = request_params(request)
        translator = ResponseTranslator()
        try:
            if request.stream:
                events = await client.responses.create(stream=True, **params)
                async with events:
                    async for event in events:
                        for out in translator.feed(event):
                            yield out
                if not translator.is_finished:
                    cut = EOFError("the stream ended before the response was complete")
                    raise failures.connection_lost(PROVIDER, cut)
            else:
                response = await client.responses.create(stream=False, **params)
                for out in translator.whole(response):
                    yield out
        except openai.APIStatusError as exc:
            raise _status_error(exc) from exc
        except openai.APIConnectionError as exc:
            raise failures.connection_lost(PROVIDER, exc) from exc
        except openai.APIError as exc:  # an error event inside a stream
            raise _failure(exc.code or exc.type, exc.message) from exc

    async def aclose(self) -> None:
        """Close the SDK clients and their connections."""
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.close()

    def _client(self, request: ModelRequest) -> openai.AsyncOpenAI:
        if not request.api_key:
            # Never let the SDK fall back to the process environment for a key.
            raise ProviderError(
                f"{PROVIDER}: no API key configured", code=ErrorCode.PROVIDER_AUTH_ERROR
            )
        # One pooled client per endpoint, wearing this call's key (runs may bring their own).
        pooled = self._clients.get(request.base_url)
        if pooled is None:
            pooled = openai.AsyncOpenAI(
                api_key=request.api_key,
                base_url=request.base_url,
                max_retries=0,
                timeout=_TIMEOUT,
            )
            self._clients[request.base_url] = pooled
        if pooled.api_key == request.api_key:
            return pooled
        return pooled.with_options(api_key=request.api_key)


def request_params(request: ModelRequest) -> dict[str, Any]:
    """The body of the `responses.create` call for `request`, without `stream`."""
    params: dict[str, Any] = {
        "model": request.model,
        "input": input_items(request.messages),
        "store": False,
        "include": ["reasoning.encrypted_content"],
    }
    if request.instructions:
        params["instructions"] = request.instructions
    if request.tools:
        params["tools"] = [_tool(tool) for tool in request.tools]
    if request.max_output_tokens is not None:
        params["max_output_tokens"] = request.max_output_tokens
    if request.settings.temperature is not None:
        params["temperature"] = request.settings.temperature
    if request.settings.reasoning_effort is not None:
        params["reasoning"] = {"effort": request.settings.reasoning_effort}
    return params


def _tool(tool: ToolSchema) -> dict[str, Any]:
    # `strict` is left to the API: it applies strict mode by itself when the schema allows it.
    return {
        "type": "function",
        "name": tool.name,
        "description": tool.description,
        "parameters": tool.parameters,
    }


def input_items(messages: Sequence[Message]) -> list[dict[str, Any]]:
    """A Corral conversation as Responses API input items, with OpenAI's own call ids."""
    call_ids = history.wire_call_ids(messages)
    items: list[dict[str, Any]] = []
    for message in messages:
        role = message.role
        if role == "user":
            items.extend(_user_items(message))
        elif role == "assistant":
            items.extend(_assistant_items(message, call_ids))
        elif role == "tool":
            items.extend(
                {
                    "type": "function_call_output",
                    "call_id": call_ids.get(block.call_id, block.call_id),
                    "output": block.output,
                }
                for block in message.blocks()
                if isinstance(block, ToolResult)
            )
    return items


def _user_items(message: Message) -> list[dict[str, Any]]:
    texts = [block.text for block in message.blocks() if isinstance(block, Text)]
    if not texts:
        return []
    if len(texts) == 1:
        return [{"role": "user", "content": texts[0]}]
    parts = [{"type": "input_text", "text": text} for text in texts]
    return [{"role": "user", "content": parts}]


def _assistant_items(message: Message, call_ids: dict[str, str]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for block in message.blocks():
        match block:
            case Thinking():
                items.extend(_reasoning_item(block))
            case Text(text=text) if text:
                items.append({"role": "assistant", "content": text})
            case ToolCall():
                items.append(
                    {
                        "type": "function_call",
                        "call_id": call_ids.get(block.call_id, block.call_id),
                        "name": block.name,
                        "arguments": json.dumps(block.input),
                    }
                )
    return items


def _reasoning_item(block: Thinking) -> list[dict[str, Any]]:
    """The reasoning item a thinking block came from, if it is one OpenAI can read back.

    With `store: false` the API knows a reasoning item only by its encrypted content, so a
    block without it (or from another provider) cannot be replayed.
    """
    block_id = block.id or ""
    if not block_id.startswith(_REASONING_PREFIX) or not block.signature:
        return []
    summary = [{"type": "summary_text", "text": block.text}] if block.text else []
    return [
        {
            "type": "reasoning",
            "id": block_id,
            "encrypted_content": block.signature,
            "summary": summary,
        }
    ]


class ResponseTranslator:
    """Turns the Responses API's stream events, or a whole response, into provider events."""

    def __init__(self) -> None:
        self.is_finished = False
        self._has_calls = False
        self._has_text = False
        self._streamed: set[int] = set()
        """Output indices whose content arrived as deltas (so the item's end repeats none)."""

    def feed(self, event: ResponseStreamEvent) -> list[ProviderEvent]:
        """The provider events one stream event stands for."""
        if isinstance(event, ResponseOutputItemAddedEvent):
            return self._item_added(event.output_index, event.item)
        if isinstance(event, ResponseOutputItemDoneEvent):
            return self._item_done(event.output_index, event.item)
        if isinstance(event, ResponseTextDeltaEvent | ResponseRefusalDeltaEvent):
            return self._text(event.output_index, event.delta)
        if isinstance(event, ResponseFunctionCallArgumentsDeltaEvent):
            self._streamed.add(event.output_index)
            return [ToolCallDelta(event.output_index, event.delta)]
        if isinstance(
            event, ResponseReasoningSummaryTextDeltaEvent | ResponseReasoningTextDeltaEvent
        ):
            self._streamed.add(event.output_index)
            return [ThinkingDelta(event.delta)] if event.delta else []
        if isinstance(event, ResponseReasoningSummaryPartAddedEvent):
            return [ThinkingDelta(_PART_BREAK)] if event.summary_index > 0 else []
        return self._terminal(event)

    def whole(self, response: Response) -> list[ProviderEvent]:
        """The provider events of a complete (non-streamed) response, in output order."""
        events: list[ProviderEvent] = []
        for index, item in enumerate(response.output):
            events += self._item_added(index, item)
            events += self._item_done(index, item)
        return events + self._finish(response)

    def _terminal(self, event: ResponseStreamEvent) -> list[ProviderEvent]:
        if isinstance(event, ResponseCompletedEvent | ResponseIncompleteEvent):
            return self._finish(event.response)
        if isinstance(event, ResponseFailedEvent):
            error = event.response.error
            if error is None:
                raise _failure(None, "the response failed")
            raise _failure(error.code, error.message)
        if isinstance(event, ResponseErrorEvent):
            raise _failure(event.code, event.message)
        return []

    def _item_added(self, index: int, item: ResponseOutputItem) -> list[ProviderEvent]:
        if isinstance(item, ResponseFunctionToolCall):
            self._has_calls = True
            return [ToolCallStart(index, item.name, call_id=item.call_id)]
        return []

    def _item_done(self, index: int, item: ResponseOutputItem) -> list[ProviderEvent]:
        """Whatever of a finished item did not arrive as deltas; closes reasoning blocks."""
        streamed = index in self._streamed
        if isinstance(item, ResponseReasoningItem):
            text = _PART_BREAK.join(part.text for part in item.summary)
            events: list[ProviderEvent] = [] if streamed or not text else [ThinkingDelta(text)]
            signature = item.encrypted_content or None
            return [*events, ThinkingDelta("", signature=signature, id=item.id)]
        if isinstance(item, ResponseOutputMessage) and not streamed:
            return self._text(index, _message_text(item))
        if isinstance(item, ResponseFunctionToolCall) and not streamed and item.arguments:
            return [ToolCallDelta(index, item.arguments)]
        return []

    def _text(self, index: int, text: str) -> list[ProviderEvent]:
        if not text:
            return []
        if index not in self._streamed and self._has_text:
            text = _PART_BREAK + text  # a new output message
        self._streamed.add(index)
        self._has_text = True
        return [TextDelta(text)]

    def _finish(self, response: Response) -> list[ProviderEvent]:
        self.is_finished = True
        has_calls = self._has_calls or any(
            isinstance(item, ResponseFunctionToolCall) for item in response.output
        )
        events: list[ProviderEvent] = []
        if response.usage is not None:
            events.append(_usage(response.usage))
        events.append(Stop(_stop_reason(response, has_calls=has_calls)))
        return events


def _message_text(item: ResponseOutputMessage) -> str:
    return "".join(
        part.text if part.type == "output_text" else part.refusal for part in item.content
    )


def _usage(usage: ResponseUsage) -> UsageUpdate:
    inputs, outputs = usage.input_tokens_details, usage.output_tokens_details
    return UsageUpdate(
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        cache_read_tokens=(inputs.cached_tokens or 0) if inputs else 0,
        cache_write_tokens=(inputs.cache_write_tokens or 0) if inputs else 0,
        reasoning_tokens=(outputs.reasoning_tokens or 0) if outputs else 0,
    )


def _stop_reason(response: Response, *, has_calls: bool) -> str:
    if response.status == "incomplete":
        details = response.incomplete_details
        reason = details.reason if details else None
        return "max_tokens" if reason == "max_output_tokens" else (reason or "incomplete")
    return "tool_use" if has_calls else "end_turn"


def _failure(code: str | None, message: str) -> ProviderError:
    """A response that failed after the HTTP answer began, as its HTTP status would read."""
    status = _FAILURE_STATUS.get(code or "server_error", 400)
    return failures.from_status(PROVIDER, status, message, error_type=code)


def _status_error(exc: openai.APIStatusError) -> ProviderError:
    detail = exc.body.get("message") if isinstance(exc.body, dict) else None
    message = detail if isinstance(detail, str) else exc.message
    return failures.from_status(
        PROVIDER,
        exc.status_code,
        message,
        exc.response.headers,
        error_type=exc.code or exc.type,
    )
