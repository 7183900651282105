"""Context compaction as a run does it: fold its oldest turns into a summary before a model call.

`fit` runs before every model call (`model_turn`). When the request would fill more than
`COMPACT_AT` of the window the model has for it, or when the provider refused it as too long,
the model is asked (through the run's own provider and endpoint, by `model_turn`'s retrying
call) to summarize the oldest messages; the run goes on with the summary and its latest
messages verbatim (`corral.domain.compaction`).

Crash safety: the summarization calls stream nothing, and their `usage` events and the
`context.compacted` event are checkpointed events, written in one transaction with the
checkpoint that carries the new summary (`RunState.context`). A worker that dies before that
write leaves neither, and the run that takes over summarizes again (the lost calls go uncounted,
as any call a crash cuts short); one that dies after it leaves both, and the run goes on from
the summary.

A run of a session starts from the session's latest summary (`storage.sessions.summary`) rather
than summarizing the session's whole history again, and leaves its own for the next runs
(`keep_summary`): each compaction summarizes only what came after the last one.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Awaitable, Callable

import orjson

from corral.domain import budgets
from corral.domain.budgets import CHARS_PER_TOKEN
from corral.domain.compaction import (
    SUMMARY_INSTRUCTIONS,
    ContextState,
    Summary,
    Window,
    choose_cut,
    chunks,
    clip,
    message_tokens,
    summary_prompt,
    text_tokens,
)
from corral.domain.conversation import Message
from corral.domain.events import BudgetWarning, ContextCompacted
from corral.domain.run_spec import ModelSettings
from corral.errors import ProviderError
from corral.providers.base import ModelRequest
from corral.runtime.accumulator import TurnResult
from corral.runtime.context import RunContext
from corral.storage import sessions as session_store
from corral.types.errors import ErrorCode

__all__ = ["Summarize", "fit", "measure"]

Summarize = Callable[[ModelRequest], Awaitable[TurnResult]]
"""Makes one summarization call (with the run's retries) and gives back its result."""

_SMALLEST_PIECE = 1_000
"""Bytes of transcript below which a piece refused as too long is not cut further."""


def _window(ctx: RunContext, request: ModelRequest) -> Window:
    thinking = request.settings.thinking_budget_tokens or 0
    return Window.of(ctx.entry.context_window, request.max_output_tokens, thinking)


def _fixed_tokens(request: ModelRequest) -> int:
    """What the instructions and the tool schemas take of every request."""
    tools = [[tool.name, tool.description, tool.parameters] for tool in request.tools]
    return text_tokens(request.instructions) + len(orjson.dumps(tools)) // CHARS_PER_TOKEN


def _estimate(fixed: int, context: ContextState, messages: list[Message]) -> int:
    return fixed + sum(map(message_tokens, context.view(messages)))


async def fit(
    ctx: RunContext, request: ModelRequest, summarize: Summarize, *, overflow: bool = False
) -> bool:
    """Compact the conversation before `request` is made, if it needs it; True if it did.

    `overflow`: the provider refused the request as too long, so the summary takes everything
    but the latest exchange.
    """
    state = ctx.state
    window = _window(ctx, request)
    fixed = _fixed_tokens(request)
    before = state.context.request_tokens(fixed, state.messages)
    if before <= window.threshold and not overflow:
        return False
    context = state.context
    if context.summary is None and ctx.run.session_id is not None and state.history:
        kept = await ctx.services.database.read(session_store.summary, ctx.run.session_id)
        if kept is not None and kept.covers <= state.history:
            context = ContextState(summary=kept)
    adopted = context.summarized
    calls = 0
    if overflow or _estimate(fixed, context, state.messages) > window.threshold:
        keep = 0 if overflow else window.keep_tokens(fixed)
        cut = choose_cut(state.messages, context.summarized, keep)
        if cut is not None:
            context, calls = await _fold(ctx, request, summarize, window, context, cut)
    if context.summary is None or context.summarized == state.context.summarized:
        return False
    state.context = context
    ctx.emit_checkpointed(
        ContextCompacted(
            trigger="overflow" if overflow else "threshold",
            messages_total=len(state.messages),
            messages_summarized=context.summarized,
            messages_newly_summarized=context.summarized - adopted,
            summary_calls=calls,
            summary_chars=len(context.summary.text),
            estimated_tokens_before=before,
            estimated_tokens_after=_estimate(fixed, context, state.messages),
        )
    )
    if calls and ctx.run.session_id is not None:
        summary = Summary(ctx.redactor.text(context.summary.text), context.summarized)
        await ctx.services.database.write(
            session_store.keep_summary,
            ctx.run.session_id,
            summary,
            run_id=ctx.run.id,
            history=state.history,
        )
    await ctx.save()
    return True


async def _fold(
    ctx: RunContext,
    request: ModelRequest,
    summarize: Summarize,
    window: Window,
    context: ContextState,
    cut: int,
) -> tuple[ContextState, int]:
    """The context with messages up to `cut` summarized, and how many calls that took.

    What is to be summarized goes in pieces that each should fit one call, every call folding
    its piece into the summary so far. A piece's size is only estimated (providers count
    tokens each their own way): one the provider refuses as too long is cut in two.
    """
    text = context.summary.text if context.summary is not None else ""
    pieces = deque(chunks(ctx.state.messages[context.summarized : cut], window.transcript_bytes()))
    calls = 0
    while pieces:
        piece = pieces.popleft()
        try:
            text = await _summarize(ctx, request, summarize, window, text, piece.text)
        except ProviderError as error:
            smaller = piece.max_bytes // 2
            if error.code != ErrorCode.CONTEXT_LENGTH_EXCEEDED or smaller < _SMALLEST_PIECE:
                raise
            ctx.model_call = None  # refused whole: nothing of it counts
            pieces.extendleft(reversed(chunks(piece.messages, smaller)))
            continue
        calls += 1
    return ContextState(summary=Summary(text, cut)), calls


async def _summarize(
    ctx: RunContext,
    request: ModelRequest,
    summarize: Summarize,
    window: Window,
    earlier: str,
    transcript: str,
) -> str:
    """One summarization call: the earlier summary with `transcript` folded in."""
    prompt = summary_prompt(earlier, transcript, window.summary_tokens)
    # Room to reason before writing; no extended thinking, whose budget must fit below it.
    allowance = 2 * window.summary_tokens
    if request.max_output_tokens is not None:
        allowance = min(allowance, request.max_output_tokens)
    settings = request.settings
    result = await summarize(
        ModelRequest(
            model=request.model,
            instructions=SUMMARY_INSTRUCTIONS,
            messages=[Message("user", prompt)],
            max_output_tokens=allowance,
            settings=ModelSettings(
                temperature=settings.temperature, reasoning_effort=settings.reasoning_effort
            ),
            api_key=request.api_key,
            base_url=request.base_url,
            stream=request.stream,
        )
    )
    _count(ctx, result)
    # A model that wrote nothing still leaves the conversation readable, if clipped.
    written = result.text.strip() or f"{earlier}\n\n{transcript}".strip()
    return clip(written, window.summary_tokens * CHARS_PER_TOKEN)


def _count(ctx: RunContext, result: TurnResult) -> None:
    """A summarization call is paid for like any other: in the run's usage, with its event."""
    state = ctx.state
    spent_before = state.cost_usd
    ctx.count_usage(result.usage)
    if budgets.spend_warning_due(spent_before, state.cost_usd, ctx.budget):
        ctx.emit_checkpointed(
            BudgetWarning(
                limit="max_spend_usd",
                used_usd=state.cost_usd,
                cap_usd=ctx.budget.max_spend_usd or 0.0,
            )
        )
    budgets.check_spend(state.cost_usd, ctx.budget)


def measure(ctx: RunContext, result: TurnResult) -> None:
    """Keep what the provider counted of the call just made, for the next call's estimate.

    Its input and its answer: the loop appends the answer to the conversation next.
    """
    usage = result.usage
    if usage.input_tokens > 0:
        tokens = usage.input_tokens + usage.output_tokens
        ctx.state.context = ctx.state.context.measured(tokens, len(ctx.state.messages) + 1)
