"""OpenAI's Responses API behind Corral's provider interface.

Corral keeps the conversation, so every call is stateless (`store: false`): the whole
conversation goes out each time, and reasoning comes back as encrypted items that are replayed
verbatim on later turns. SDK errors and failed responses become `ProviderError` here.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Sequence
from typing import Any

import openai

from corral.domain.conversation import Message, Text, Thinking, ToolCall, ToolResult
from corral.domain.tools import ToolSchema
from corral.errors import ProviderError
from corral.providers import failures, history, openai_http, transport
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

_REASONING_PREFIX = "rs_"
"""Thinking blocks whose id has this prefix are OpenAI reasoning items; others are dropped."""
_PART_BREAK = "\n\n"
"""Joins the texts of separate output messages, and of reasoning summary parts."""
_FAILURE_STATUS = {"server_error": 500, "rate_limit_exceeded": 429, "vector_store_timeout": 504}
"""The HTTP status a failed response's error code stands for (others read as a bad request)."""
_TEXT_DELTAS = ("response.output_text.delta", "response.refusal.delta")
_THINKING_DELTAS = ("response.reasoning_summary_text.delta", "response.reasoning_text.delta")


class OpenAIResponsesProvider:
    """Streams model calls through `POST /v1/responses`."""

    def __init__(self) -> None:
        self._endpoints = openai_http.OpenAIEndpoints()

    async def stream(self, request: ModelRequest) -> AsyncIterator[ProviderEvent]:
        """Yield the call's events; raise `ProviderError` on failure."""
        client = self._client(request)
        params = request_params(request)
        translator = ResponseTranslator()
        try:
            if request.stream:
                events = self._endpoints.payloads(client, "/responses", params)
                async with contextlib.aclosing(events):
                    async for event in events:
                        for out in translator.feed(event):
                            yield out
                if not translator.is_finished:
                    cut = EOFError("the stream ended before the response was complete")
                    raise failures.connection_lost(PROVIDER, cut)
            else:
                body = {**params, "stream": False}
                response = await self._endpoints.answer(client, "/responses", body)
                for out in translator.whole(response):
                    yield out
        except openai.APIStatusError as exc:
            raise _status_error(exc) from exc
        except transport.NETWORK_ERRORS as exc:  # timeouts included
            raise failures.connection_lost(PROVIDER, exc) from exc
        except openai.APIError as exc:  # an error event inside a stream
            raise _failure(exc.code or exc.type, exc.message) from exc

    async def aclose(self) -> None:
        """Close the SDK clients and their connections."""
        await self._endpoints.aclose()

    def _client(self, request: ModelRequest) -> openai.AsyncOpenAI:
        if not request.api_key:
            # Never let the SDK fall back to the process environment for a key.
            raise ProviderError(
                f"{PROVIDER}: no API key configured", code=ErrorCode.PROVIDER_AUTH_ERROR
            )
        return self._endpoints.client(request.api_key, request.base_url)


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
    """Turns the Responses API's stream events, or a whole response, into provider events.

    Events and responses are the API's JSON objects, read by their documented keys.
    """

    def __init__(self) -> None:
        self.is_finished = False
        self._has_calls = False
        self._has_text = False
        self._streamed: set[int] = set()
        """Output indices whose content arrived as deltas (so the item's end repeats none)."""

    def feed(self, event: dict[str, Any]) -> list[ProviderEvent]:
        """The provider events one stream event stands for."""
        kind = event.get("type")
        if kind in _TEXT_DELTAS:
            return self._text(event["output_index"], event["delta"])
        if kind == "response.function_call_arguments.delta":
            self._streamed.add(event["output_index"])
            return [ToolCallDelta(event["output_index"], event["delta"])]
        if kind in _THINKING_DELTAS:
            self._streamed.add(event["output_index"])
            return [ThinkingDelta(event["delta"])] if event["delta"] else []
        if kind == "response.output_item.added":
            return self._item_added(event["output_index"], event["item"])
        if kind == "response.output_item.done":
            return self._item_done(event["output_index"], event["item"])
        if kind == "response.reasoning_summary_part.added":
            return [ThinkingDelta(_PART_BREAK)] if event["summary_index"] > 0 else []
        return self._terminal(kind, event)

    def whole(self, response: dict[str, Any]) -> list[ProviderEvent]:
        """The provider events of a complete (non-streamed) response, in output order."""
        events: list[ProviderEvent] = []
        for index, item in enumerate(response["output"]):
            events += self._item_added(index, item)
            events += self._item_done(index, item)
        return events + self._finish(response)

    def _terminal(self, kind: object, event: dict[str, Any]) -> list[ProviderEvent]:
        if kind in ("response.completed", "response.incomplete"):
            return self._finish(event["response"])
        if kind == "response.failed":
            error = event["response"].get("error")
            if error is None:
                raise _failure(None, "the response failed")
            raise _reported_failure(error)
        if kind == "error":
            raise _reported_failure(event)
        return []

    def _item_added(self, index: int, item: dict[str, Any]) -> list[ProviderEvent]:
        if item.get("type") == "function_call":
            self._has_calls = True
            return [ToolCallStart(index, item["name"], call_id=item["call_id"])]
        return []

    def _item_done(self, index: int, item: dict[str, Any]) -> list[ProviderEvent]:
        """Whatever of a finished item did not arrive as deltas; closes reasoning blocks."""
        streamed = index in self._streamed
        kind = item.get("type")
        if kind == "reasoning":
            text = _PART_BREAK.join(part["text"] for part in item.get("summary") or ())
            events: list[ProviderEvent] = [] if streamed or not text else [ThinkingDelta(text)]
            signature = item.get("encrypted_content") or None
            return [*events, ThinkingDelta("", signature=signature, id=item["id"])]
        if kind == "message" and not streamed:
            return self._text(index, _message_text(item))
        if kind == "function_call" and not streamed and item.get("arguments"):
            return [ToolCallDelta(index, item["arguments"])]
        return []

    def _text(self, index: int, text: str) -> list[ProviderEvent]:
        if not text:
            return []
        if index not in self._streamed and self._has_text:
            text = _PART_BREAK + text  # a new output message
        self._streamed.add(index)
        self._has_text = True
        return [TextDelta(text)]

    def _finish(self, response: dict[str, Any]) -> list[ProviderEvent]:
        self.is_finished = True
        output = response.get("output") or ()
        has_calls = self._has_calls or any(item.get("type") == "function_call" for item in output)
        events: list[ProviderEvent] = []
        usage = response.get("usage")
        if usage is not None:
            events.append(_usage(usage))
        events.append(Stop(_stop_reason(response, has_calls=has_calls)))
        return events


