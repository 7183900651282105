"""The deterministic test model `test`: no key, no network, zero latency unless scripted.

Without directives it echoes the latest user message, or, when the caller's own or MCP tools are
offered, calls the first of them once (arguments made from its JSON Schema) and then answers
with the tool's result. Builtin tools are called only when a directive names them. Prompt
directives `[[name args]]`, in the user message or the agent's instructions, script the rest;
README.md lists them.

Like a real model it refuses a prompt larger than its context window (`context_length_exceeded`):
1,000,000 tokens for `test`, N for a model of the test API named `test-N` (declared in a catalog
override, to try context compaction), and tool results that answer no call. It answers a
request to summarize a conversation (compaction) with a short digest that counts the messages
summarized so far.
"""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from corral.domain.compaction import EARLIER_TAG, SUMMARY_INSTRUCTIONS, TRANSCRIPT_TAG
from corral.domain.conversation import Message, ToolCall, ToolResult, last_user_text
from corral.domain.tools import ToolSchema
from corral.errors import ProviderError
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
from corral.providers.catalog import TEST_MODEL
from corral.types.errors import ErrorCode

_DIRECTIVE = re.compile(r"\[\[\s*([a-z_]+)(?:\s+(.*?))?\s*\]\]", re.DOTALL)
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*(ms|s)?$")
_YIELD_EVERY = 100


@dataclass
class Script:
    """What the directives of a prompt ask the test model to do."""

    delay_s: float = 0.0
    stream_delay_s: float = 0.0
    deltas: int | None = None
    fail: tuple[str, str] | None = None
    tokens: tuple[int, int] | None = None
    calls: list[tuple[str, dict[str, Any] | None]] = field(default_factory=list)
    then: list[tuple[str, dict[str, Any] | None]] = field(default_factory=list)
    """Calls of the second turn, after the first turn's results."""
    loop: bool = False
    think: str | None = None
    reply: str | None = None
    show_instructions: bool = False


def _duration(text: str) -> float:
    match = _DURATION.match(text.strip())
    if not match:
        raise ProviderError(f"test model: bad duration {text!r} (use 250ms or 2s)")
    value = float(match.group(1))
    return value / 1000 if match.group(2) == "ms" else value


def _call(args: str) -> tuple[str, dict[str, Any] | None]:
    name, _, raw = args.strip().partition(" ")
    if not raw.strip():
        return name, None
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise ProviderError(f"test model: arguments of [[call {name}]] are not JSON") from None
    if not isinstance(value, dict):
        raise ProviderError(f"test model: arguments of [[call {name}]] must be an object")
    return name, value


def _fail(script: Script, args: str) -> None:
    code, _, message = args.strip().partition(" ")
    script.fail = (code or "provider_error", message or "scripted failure")


def _tokens_of(script: Script, args: str) -> None:
    first, second = args.split()
    script.tokens = (int(first), int(second))


def _unhex(text: str) -> str:
    try:
        return bytes.fromhex(text).decode()
    except ValueError:
        raise ProviderError(f"test model: {text!r} is not UTF-8 text in hex") from None


_DIRECTIVES: dict[str, Callable[[Script, str], None]] = {
    "delay": lambda script, args: setattr(script, "delay_s", _duration(args)),
    "stream_delay": lambda script, args: setattr(script, "stream_delay_s", _duration(args)),
    "deltas": lambda script, args: setattr(script, "deltas", max(int(args), 1)),
    "fail": _fail,
    "tokens": _tokens_of,
    "call": lambda script, args: script.calls.append(_call(args)),
    "then": lambda script, args: script.then.append(_call(args)),
    "loop": lambda script, _: setattr(script, "loop", True),
    "think": lambda script, args: setattr(script, "think", args),
    "reply": lambda script, args: setattr(script, "reply", args),
    "reply_hex": lambda script, args: setattr(script, "reply", _unhex(args)),
    "show_instructions": lambda script, _: setattr(script, "show_instructions", True),
}


def _apply(script: Script, name: str, args: str) -> None:
    directive = _DIRECTIVES.get(name)
    if directive is None:
        raise ProviderError(f"test model: unknown directive [[{name}]]")
    directive(script, args)


def parse_script(*texts: str) -> tuple[Script, str]:
    """The script of the given texts (later ones win) and the last text without directives."""
    script = Script()
    clean = ""
    for text in texts:
        for match in _DIRECTIVE.finditer(text):
            try:
                _apply(script, match.group(1), match.group(2) or "")
            except ValueError:
                raise ProviderError(f"test model: bad directive {match.group(0)!r}") from None
        clean = _DIRECTIVE.sub("", text).strip()
    return script, clean


