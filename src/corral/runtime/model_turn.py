"""One model turn: call the provider, stream its deltas out, retry what is worth retrying.

A provider that answers 429, 529 or 5xx, or whose connection breaks, is called again after a
full-jitter backoff (its `retry-after` wins, within bounds). A stream that broke off mid-turn has
already reached subscribers: the retry's text is matched against it and only what is new is
emitted, so nobody sees the same words twice. Summarization calls (context compaction) retry
the same way and stream nothing.
"""

from __future__ import annotations

import asyncio
import logging
import random

from corral.domain import budgets
from corral.errors import ProviderError
from corral.ids import new_id
from corral.providers.base import ModelRequest
from corral.runtime import compaction
from corral.runtime.accumulator import TurnAccumulator, TurnResult
from corral.runtime.context import RunContext
from corral.types.errors import ErrorCode

logger = logging.getLogger(__name__)

MAX_BACKOFF_S = 30.0
MAX_RETRY_AFTER_S = 60.0


def backoff_s(
    attempt: int, base_s: float, retry_after_s: float | None, rng: random.Random
) -> float:
    """The wait before retry number `attempt` (0-based)."""
    if retry_after_s is not None:
        return min(retry_after_s, MAX_RETRY_AFTER_S)
    return rng.uniform(0, min(MAX_BACKOFF_S, base_s * 2**attempt))


def request_of(ctx: RunContext) -> ModelRequest:
    """The next model call of the run."""
    instructions = "\n\n".join([ctx.spec.instructions, *ctx.tooling.notes]).strip()
    return ModelRequest(
        model=ctx.entry.model,
        instructions=instructions,
        messages=ctx.state.context.view(ctx.state.messages),
        tools=ctx.tools.schemas(),
        max_output_tokens=budgets.remaining_output_tokens(ctx.state.output_tokens, ctx.budget),
        settings=ctx.spec.model_settings,
        api_key=ctx.endpoint.api_key,
        base_url=ctx.endpoint.base_url,
        stream=ctx.endpoint.stream,
    )


async def model_turn(ctx: RunContext, rng: random.Random | None = None) -> TurnResult:
    """The finished turn, after as many retries as the settings allow.

    The conversation is compacted first if it has outgrown the model's window, and once more,
    harder, if the provider still refuses it as too long (`runtime.compaction`).
    """
    rng = rng or random.Random()

    async def summarize(request: ModelRequest) -> TurnResult:
        return await _call(ctx, request, rng, shown=False)

    await compaction.fit(ctx, request_of(ctx), summarize)
    compacted_again = False
    while True:
        request = request_of(ctx)
        try:
            result = await _call(ctx, request, rng, shown=True)
        except ProviderError as error:
            if error.code != ErrorCode.CONTEXT_LENGTH_EXCEEDED or compacted_again:
                raise
            compacted_again = True
            ctx.model_call = None  # refused whole: nothing of it counts
            if not await compaction.fit(ctx, request, summarize, overflow=True):
                raise
            continue
        compaction.measure(ctx, result)
        return result


async def _call(
    ctx: RunContext, request: ModelRequest, rng: random.Random, *, shown: bool
) -> TurnResult:
    """One model call with its retries; `shown`: its deltas are the run's output, streamed."""
    # What subscribers have seen of this turn so far (a crashed attempt's text included).
    shown_text, shown_thinking = ctx.journal.text, ctx.journal.thinking
    attempt = 0
    while True:
        accumulator = TurnAccumulator(lambda: new_id("call"))
        # Left in place if the call never finishes, so the run's ending counts what it used.
        ctx.model_call = accumulator
        try:
            async for event in ctx.provider.stream(request):
                delta = accumulator.feed(event)
                if delta is not None and shown:
                    ctx.emit_delta(*delta)
            ctx.model_call = None
            return accumulator.result()
        except ProviderError as error:
            _mask_key(error, ctx.endpoint.api_key)
            if shown:
                partial = accumulator.result()
                shown_text = _longest(shown_text, partial.text)
                thinking = "".join(block.text for block in partial.thinking)
                shown_thinking = _longest(shown_thinking, thinking)
                ctx.journal.text, ctx.journal.thinking = shown_text, shown_thinking
            if not error.retryable or attempt >= ctx.services.settings.provider_max_retries:
                raise
            ctx.model_call = None  # of a retried call, only the last attempt counts
            delay_s = backoff_s(
                attempt, ctx.services.settings.provider_retry_base_s, error.retry_after_s, rng
            )
            logger.warning(
                "model call failed, retrying in %.1f s: %s",
                delay_s,
                error.message,
                extra={"action": "model.retry", "run_id": ctx.run.id, "attempt": attempt + 1},
            )
            await asyncio.sleep(delay_s)
            attempt += 1


def _mask_key(error: ProviderError, api_key: str | None) -> None:
    """Keep the key out of the message, which is logged and stored with the failed run."""
    if api_key and len(api_key) >= 8 and api_key in error.message:
        error.message = error.message.replace(api_key, "***")


def _longest(shown: str, attempt_text: str) -> str:
    """What has been shown after an attempt that streamed `attempt_text`."""
    return attempt_text if attempt_text.startswith(shown) else shown
