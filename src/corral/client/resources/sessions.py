"""`client.sessions`: conversations whose messages run one at a time.

`send()` posts a message and follows its run, executing client tools here.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

import httpx

from corral.client._http import error_from_response, new_idempotency_key
from corral.client._pagination import AsyncPage, SyncPage
from corral.client._sse import AnyEvent, AsyncStream, ServerSentEvent, Stream, parse_event
from corral.client.resources._common import ToolLike, segment, tool_refs
from corral.client.resources.runs import OnEvent
from corral.types.runs import Run
from corral.types.sessions import Session, SessionStatus, SessionSummary

if TYPE_CHECKING:
    from corral.client._client import AsyncCorral, Corral


def _session_body(
    agent: str | None,
    agent_version: int | None,
    agent_spec: dict[str, Any] | None,
    model: str | None,
    metadata: dict[str, str] | None,
    api_keys: dict[str, str] | None = None,
) -> dict[str, Any]:
    if agent is None and agent_spec is None:
        if model is None:
            raise ValueError("give agent=, agent_spec= or model=")
        agent_spec = {"model": model}
    body = {
        "agent": agent,
        "agent_version": agent_version,
        "agent_spec": agent_spec,
        "metadata": metadata,
        "api_keys": api_keys,
    }
    return {k: v for k, v in body.items() if v is not None}


def _message_body(
    input: Any,
    tools: Sequence[ToolLike],
    metadata: dict[str, str] | None,
    api_keys: dict[str, str] | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {"input": input}
    if tools:
        body["tools"] = tool_refs(tools)
    if metadata:
        body["metadata"] = metadata
    if api_keys:
        body["api_keys"] = api_keys
    return body


def _frame(frame: ServerSentEvent) -> AnyEvent:
    return parse_event(frame.data)


def _raise(response: httpx.Response) -> None:
    raise error_from_response(response)


class SessionMessages:
    """`/v1/sessions/{id}/messages`."""

    def __init__(self, client: Corral) -> None:
        self._client = client

    def create(
        self,
        session_id: str,
        *,
        input: Any,
        tools: Sequence[ToolLike] = (),
        metadata: dict[str, str] | None = None,
        api_keys: dict[str, str] | None = None,
        idempotency_key: str | None = None,
    ) -> Run:
        """Queue a message; returns its run (queued until earlier messages are done)."""
        response = self._client.request(
            "POST",
            f"/v1/sessions/{segment(session_id)}/messages",
            json=_message_body(input, tools, metadata, api_keys),
            idempotency_key=idempotency_key or new_idempotency_key(),
        )
        return Run.model_validate(response.json())


class Sessions:
    """`/v1/sessions`."""

    def __init__(self, client: Corral) -> None:
        self._client = client

    @cached_property
    def messages(self) -> SessionMessages:
        """`/v1/sessions/{id}/messages`."""
        return SessionMessages(self._client)

    def create(
        self,
        *,
        agent: str | None = None,
        agent_version: int | None = None,
        agent_spec: dict[str, Any] | None = None,
        model: str | None = None,
        metadata: dict[str, str] | None = None,
        api_keys: dict[str, str] | None = None,
        idempotency_key: str | None = None,
    ) -> Session:
        """Open a session with a stored agent, an inline `agent_spec`, or just a `model`."""
        response = self._client.request(
            "POST",
            "/v1/sessions",
            json=_session_body(agent, agent_version, agent_spec, model, metadata, api_keys),
            idempotency_key=idempotency_key or new_idempotency_key(),
        )
        return Session.model_validate(response.json())

    def retrieve(self, session_id: str) -> Session:
        """The session and its conversation."""
        response = self._client.request("GET", f"/v1/sessions/{segment(session_id)}")
        return Session.model_validate(response.json())

    def list(self, *, limit: int | None = None) -> SyncPage[SessionSummary]:
        """Sessions newest first (iterating the page walks all pages)."""

        def fetch(cursor: str | None) -> tuple[list[SessionSummary], str | None]:
            body = self._client.request(
                "GET", "/v1/sessions", params={"limit": limit, "cursor": cursor}
            ).json()
            return [SessionSummary.model_validate(s) for s in body["data"]], body["next_cursor"]

        return SyncPage(fetch, *fetch(None))

    def end(self, session_id: str) -> Session:
        """End the session; its queued and active runs are cancelled."""
        response = self._client.request("DELETE", f"/v1/sessions/{segment(session_id)}")
        return Session.model_validate(response.json())

    def send(
        self,
        session_id: str,
        *,
        input: Any,
        tools: Sequence[ToolLike] = (),
        metadata: dict[str, str] | None = None,
        api_keys: dict[str, str] | None = None,
        idempotency_key: str | None = None,
        on_event: OnEvent | None = None,
    ) -> Run:
        """Send a message and follow its run: the completed run, client tools executed here.

        The session's conversation includes the new turns as soon as this returns. With your
        own `idempotency_key` the message may be one sent before: its run's tool calls are
        checked to still await an answer before they run.
        """
        run = self.messages.create(
            session_id,
            input=input,
            tools=tools,
            metadata=metadata,
            api_keys=api_keys,
            idempotency_key=idempotency_key,
        )
        return self._client.runs.follow(
            run.id, tools=tools, on_event=on_event, fresh=idempotency_key is None
        )

    def stream(self, session_id: str, *, after: int | None = None) -> Stream[AnyEvent]:
        """Every event of every run of the session, live.

        It resumes after dropped connections, and ends once the session has ended and its last
        run's events were delivered.
        """

        def is_over() -> bool:
            return self.retrieve(session_id).status == SessionStatus.ENDED

        return Stream(
            connect=self._client.stream_connection(f"/v1/sessions/{segment(session_id)}/stream"),
            raise_for_status=_raise,
            parse=_frame,
            is_last=lambda _: False,
            is_over=is_over,
            after=None if after is None else str(after),
        )


class AsyncSessionMessages:
    """`/v1/sessions/{id}/messages`."""

    def __init__(self, client: AsyncCorral) -> None:
        self._client = client

    async def create(
        self,
        session_id: str,
        *,
        input: Any,
        tools: Sequence[ToolLike] = (),
        metadata: dict[str, str] | None = None,
        api_keys: dict[str, str] | None = None,
        idempotency_key: str | None = None,
    ) -> Run:
        """Queue a message; returns its run (queued until earlier messages are done)."""
        response = await self._client.request(
            "POST",
            f"/v1/sessions/{segment(session_id)}/messages",
            json=_message_body(input, tools, metadata, api_keys),
            idempotency_key=idempotency_key or new_idempotency_key(),
        )
        return Run.model_validate(response.json())


class AsyncSessions:
    """`/v1/sessions`."""

    def __init__(self, client: AsyncCorral) -> None:
        self._client = client

    @cached_property
    def messages(self) -> AsyncSessionMessages:
        """`/v1/sessions/{id}/messages`."""
        return AsyncSessionMessages(self._client)

    async def create(
        self,
        *,
        agent: str | None = None,
        agent_version: int | None = None,
        agent_spec: dict[str, Any] | None = None,
        model: str | None = None,
        metadata: dict[str, str] | None = None,
        api_keys: dict[str, str] | None = None,
        idempotency_key: str | None = None,
    ) -> Session:
        """Open a session with a stored agent, an inline `agent_spec`, or just a `model`."""
        response = await self._client.request(
            "POST",
            "/v1/sessions",
            json=_session_body(agent, agent_version, agent_spec, model, metadata, api_keys),
            idempotency_key=idempotency_key or new_idempotency_key(),
        )
        return Session.model_validate(response.json())

    async def retrieve(self, session_id: str) -> Session:
        """The session and its conversation."""
        response = await self._client.request("GET", f"/v1/sessions/{segment(session_id)}")
        return Session.model_validate(response.json())

    async def list(self, *, limit: int | None = None) -> AsyncPage[SessionSummary]:
        """Sessions newest first (iterating the page walks all pages)."""

        async def fetch(cursor: str | None) -> tuple[list[SessionSummary], str | None]:
            response = await self._client.request(
                "GET", "/v1/sessions", params={"limit": limit, "cursor": cursor}
            )
            body = response.json()
            return [SessionSummary.model_validate(s) for s in body["data"]], body["next_cursor"]

        return AsyncPage(fetch, *(await fetch(None)))

    async def end(self, session_id: str) -> Session:
        """End the session; its queued and active runs are cancelled."""
        response = await self._client.request("DELETE", f"/v1/sessions/{segment(session_id)}")
        return Session.model_validate(response.json())

    async def send(
        self,
        session_id: str,
        *,
        input: Any,
        tools: Sequence[ToolLike] = (),
        metadata: dict[str, str] | None = None,
        api_keys: dict[str, str] | None = None,
        idempotency_key: str | None = None,
        on_event: OnEvent | None = None,
    ) -> Run:
        """Send a message and follow its run: the completed run, client tools executed here.

        The session's conversation includes the new turns as soon as this returns. With your
        own `idempotency_key` the message may be one sent before: its run's tool calls are
        checked to still await an answer before they run.
        """
        run = await self.messages.create(
            session_id,
            input=input,
            tools=tools,
            metadata=metadata,
            api_keys=api_keys,
            idempotency_key=idempotency_key,
        )
        return await self._client.runs.follow(
            run.id, tools=tools, on_event=on_event, fresh=idempotency_key is None
        )

    def stream(self, session_id: str, *, after: int | None = None) -> AsyncStream[AnyEvent]:
        """Every event of every run of the session, live.

        It resumes after dropped connections, and ends once the session has ended and its last
        run's events were delivered.
        """

        async def is_over() -> bool:
            return (await self.retrieve(session_id)).status == SessionStatus.ENDED

        return AsyncStream(
            connect=self._client.stream_connection(f"/v1/sessions/{segment(session_id)}/stream"),
            raise_for_status=_raise,
            parse=_frame,
            is_last=lambda _: False,
            is_over=is_over,
            after=None if after is None else str(after),
        )