def example_arguments(schema: dict[str, Any]) -> Any:
    """A value that satisfies a simple JSON Schema.

    Its default, its first enum value, or a placeholder of the right type.
    """
    if "default" in schema:
        return schema["default"]
    if schema.get("enum"):
        return schema["enum"][0]
    kind = schema.get("type", "object")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    if kind == "object":
        properties = schema.get("properties", {})
        return {name: example_arguments(sub) for name, sub in properties.items()}
    placeholders: dict[str, Any] = {
        "string": "example",
        "integer": 1,
        "number": 1.0,
        "boolean": True,
        "array": [],
        "null": None,
    }
    return placeholders.get(kind, "example")


def _tool_round(messages: Sequence[Message]) -> tuple[int, list[ToolResult]]:
    """How many tool rounds followed the last user message, and the latest results."""
    rounds = 0
    latest: list[ToolResult] = []
    for message in reversed(messages):
        if message.role == "user":
            break
        if message.role == "tool":
            rounds += 1
            if not latest:
                latest = [block for block in message.blocks() if isinstance(block, ToolResult)]
    return rounds, latest


def _chunks(text: str, count: int | None) -> list[str]:
    if count is not None:
        if len(text) < count:
            return [f"w{i} " for i in range(count)]
        size = math.ceil(len(text) / count)
        return [text[i : i + size] for i in range(0, len(text), size)]
    return re.findall(r"\S+\s*|\s+", text) or [text]


def _call_events(calls: list[tuple[str, dict[str, Any]]]) -> tuple[list[ProviderEvent], str]:
    """The events of the tool calls, and their arguments as one text.

    Each call's arguments arrive in two pieces; their size counts as output.
    """
    events: list[ProviderEvent] = []
    encoded_all = []
    for index, (name, arguments) in enumerate(calls):
        encoded = orjson.dumps(arguments).decode()
        encoded_all.append(encoded)
        events.append(ToolCallStart(index, name))
        half = len(encoded) // 2
        events.extend(ToolCallDelta(index, p) for p in (encoded[:half], encoded[half:]) if p)
    return events, "".join(encoded_all)


async def _text_events(script: Script, text: str) -> AsyncIterator[ProviderEvent]:
    """Thinking (if scripted), then the text in deltas."""
    if script.think:
        yield ThinkingDelta(script.think)
        yield ThinkingDelta("", signature="test-signature")
    for index, piece in enumerate(_chunks(text, script.deltas)):
        if script.stream_delay_s:
            await asyncio.sleep(script.stream_delay_s)
        elif index % _YIELD_EVERY == _YIELD_EVERY - 1:
            await asyncio.sleep(0)  # zero latency, but other tasks still get to run
        yield TextDelta(piece)


def _tokens(text: str) -> int:
    return max(1, math.ceil(len(text) / 4))


def _prompt_tokens(request: ModelRequest) -> int:
    """The input tokens the test model counts: its instructions' and conversation's JSON size."""
    conversation = [message.to_json() for message in request.messages]
    return max(1, math.ceil((len(request.instructions) + len(orjson.dumps(conversation))) / 4))


_SIZED = re.compile(r"test-(\d+)")
_ENTRY = re.compile(r"^\[(user|assistant|tool)\]$", re.MULTILINE)
_SUMMARIZED = re.compile(r"Summary of (\d+) messages")


def summary_digest(prompt: str) -> str:
    """The test model's summary: how many messages it stands for, and the latest user words.

    The count adds up over successive summaries (the earlier one's, plus the transcript's
    entries), which shows that no message was folded in twice or missed.
    """
    earlier, _, transcript = prompt.partition(f"<{TRANSCRIPT_TAG}>")
    found = _SUMMARIZED.search(earlier.partition(f"</{EARLIER_TAG}>")[0])
    count = int(found.group(1)) if found else 0
    entries = list(_ENTRY.finditer(transcript))
    said = ""
    for entry, following in zip(entries, [*entries[1:], None], strict=True):
        if entry.group(1) == "user":
            end = following.start() if following is not None else len(transcript)
            said = transcript[entry.end() : end].strip().split("\n", 1)[0]
    said = _DIRECTIVE.sub("", said).replace("[", "").replace("]", "").strip()[:60]
    return f"Summary of {count + len(entries)} messages. The last user message said: {said}"


def _window(model: str) -> int | None:
    """The context window of the test model named `model`, if it has one."""
    if model == TEST_MODEL.model:
        return TEST_MODEL.context_window
    sized = _SIZED.fullmatch(model)
    return int(sized.group(1)) if sized else None


