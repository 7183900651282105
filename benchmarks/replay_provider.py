"""The fake provider's replaying routes: recorded Anthropic, Responses and Chat Completions streams.

Each route answers with its API's recorded stream, scaled to the number of text deltas the
request's prompt asks for (`benchmarks.recorded_streams.Directive`), so the adapter scenarios
measure each adapter on the bytes its real API sends. A prompt may also ask the answer to be held
back before its first byte, and tag the request: the fake then notes when it sent that byte, on
the system-wide monotonic clock, and tells it at `GET /bench/first-byte/{tag}`, so a subscriber
on the same machine can time what Corral adds between that byte and the first token it delivers.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from benchmarks.recorded_streams import RECORDINGS, Directive, directive_in, load, scaled

FIRST_BYTE_PATH = "/bench/first-byte"
"""The side endpoint's path; the tag follows it."""
_MAX_DELTAS = 100_000
_MAX_TAGS = 100_000
"""A bound on remembered send times, whose tags nobody asked for (their runs failed)."""

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _bad_request(message: str) -> web.Response:
    """An error in the shape both SDKs read (`error.message`, `error.type`)."""
    body = {"type": "error", "error": {"type": "invalid_request_error", "message": message}}
    return web.json_response(body, status=400)


class Replay:
    """Answers every API's request with its scaled recording, and remembers first-byte times."""

    def __init__(self) -> None:
        self.first_byte_at: dict[str, float] = {}
        """`time.monotonic()` just before each tagged answer's first byte, by tag."""

    def route(self, api: str) -> Handler:
        """The handler of one API's request path."""

        async def handle(request: web.Request) -> web.StreamResponse:
            directive = directive_in(await request.read())
            if directive is None:
                return _bad_request("the prompt must say `stream N deltas`")
            return await self.stream(request, api, directive)

        return handle

    async def stream(
        self, request: web.Request, api: str, directive: Directive
    ) -> web.StreamResponse:
        """Send the recording of `api` scaled to the directive, one write a frame."""
        if not 0 < directive.deltas <= _MAX_DELTAS:
            return _bad_request(f"between 1 and {_MAX_DELTAS} deltas, please")
        frames = scaled(api, directive.deltas)
        if directive.hold_ms:
            await asyncio.sleep(directive.hold_ms / 1000)
        response = web.StreamResponse(headers=load(api).headers)
        if directive.tag is not None and len(self.first_byte_at) < _MAX_TAGS:
            # The status line and headers leave with the first frame, written right after.
            self.first_byte_at.setdefault(directive.tag, time.monotonic())
        await response.prepare(request)
        for frame in frames:
            await response.write(frame)
        await response.write_eof()
        return response

    async def first_byte(self, request: web.Request) -> web.Response:
        """`GET /bench/first-byte/{tag}`: when the tagged answer's first byte left (once)."""
        sent_at = self.first_byte_at.pop(request.match_info["tag"], None)
        if sent_at is None:
            return web.json_response({"error": "no answer with this tag was sent"}, status=404)
        return web.json_response({"sent_at": sent_at})


def add_routes(app: web.Application, replay: Replay, chat_fallback: Handler) -> None:
    """Route every recorded API to `replay`; a chat request without a directive to the fallback.

    Chat Completions is shared with the provider scenarios' generated answers, which their prompts
    (no directive) keep getting.
    """
    for api, recording in RECORDINGS.items():
        if api != "openai-chat":
            app.router.add_post(recording.path, replay.route(api))

    async def chat(request: web.Request) -> web.StreamResponse:
        directive = directive_in(await request.read())
        if directive is None:
            return await chat_fallback(request)
        return await replay.stream(request, "openai-chat", directive)

    app.router.add_post(RECORDINGS["openai-chat"].path, chat)
    app.router.add_get(FIRST_BYTE_PATH + "/{tag}", replay.first_byte)
