"""Replays the recorded provider traffic of `tests/fixtures/providers/` at the HTTP layer.

`replay(name)` serves a cassette on a local port: the adapter under test, pointed at that base
URL, gets the recorded responses in order, byte for byte (streams included), through the
provider's own SDK and a real socket. Every request the adapter sent is kept, so a test can
compare it with the one that was recorded.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "providers"
"""The recordings, with their provenance in its README."""

_DROPPED_HEADERS = {"content-encoding", "content-length", "transfer-encoding"}


@dataclass(frozen=True)
class Interaction:
    """One recorded request and its response."""

    method: str
    url: str
    request_body: dict[str, Any] | None
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def response_json(self) -> Any:
        """The recorded response body as JSON (not for streams)."""
        return json.loads(self.body)


@dataclass(frozen=True)
class SentRequest:
    """A request the code under test sent."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Cassette:
    """A recording, and what the code under test sent while it was replayed."""

    name: str
    interactions: list[Interaction]
    sent: list[SentRequest] = field(default_factory=list)
    base_url: str = ""
    """Where the replaying server listens, once started."""

    def sent_json(self, index: int) -> dict[str, Any]:
        """The JSON body of the `index`-th request the code under test sent."""
        body = self.sent[index].json()
        assert isinstance(body, dict)
        return body


def _body(part: dict[str, Any]) -> bytes:
    if "body_text" in part and part["body_text"] is not None:
        return str(part["body_text"]).encode()
    if "body_json" in part and part["body_json"] is not None:
        return json.dumps(part["body_json"]).encode()
    return b""


def _headers(raw: dict[str, list[str] | str]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name, value in raw.items():
        if name.lower() in _DROPPED_HEADERS:
            continue
        headers[name] = value[0] if isinstance(value, list) else value
    return headers


def load(name: str) -> Cassette:
    """The cassette `<provider>/<name>.json`, e.g. `load("anthropic/messages-stream-text")`."""
    data = json.loads((FIXTURES / f"{name}.json").read_text())
    interactions = []
    for recorded in data["interactions"]:
        request, response = recorded["request"], recorded["response"]
        request_body = request.get("body_json")
        if request_body is None and request.get("body_text"):
            request_body = json.loads(request["body_text"])
        interactions.append(
            Interaction(
                method=request["method"],
                url=request["uri"],
                request_body=request_body,
                status=int(response["status"]["code"]),
                headers=_headers(response.get("headers") or {}),
                body=_body(response),
            )
        )
    return Cassette(name=name, interactions=interactions)


class Replay:
    """A local HTTP server that answers with a cassette's responses, in order.

    Requests are matched by order, not by URL, since an adapter may be pointed at any base URL;
    `cassette.sent` keeps what arrived. `cut_after` makes the response to the request of that
    index stop after so many bytes of its body, as a dropped connection would. `order` serves
    the recorded interactions in another order, or one of them more than once (`[0, 0]`).
    `chunk_size` sends every body in HTTP chunks of that many bytes, which the client reads one
    at a time however the network groups them; `hold_open` leaves every body unfinished until
    the replay ends, as a server that never closes a finished stream would.
    """

    def __init__(
        self,
        cassette: Cassette,
        *,
        start: int = 0,
        order: list[int] | None = None,
        cut_after: dict[int, int] | None = None,
        chunk_size: int | None = None,
        hold_open: bool = False,
    ) -> None:
        self.cassette = cassette
        recorded = cassette.interactions
        self._queue = [recorded[i] for i in order] if order else list(recorded[start:])
        self._cut_after = cut_after or {}
        self._chunk_size = chunk_size
        self._hold_open = hold_open
        self._closing = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    async def __aenter__(self) -> Cassette:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._answer)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.cassette.base_url = f"http://127.0.0.1:{port}"
        return self.cassette

    async def __aexit__(self, *exc: object) -> None:
        assert self._runner is not None
        self._closing.set()
        await self._runner.cleanup()

    async def _answer(self, request: web.Request) -> web.StreamResponse:
        index = len(self.cassette.sent)
        body = await request.read()
        self.cassette.sent.append(
            SentRequest(request.method, request.path_qs, dict(request.headers), body)
        )
        if index >= len(self._queue):
            return web.json_response({"error": "more requests than were recorded"}, status=599)
        recorded = self._queue[index]
        cut = self._cut_after.get(index)
        if cut is None and self._chunk_size is None and not self._hold_open:
            return web.Response(
                status=recorded.status, headers=recorded.headers, body=recorded.body
            )
        response = web.StreamResponse(status=recorded.status, headers=recorded.headers)
        await response.prepare(request)
        body = recorded.body if cut is None else recorded.body[:cut]
        step = self._chunk_size or len(body) or 1
        for offset in range(0, len(body), step):
            await response.write(body[offset : offset + step])
        if cut is not None:
            assert request.transport is not None
            request.transport.abort()
            return response
        if self._hold_open:
            await self._closing.wait()
            if request.transport is None or request.transport.is_closing():
                return response  # the client stopped reading first
        await response.write_eof()
        return response


def replay(
    name: str,
    *,
    start: int = 0,
    order: list[int] | None = None,
    cut_after: dict[int, int] | None = None,
    chunk_size: int | None = None,
    hold_open: bool = False,
) -> Replay:
    """Serve the cassette `name` (`openai/chat-text`) on a local port, as `Replay` says."""
    return Replay(
        load(name),
        start=start,
        order=order,
        cut_after=cut_after,
        chunk_size=chunk_size,
        hold_open=hold_open,
    )