def _check_window(request: ModelRequest, prompt_tokens: int) -> None:
    """Refuse a prompt larger than the model's window, as a provider does."""
    window = _window(request.model)
    if window is not None and prompt_tokens > window:
        raise ProviderError(
            f"test model: the prompt takes {prompt_tokens} tokens, more than the context "
            f"window of {request.model} ({window})",
            code=ErrorCode.CONTEXT_LENGTH_EXCEEDED,
            status=400,
        )


def _check_tool_results(messages: Sequence[Message]) -> None:
    """Refuse results that answer no call of the assistant message just before them.

    Every provider does; a conversation cut in the wrong place (compaction) would show it.
    """
    previous: Message | None = None
    for message in messages:
        if message.role == "tool":
            called: set[str] = set()
            if previous is not None and previous.role == "assistant":
                called = {b.call_id for b in previous.blocks() if isinstance(b, ToolCall)}
            answered = [b.call_id for b in message.blocks() if isinstance(b, ToolResult)]
            if not answered or not called.issuperset(answered):
                raise ProviderError(
                    "test model: tool results that answer no call of the message before them",
                    status=400,
                )
        previous = message


async def _summary_events(
    request: ModelRequest, prompt_tokens: int
) -> AsyncIterator[ProviderEvent]:
    """The answer to a summarization request: its digest (directives in it are not obeyed)."""
    digest = summary_digest(last_user_text(request.messages))
    for piece in _chunks(digest, None):
        yield TextDelta(piece)
    yield UsageUpdate(prompt_tokens, _tokens(digest))
    yield Stop("end_turn")


class ScriptedModel:
    """The provider behind model id `test`."""

    async def stream(self, request: ModelRequest) -> AsyncIterator[ProviderEvent]:
        """Play the script of the request's prompt."""
        prompt_tokens = _prompt_tokens(request)
        _check_window(request, prompt_tokens)
        _check_tool_results(request.messages)
        if request.instructions == SUMMARY_INSTRUCTIONS:
            async for event in _summary_events(request, prompt_tokens):
                yield event
            return
        script, clean = parse_script(request.instructions, last_user_text(request.messages))
        if script.delay_s:
            await asyncio.sleep(script.delay_s)
        if script.fail:
            code, message = script.fail
            raise ProviderError(message, code=code)
        rounds, results = _tool_round(request.messages)
        calls = self._calls(script, request.tools, rounds, results)
        if calls:
            events, output = _call_events(calls)
            for event in events:
                yield event
            stop = "tool_use"
        else:
            text = script.reply if script.reply is not None else self._answer(clean, results)
            if script.show_instructions:
                text = request.instructions
            async for event in _text_events(script, text):
                yield event
            output, stop = text, "end_turn"
        if script.tokens:
            yield UsageUpdate(*script.tokens)
        else:
            yield UsageUpdate(prompt_tokens, _tokens(output))
        yield Stop(stop)

    @staticmethod
    def _calls(
        script: Script, tools: list[ToolSchema], rounds: int, results: list[ToolResult]
    ) -> list[tuple[str, dict[str, Any]]]:
        by_name = {tool.name: tool for tool in tools}
        if rounds == 1 and script.then:
            return [
                (name, _from_results(args, results) if args is not None else {})
                for name, args in script.then
            ]
        if rounds > 0 and not script.loop:
            return []
        if script.calls:
            return [
                (name, args if args is not None else example_arguments(_schema(by_name, name)))
                for name, args in script.calls
            ]
        offered = [tool for tool in tools if tool.kind in ("client", "mcp")]
        if offered:
            return [(offered[0].name, example_arguments(offered[0].parameters))]
        return []

    @staticmethod
    def _answer(clean: str, results: list[ToolResult]) -> str:
        if not results:
            return clean
        lines = []
        for result in results:
            verb = "failed" if result.is_error else "returned"
            lines.append(f"{result.name} {verb}: {result.output}")
        return "\n".join(lines)


def _from_results(arguments: dict[str, Any], results: list[ToolResult]) -> dict[str, Any]:
    """`arguments` with each `"$result.KEY"` replaced by KEY of the first result's JSON."""
    try:
        first = orjson.loads(results[0].output) if results else {}
    except orjson.JSONDecodeError:
        first = {}
    found = first if isinstance(first, dict) else {}
    return {
        name: found.get(value.removeprefix("$result."))
        if isinstance(value, str) and value.startswith("$result.")
        else value
        for name, value in arguments.items()
    }


def _schema(tools: dict[str, ToolSchema], name: str) -> dict[str, Any]:
    tool = tools.get(name)
    return tool.parameters if tool else {"type": "object", "properties": {}}
