"""`Corral` and `AsyncCorral`: configuration, the retrying request loop, and the resources.

The SDK reads `CORRAL_BASE_URL` and `CORRAL_API_KEY` itself (arguments win), like the other
LLM SDKs do; it is the one place outside `corral.settings` that looks at the environment.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from functools import cached_property
from types import TracebackType
from typing import Any

import httpx

from corral.client import _http
from corral.client._http import NOT_GIVEN, ClientConfig
from corral.client._tools import Tool
from corral.client.errors import APIConnectionError, APITimeoutError
from corral.client.resources.agents import Agents, AsyncAgents
from corral.client.resources.files import AsyncFiles, Files
from corral.client.resources.models import AsyncModels, Models
from corral.client.resources.runs import AsyncRuns, OnEvent, Runs
from corral.client.resources.sessions import AsyncSessions, Sessions
from corral.types.runs import Run
from corral.types.workspaces import WhoAmI


class _Base:
    def __init__(
        self,
        *,
        base_url: str | None,
        api_key: str | None,
        timeout: float | None,
        max_retries: int,
    ) -> None:
        self._config = _http.resolve_config(
            base_url=base_url, api_key=api_key, timeout=timeout, max_retries=max_retries
        )
        self._rng = random.Random()

    @property
    def base_url(self) -> str:
        """Where the server is."""
        return self._config.base_url

    @property
    def config(self) -> ClientConfig:
        """The resolved configuration."""
        return self._config

    def _options(self, timeout: float | None, max_retries: int) -> dict[str, Any]:
        """The options of a copy: those given, else this client's."""
        return {
            "timeout": self._config.timeout_s if timeout is NOT_GIVEN else timeout,
            "max_retries": self._config.max_retries if max_retries is NOT_GIVEN else max_retries,
        }

    def _prepare(
        self, headers: dict[str, str] | None, idempotency_key: str | None
    ) -> dict[str, str]:
        merged = dict(headers or {})
        if idempotency_key is not None:
            merged["Idempotency-Key"] = idempotency_key
        return merged

    def _retry_decision(
        self, attempt: int, retries: int, error: BaseException | httpx.Response
    ) -> float | None:
        """Seconds to wait before trying again, or None to give up."""
        if attempt >= retries:
            return None
        if isinstance(error, httpx.Response):
            if not _http.should_retry_status(error.status_code):
                return None
            return _http.retry_delay_s(self._config, attempt, _http.retry_after_s(error), self._rng)
        return _http.retry_delay_s(self._config, attempt, None, self._rng)

    @staticmethod
    def _connection_error(error: httpx.TransportError) -> APIConnectionError:
        if isinstance(error, httpx.TimeoutException):
            return APITimeoutError(f"request timed out: {error}")
        return APIConnectionError(f"cannot reach the server: {error}")


