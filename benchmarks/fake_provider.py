"""A stand-in model server, so runs on a real provider adapter can be measured.

It answers every Chat Completions request at once with the same text, streamed the way OpenAI
streams it, so what a provider scenario measures is Corral's adapter, the `openai` SDK and HTTP
streaming, not a model. A request whose prompt asks for a number of deltas gets a recorded
stream of its API instead (Anthropic Messages, OpenAI Responses or Chat Completions; see
`benchmarks.replay_provider`). It runs in a process of its own (`python -m
benchmarks.fake_provider`, started by `FakeProvider`): its CPU is then neither counted as the
server's nor hidden in the load generator's, and it is shown on its own.

Corral reaches it as the provider `vllm` (any model name, no key), whose endpoint the server
reads from `VLLM_BASE_URL`, and as `anthropic` and `openai`, through `ANTHROPIC_BASE_URL` and
`OPENAI_BASE_URL` with placeholder keys.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import IO, Any

import orjson
from aiohttp import web

from benchmarks.cpu import process_cpu_s
from benchmarks.replay_provider import Replay, add_routes
from benchmarks.server import ManagedProcess, free_port, read_tail, terminate, wait_ready

MODEL = "vllm/bench"
"""The model id a run names to be answered by the fake provider."""
BASE_URL_VARIABLE = "VLLM_BASE_URL"
"""Where `corral serve` reads the endpoint of the provider `vllm`."""
PLACEHOLDER_KEY = "bench-placeholder-key"
"""The server's key for `anthropic` and `openai`, which refuse to call without one."""
DEFAULT_DELTAS = 20
CREATED = 1_700_000_000
"""The `created` timestamp of every answer: fixed, since nothing reads it."""


def answer_pieces(deltas: int) -> list[str]:
    """The content deltas of every answer: `deltas` words, each after a space but the first."""
    return [f"{' ' if index else ''}word{index + 1}" for index in range(deltas)]


def answer_text(deltas: int) -> str:
    """The whole answer, as a completed run's output should read."""
    return "".join(answer_pieces(deltas))


def _prompt_tokens(messages: list[Any]) -> int:
    """A rough token count of the prompt: its words (only the shape of `usage` matters here)."""
    words = sum(
        len(message["content"].split())
        for message in messages
        if isinstance(message, dict) and isinstance(message.get("content"), str)
    )
    return max(1, words)


def _usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def _error(status: int, message: str) -> web.Response:
    """An error answer in OpenAI's shape, so the SDK raises what it raises for a real one."""
    body = {"error": {"message": message, "type": "invalid_request_error", "param": None}}
    return web.json_response(body, status=status)