def _message_text(item: dict[str, Any]) -> str:
    return "".join(
        part["text"] if part.get("type") == "output_text" else part.get("refusal") or ""
        for part in item.get("content") or ()
    )


def _usage(usage: dict[str, Any]) -> UsageUpdate:
    inputs, outputs = usage.get("input_tokens_details"), usage.get("output_tokens_details")
    return UsageUpdate(
        input_tokens=usage["input_tokens"],
        output_tokens=usage["output_tokens"],
        cache_read_tokens=(inputs.get("cached_tokens") or 0) if inputs else 0,
        cache_write_tokens=(inputs.get("cache_write_tokens") or 0) if inputs else 0,
        reasoning_tokens=(outputs.get("reasoning_tokens") or 0) if outputs else 0,
    )


def _stop_reason(response: dict[str, Any], *, has_calls: bool) -> str:
    if response.get("status") == "incomplete":
        details = response.get("incomplete_details")
        reason = details.get("reason") if details else None
        return "max_tokens" if reason == "max_output_tokens" else (reason or "incomplete")
    return "tool_use" if has_calls else "end_turn"


def _failure(code: str | None, message: str) -> ProviderError:
    """A response that failed after the HTTP answer began, as its HTTP status would read."""
    status = _FAILURE_STATUS.get(code or "server_error", 400)
    return failures.from_status(PROVIDER, status, message, error_type=code)


def _reported_failure(error: dict[str, Any]) -> ProviderError:
    """The failure of an `error` event, or of a failed response's `error` object."""
    code, message = error.get("code"), error.get("message")
    return _failure(
        code if isinstance(code, str) else None, message if isinstance(message, str) else ""
    )


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