class Corral(_Base):
    """The synchronous client: `Corral(api_key=...)` or from `CORRAL_API_KEY`."""

    def __init__(
        self,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout: float | None = _http.DEFAULT_TIMEOUT_S,
        max_retries: int = _http.DEFAULT_MAX_RETRIES,
        http_client: httpx.Client | None = None,
    ) -> None:
        super().__init__(
            base_url=base_url, api_key=api_key, timeout=timeout, max_retries=max_retries
        )
        self._owns_http = http_client is None
        self._http = http_client or httpx.Client()
        self._headers = _http.default_headers(self._config)

    def with_options(
        self, *, timeout: float | None = NOT_GIVEN, max_retries: int = NOT_GIVEN
    ) -> Corral:
        """This client with another timeout or retry budget, sharing its connections.

        For one call: `client.with_options(timeout=5).runs.retrieve(run_id)`.
        """
        return Corral(
            base_url=self._config.base_url,
            api_key=self._config.api_key,
            **self._options(timeout, max_retries),
            http_client=self._http,
        )

    @cached_property
    def agents(self) -> Agents:
        """`/v1/agents`."""
        return Agents(self)

    @cached_property
    def runs(self) -> Runs:
        """`/v1/runs`."""
        return Runs(self)

    @cached_property
    def sessions(self) -> Sessions:
        """`/v1/sessions`."""
        return Sessions(self)

    @cached_property
    def models(self) -> Models:
        """`/v1/models`."""
        return Models(self)

    @cached_property
    def files(self) -> Files:
        """`/v1/files`."""
        return Files(self)

    def whoami(self, *, timeout: float | None = NOT_GIVEN) -> WhoAmI:
        """The workspace and key you are using, and the limits that apply."""
        return WhoAmI.model_validate(self.request("GET", "/v1/whoami", timeout=timeout).json())

    def run(
        self,
        *,
        input: Any,
        agent: str | None = None,
        agent_version: int | None = None,
        agent_spec: dict[str, Any] | None = None,
        model: str | None = None,
        instructions: str | None = None,
        tools: Sequence[Tool | Callable[..., Any] | dict[str, Any]] = (),
        metadata: dict[str, str] | None = None,
        idempotency_key: str | None = None,
        on_event: OnEvent | None = None,
    ) -> Run:
        """Submit a run and return it completed, executing its client tools here.

        Raises `RunError` if the run fails, times out or is cancelled.
        """
        return self.runs.run(
            input=input,
            agent=agent,
            agent_version=agent_version,
            agent_spec=agent_spec,
            model=model,
            instructions=instructions,
            tools=tools,
            metadata=metadata,
            idempotency_key=idempotency_key,
            on_event=on_event,
        )

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
        idempotency_key: str | None = None,
        timeout: float | None = NOT_GIVEN,
        retry: bool = True,
    ) -> httpx.Response:
        """Send a request, retrying 429, 5xx and network errors; raises on an error status.

        The body is `json`, or the raw `content` (an upload).
        """
        request = self._http.build_request(
            method,
            self._config.base_url + path,
            params=_http.clean_params(params or {}),
            json=json,
            content=content,
            headers={**self._headers, **self._prepare(headers, idempotency_key)},
            timeout=self._config.timeout_s if timeout is NOT_GIVEN else timeout,
        )
        retries = self._config.max_retries if retry else 0
        attempt = 0
        while True:
            try:
                response = self._http.send(request)
            except httpx.TransportError as error:
                delay = self._retry_decision(attempt, retries, error)
                if delay is None:
                    raise self._connection_error(error) from error
            else:
                if response.is_success:
                    return response
                delay = self._retry_decision(attempt, retries, response)
                if delay is None:
                    raise _http.error_from_response(response)
            time.sleep(delay)
            attempt += 1

    def stream_connection(
        self, path: str, params: dict[str, Any] | None = None
    ) -> Callable[[dict[str, str]], AbstractContextManager[httpx.Response]]:
        """Opens the event stream at `path` with extra headers (`Last-Event-ID`)."""
        timeout = httpx.Timeout(self._config.timeout_s, read=None)

        def connect(extra: dict[str, str]) -> AbstractContextManager[httpx.Response]:
            return self._http.stream(
                "GET",
                self._config.base_url + path,
                params=_http.clean_params(params or {}),
                headers={**self._headers, "Accept": "text/event-stream", **extra},
                timeout=timeout,
            )

        return connect

    def close(self) -> None:
        """Close the connections (when the client created its own HTTP client)."""
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> Corral:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class AsyncCorral(_Base):
    """The asynchronous client: the same resources and methods as `Corral`, awaited."""

    def __init__(
        self,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout: float | None = _http.DEFAULT_TIMEOUT_S,
        max_retries: int = _http.DEFAULT_MAX_RETRIES,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        super().__init__(
            base_url=base_url, api_key=api_key, timeout=timeout, max_retries=max_retries
        )
        self._owns_http = http_client is None
        self._http = http_client or httpx.AsyncClient()
        self._headers = _http.default_headers(self._config)

    def with_options(
        self, *, timeout: float | None = NOT_GIVEN, max_retries: int = NOT_GIVEN
    ) -> AsyncCorral:
        """This client with another timeout or retry budget, sharing its connections.

        For one call: `await client.with_options(timeout=5).runs.retrieve(run_id)`.
        """
        return AsyncCorral(
            base_url=self._config.base_url,
            api_key=self._config.api_key,
            **self._options(timeout, max_retries),
            http_client=self._http,
        )

    @cached_property
    def agents(self) -> AsyncAgents:
        """`/v1/agents`."""
        return AsyncAgents(self)

    @cached_property
    def runs(self) -> AsyncRuns:
        """`/v1/runs`."""
        return AsyncRuns(self)

    @cached_property
    def sessions(self) -> AsyncSessions:
        """`/v1/sessions`."""
        return AsyncSessions(self)

    @cached_property
    def models(self) -> AsyncModels:
        """`/v1/models`."""
        return AsyncModels(self)

    @cached_property
    def files(self) -> AsyncFiles:
        """`/v1/files`."""
        return AsyncFiles(self)

    async def whoami(self, *, timeout: float | None = NOT_GIVEN) -> WhoAmI:
        """The workspace and key you are using, and the limits that apply."""
        response = await self.request("GET", "/v1/whoami", timeout=timeout)
        return WhoAmI.model_validate(response.json())

    async def run(
        self,
        *,
        input: Any,
        agent: str | None = None,
        agent_version: int | None = None,
        agent_spec: dict[str, Any] | None = None,
        model: str | None = None,
        instructions: str | None = None,
        tools: Sequence[Tool | Callable[..., Any] | dict[str, Any]] = (),
        metadata: dict[str, str] | None = None,
        idempotency_key: str | None = None,
        on_event: OnEvent | None = None,
    ) -> Run:
        """Submit a run and return it completed, executing its client tools here.

        Raises `RunError` if the run fails, times out or is cancelled.
        """
        return await self.runs.run(
            input=input,
            agent=agent,
            agent_version=agent_version,
            agent_spec=agent_spec,
            model=model,
            instructions=instructions,
            tools=tools,
            metadata=metadata,
            idempotency_key=idempotency_key,
            on_event=on_event,
        )

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
        idempotency_key: str | None = None,
        timeout: float | None = NOT_GIVEN,
        retry: bool = True,
    ) -> httpx.Response:
        """Send a request, retrying 429, 5xx and network errors; raises on an error status.

        The body is `json`, or the raw `content` (an upload).
        """
        request = self._http.build_request(
            method,
            self._config.base_url + path,
            params=_http.clean_params(params or {}),
            json=json,
            content=content,
            headers={**self._headers, **self._prepare(headers, idempotency_key)},
            timeout=self._config.timeout_s if timeout is NOT_GIVEN else timeout,
        )
        retries = self._config.max_retries if retry else 0
        attempt = 0
        while True:
            try:
                response = await self._http.send(request)
            except httpx.TransportError as error:
                delay = self._retry_decision(attempt, retries, error)
                if delay is None:
                    raise self._connection_error(error) from error
            else:
                if response.is_success:
                    return response
                delay = self._retry_decision(attempt, retries, response)
                if delay is None:
                    raise _http.error_from_response(response)
            await asyncio.sleep(delay)
            attempt += 1

    def stream_connection(
        self, path: str, params: dict[str, Any] | None = None
    ) -> Callable[[dict[str, str]], AbstractAsyncContextManager[httpx.Response]]:
        """Opens the event stream at `path` with extra headers (`Last-Event-ID`)."""
        timeout = httpx.Timeout(self._config.timeout_s, read=None)

        def connect(extra: dict[str, str]) -> AbstractAsyncContextManager[httpx.Response]:
            return self._http.stream(
                "GET",
                self._config.base_url + path,
                params=_http.clean_params(params or {}),
                headers={**self._headers, "Accept": "text/event-stream", **extra},
                timeout=timeout,
            )

        return connect

    async def close(self) -> None:
        """Close the connections (when the client created its own HTTP client)."""
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> AsyncCorral:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