class ChatCompletions:
    """`POST /v1/chat/completions`: the same answer to every request, streamed or whole."""

    def __init__(self, deltas: int = DEFAULT_DELTAS, frame_delay_s: float = 0.0) -> None:
        self.pieces = answer_pieces(deltas)
        self.frame_delay_s = frame_delay_s
        self._ids = itertools.count(1)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Answer one request."""
        try:
            body = orjson.loads(await request.read())
        except orjson.JSONDecodeError:
            return _error(400, "the body is not JSON")
        model, messages = body.get("model"), body.get("messages")
        if not isinstance(model, str) or not isinstance(messages, list) or not messages:
            return _error(400, "'model' and a non-empty 'messages' are required")
        answer_id = f"chatcmpl-bench{next(self._ids)}"
        usage = _usage(_prompt_tokens(messages), len(self.pieces))
        if not body.get("stream"):
            return web.Response(
                body=orjson.dumps(self._completion(answer_id, model, usage)),
                content_type="application/json",
            )
        stream_options = body.get("stream_options") or {}
        with_usage = bool(stream_options.get("include_usage"))
        return await self._stream(request, answer_id, model, usage if with_usage else None)

    def _completion(self, answer_id: str, model: str, usage: dict[str, int]) -> dict[str, Any]:
        message = {"role": "assistant", "content": "".join(self.pieces)}
        return {
            "id": answer_id,
            "object": "chat.completion",
            "created": CREATED,
            "model": model,
            "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
            "usage": usage,
        }

    def _frames(self, answer_id: str, model: str, usage: dict[str, int] | None) -> list[bytes]:
        """The stream's frames: role, one per piece, finish, usage (when asked), `[DONE]`."""

        def chunk(choices: list[dict[str, Any]], chunk_usage: dict[str, int] | None) -> bytes:
            payload = {
                "id": answer_id,
                "object": "chat.completion.chunk",
                "created": CREATED,
                "model": model,
                "choices": choices,
                "usage": chunk_usage,
            }
            return b"data: " + orjson.dumps(payload) + b"\n\n"

        def choice(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
            return {"index": 0, "delta": delta, "finish_reason": finish_reason}

        frames = [chunk([choice({"role": "assistant", "content": ""})], None)]
        frames += [chunk([choice({"content": piece})], None) for piece in self.pieces]
        frames.append(chunk([choice({}, "stop")], None))
        if usage is not None:
            frames.append(chunk([], usage))
        frames.append(b"data: [DONE]\n\n")
        return frames

    async def _stream(
        self, request: web.Request, answer_id: str, model: str, usage: dict[str, int] | None
    ) -> web.StreamResponse:
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await response.prepare(request)
        # One write a frame, as a server producing tokens would send them.
        for frame in self._frames(answer_id, model, usage):
            await response.write(frame)
            if self.frame_delay_s:
                await asyncio.sleep(self.frame_delay_s)
        await response.write_eof()
        return response


async def _models(request: web.Request) -> web.Response:
    """`GET /v1/models`: an empty list; it tells that the server is up."""
    return web.json_response({"object": "list", "data": []})


def create_app(deltas: int = DEFAULT_DELTAS, frame_delay_s: float = 0.0) -> web.Application:
    """The fake provider's web application."""
    app = web.Application()
    add_routes(app, Replay(), chat_fallback=ChatCompletions(deltas, frame_delay_s).handle)
    app.router.add_get("/v1/models", _models)
    return app


class FakeProvider(ManagedProcess):
    """The fake provider in a subprocess on a free port of 127.0.0.1.

    Use it as a context manager: entering returns once it answers, leaving stops it (SIGTERM,
    then SIGKILL). Give `server_environ` to `corral serve` so `MODEL` reaches it.
    """

    def __init__(
        self,
        *,
        deltas: int = DEFAULT_DELTAS,
        startup_timeout_s: float = 30.0,
        shutdown_timeout_s: float = 5.0,
    ) -> None:
        self.deltas = deltas
        self.startup_timeout_s = startup_timeout_s
        self.shutdown_timeout_s = shutdown_timeout_s
        self.port = free_port()
        self.root_url = f"http://127.0.0.1:{self.port}"
        self.base_url = f"{self.root_url}/v1"
        self._log_dir: tempfile.TemporaryDirectory[str] | None = None
        self._log: IO[bytes] | None = None
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def server_environ(self) -> dict[str, str]:
        """The environment `corral serve` needs to send `MODEL`'s calls here.

        Calls to `anthropic` and `openai` come here too, with placeholder keys, which also keep
        any real key in the caller's environment from being sent anywhere.
        """
        return {
            BASE_URL_VARIABLE: self.base_url,
            "ANTHROPIC_BASE_URL": self.root_url,  # the Anthropic SDK adds `/v1` itself
            "ANTHROPIC_API_KEY": PLACEHOLDER_KEY,
            "OPENAI_BASE_URL": self.base_url,
            "OPENAI_API_KEY": PLACEHOLDER_KEY,
        }

    @property
    def answer(self) -> str:
        """The output every run on `MODEL` ends with."""
        return answer_text(self.deltas)

    def cpu_s(self) -> float:
        """CPU seconds the fake provider has used so far."""
        assert self._process is not None, "the fake provider is not running"
        return process_cpu_s(self._process.pid)

    def start(self) -> None:
        """Start the process and wait until it answers."""
        self._log_dir = tempfile.TemporaryDirectory(prefix="corral-bench-provider-")
        self._log = (Path(self._log_dir.name) / "provider.log").open("wb")
        command = [sys.executable, "-m", "benchmarks.fake_provider", "--port", str(self.port)]
        self._process = subprocess.Popen(
            [*command, "--deltas", str(self.deltas)],
            cwd=Path(__file__).resolve().parent.parent,  # where `benchmarks` is importable
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        wait_ready(
            self._process,
            f"{self.base_url}/models",
            timeout_s=self.startup_timeout_s,
            name="the fake provider",
            log_tail=self.log_tail,
        )

    def log_tail(self) -> str:
        """The last lines the fake provider printed."""
        return "" if self._log_dir is None else read_tail(Path(self._log_dir.name) / "provider.log")

    def stop(self) -> None:
        """Stop the process and delete its log."""
        if self._process is not None:
            terminate(self._process, self.shutdown_timeout_s)
            self._process = None
        if self._log is not None:
            self._log.close()
            self._log = None
        if self._log_dir is not None:
            self._log_dir.cleanup()
            self._log_dir = None


def _event_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:  # optional, as for the load generator
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def main(argv: list[str] | None = None) -> None:
    """Serve until SIGTERM or SIGINT."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.fake_provider",
        description="A fake model server that answers at once: generated Chat Completions, "
        "and recorded Anthropic, Responses and Chat Completions streams.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument(
        "--deltas", type=int, default=DEFAULT_DELTAS, help="content deltas per answer (20)"
    )
    parser.add_argument(
        "--frame-delay-ms", type=float, default=0.0, help="pause after each streamed frame (0)"
    )
    args = parser.parse_args(argv)
    app = create_app(args.deltas, args.frame_delay_ms / 1000)
    web.run_app(
        app,
        host=args.host,
        port=args.port,
        access_log=None,
        print=None,
        shutdown_timeout=1.0,
        loop=_event_loop(),
    )


if __name__ == "__main__":
    main()
