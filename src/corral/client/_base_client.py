"""What `Corral` and `AsyncCorral` stand on: configuration, the retrying request loop, streams.

The SDK reads `CORRAL_BASE_URL` and `CORRAL_API_KEY` itself (arguments win), like the other
LLM SDKs do; it is the one place outside `corral.settings` that looks at the environment.
Resources see these classes only through `resources._base.Transport`.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from typing import Any

import httpx

from corral.client import _http
from corral.client._http import NOT_GIVEN, ClientConfig
from corral.client.errors import APIConnectionError, APITimeoutError


class BaseClient:
    """The configuration and retry decisions the sync and async clients share."""

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
        url = _http.url_of(error)
        if isinstance(error, httpx.TimeoutException):
            return APITimeoutError(f"request to {url or 'the server'} timed out: {error}", url=url)
        where = f" at {url}" if url else ""
        return APIConnectionError(f"cannot reach the server{where}: {error}", url=url)


class SyncBaseClient(BaseClient):
    """Requests and event streams over an `httpx.Client`."""

    def __init__(
        self,
        *,
        base_url: str | None,
        api_key: str | None,
        timeout: float | None,
        max_retries: int,
        http_client: httpx.Client | None,
    ) -> None:
        super().__init__(
            base_url=base_url, api_key=api_key, timeout=timeout, max_retries=max_retries
        )
        self._owns_http = http_client is None
        self._http = http_client or httpx.Client()
        self._headers = _http.default_headers(self._config)

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


class AsyncBaseClient(BaseClient):
    """Requests and event streams over an `httpx.AsyncClient`."""

    def __init__(
        self,
        *,
        base_url: str | None,
        api_key: str | None,
        timeout: float | None,
        max_retries: int,
        http_client: httpx.AsyncClient | None,
    ) -> None:
        super().__init__(
            base_url=base_url, api_key=api_key, timeout=timeout, max_retries=max_retries
        )
        self._owns_http = http_client is None
        self._http = http_client or httpx.AsyncClient()
        self._headers = _http.default_headers(self._config)

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
