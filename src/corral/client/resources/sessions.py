"""`client.sessions`: conversations whose messages run one at a time.

`send()` posts a message and follows its run, executing client tools here.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import Any, Literal, overload

from corral.client._decisions import OnApproval
from corral.client._http import new_idempotency_key
from corral.client._pagination import AsyncPage, SyncPage
from corral.client._sse import AnyEvent, AsyncStream, Stream
from corral.client.resources._base import AsyncResource, SyncResource
from corral.client.resources._common import ToolLike, segment, spec_body
from corral.client.resources._session_messages import AsyncSessionMessages, SessionMessages
from corral.client.resources.runs import AsyncRuns, OnEvent, Runs
from corral.types.runs import Run
from corral.types.sessions import Session, SessionStatus, SessionSummary


def _session_body(
    agent: str | None,
    agent_version: int | None,
    agent_spec: dict[str, Any] | None,
    model: str | None,
    metadata: dict[str, str] | None,
    api_keys: dict[str, str] | None = None,
    max_spend_usd: float | None = None,
    permissions: dict[str, Any] | None = None,
) -> dict[str, Any]:
    if agent is None and agent_spec is None:
        if model is None:
            raise ValueError("give agent=, agent_spec= or model=")
        agent_spec = {"model": model}
    body = {
        "agent": agent,
        "agent_version": agent_version,
        "agent_spec": spec_body(agent_spec),
        "metadata": metadata,
        "api_keys": api_keys,
        "max_spend_usd": max_spend_usd,
        "permissions": permissions,
    }
    return {k: v for k, v in body.items() if v is not None}


class Sessions(SyncResource):
    """`/v1/sessions`."""

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
        max_spend_usd: float | None = None,
        permissions: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> Session:
        """Open a session with a stored agent, an inline `agent_spec`, or just a `model`.

        `max_spend_usd` caps what all its runs together spend (see `update` to raise it);
        `permissions` is layered over the agent's for every run of the session.
        """
        response = self._client.request(
            "POST",
            "/v1/sessions",
            json=_session_body(
                agent,
                agent_version,
                agent_spec,
                model,
                metadata,
                api_keys,
                max_spend_usd,
                permissions,
            ),
            idempotency_key=idempotency_key or new_idempotency_key(),
        )
        return Session.model_validate(response.json())

    def retrieve(self, session_id: str) -> Session:
        """The session and its conversation."""
        response = self._client.request("GET", f"/v1/sessions/{segment(session_id)}")
        return Session.model_validate(response.json())

    def list(self, *, limit: int | None = None) -> SyncPage[SessionSummary]:
        """Sessions newest first (iterating the page walks all pages)."""
        return self._page("/v1/sessions", SessionSummary, {"limit": limit})

    def update(self, session_id: str, *, max_spend_usd: float | None) -> Session:
        """Set the session's spend cap (None removes it); raising it lets a stopped one go on."""
        response = self._client.request(
            "PATCH",
            f"/v1/sessions/{segment(session_id)}",
            json={"max_spend_usd": max_spend_usd},
        )
        return Session.model_validate(response.json())

    def end(self, session_id: str) -> Session:
        """End the session; its queued and active runs are cancelled."""
        response = self._client.request("DELETE", f"/v1/sessions/{segment(session_id)}")
        return Session.model_validate(response.json())

    @overload
    def delete(self, session_id: str, *, purge: Literal[False] = False) -> Session: ...
    @overload
    def delete(self, session_id: str, *, purge: Literal[True]) -> None: ...
    @overload
    def delete(self, session_id: str, *, purge: bool) -> Session | None: ...
    def delete(self, session_id: str, *, purge: bool = False) -> Session | None:
        """End the session, as `end` does; with `purge=True`, erase it and its runs for good.

        A purge is refused (`ConflictError`, code `run_active`) while a run of it is going.
        """
        response = self._client.request(
            "DELETE",
            f"/v1/sessions/{segment(session_id)}",
            params={"purge": "true"} if purge else None,
        )
        return None if purge else Session.model_validate(response.json())

    def send(
        self,
        session_id: str,
        *,
        input: Any,
        tools: Sequence[ToolLike] = (),
        metadata: dict[str, str] | None = None,
        api_keys: dict[str, str] | None = None,
        permissions: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
        on_event: OnEvent | None = None,
        on_approval: OnApproval | None = None,
    ) -> Run:
        """Send a message and follow its run: the completed run, client tools executed here.

        `on_approval` decides the calls held for a person, as in `runs.run`. The session's
        conversation includes the new turns as soon as this returns. With your own
        `idempotency_key` the message may be one sent before: its run's calls are checked to
        still await an answer first.
        """
        run = self.messages.create(
            session_id,
            input=input,
            tools=tools,
            metadata=metadata,
            api_keys=api_keys,
            permissions=permissions,
            idempotency_key=idempotency_key,
        )
        return Runs(self._client).follow(
            run.id,
            tools=tools,
            on_event=on_event,
            on_approval=on_approval,
            fresh=idempotency_key is None,
        )

    def stream(self, session_id: str, *, after: int | None = None) -> Stream[AnyEvent]:
        """Every event of every run of the session, live.

        It resumes after dropped connections, and ends once the session has ended and its last
        run's events were delivered.
        """

        def is_over() -> bool:
            return self.retrieve(session_id).status == SessionStatus.ENDED

        return self._event_stream(
            f"/v1/sessions/{segment(session_id)}/stream",
            is_last=lambda _: False,
            is_over=is_over,
            after=after,
        )


class AsyncSessions(AsyncResource):
    """`/v1/sessions`."""

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
        max_spend_usd: float | None = None,
        permissions: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> Session:
        """Open a session with a stored agent, an inline `agent_spec`, or just a `model`.

        `max_spend_usd` caps what all its runs together spend (see `update` to raise it);
        `permissions` is layered over the agent's for every run of the session.
        """
        response = await self._client.request(
            "POST",
            "/v1/sessions",
            json=_session_body(
                agent,
                agent_version,
                agent_spec,
                model,
                metadata,
                api_keys,
                max_spend_usd,
                permissions,
            ),
            idempotency_key=idempotency_key or new_idempotency_key(),
        )
        return Session.model_validate(response.json())

    async def retrieve(self, session_id: str) -> Session:
        """The session and its conversation."""
        response = await self._client.request("GET", f"/v1/sessions/{segment(session_id)}")
        return Session.model_validate(response.json())

    async def list(self, *, limit: int | None = None) -> AsyncPage[SessionSummary]:
        """Sessions newest first (iterating the page walks all pages)."""
        return await self._page("/v1/sessions", SessionSummary, {"limit": limit})

    async def update(self, session_id: str, *, max_spend_usd: float | None) -> Session:
        """Set the session's spend cap (None removes it); raising it lets a stopped one go on."""
        response = await self._client.request(
            "PATCH",
            f"/v1/sessions/{segment(session_id)}",
            json={"max_spend_usd": max_spend_usd},
        )
        return Session.model_validate(response.json())

    async def end(self, session_id: str) -> Session:
        """End the session; its queued and active runs are cancelled."""
        response = await self._client.request("DELETE", f"/v1/sessions/{segment(session_id)}")
        return Session.model_validate(response.json())

    @overload
    async def delete(self, session_id: str, *, purge: Literal[False] = False) -> Session: ...
    @overload
    async def delete(self, session_id: str, *, purge: Literal[True]) -> None: ...
    @overload
    async def delete(self, session_id: str, *, purge: bool) -> Session | None: ...
    async def delete(self, session_id: str, *, purge: bool = False) -> Session | None:
        """End the session, as `end` does; with `purge=True`, erase it and its runs for good.

        A purge is refused (`ConflictError`, code `run_active`) while a run of it is going.
        """
        response = await self._client.request(
            "DELETE",
            f"/v1/sessions/{segment(session_id)}",
            params={"purge": "true"} if purge else None,
        )
        return None if purge else Session.model_validate(response.json())

    async def send(
        self,
        session_id: str,
        *,
        input: Any,
        tools: Sequence[ToolLike] = (),
        metadata: dict[str, str] | None = None,
        api_keys: dict[str, str] | None = None,
        permissions: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
        on_event: OnEvent | None = None,
        on_approval: OnApproval | None = None,
    ) -> Run:
        """Send a message and follow its run: the completed run, client tools executed here.

        `on_approval` decides the calls held for a person, as in `runs.run`. The session's
        conversation includes the new turns as soon as this returns. With your own
        `idempotency_key` the message may be one sent before: its run's calls are checked to
        still await an answer first.
        """
        run = await self.messages.create(
            session_id,
            input=input,
            tools=tools,
            metadata=metadata,
            api_keys=api_keys,
            permissions=permissions,
            idempotency_key=idempotency_key,
        )
        return await AsyncRuns(self._client).follow(
            run.id,
            tools=tools,
            on_event=on_event,
            on_approval=on_approval,
            fresh=idempotency_key is None,
        )

    def stream(self, session_id: str, *, after: int | None = None) -> AsyncStream[AnyEvent]:
        """Every event of every run of the session, live.

        It resumes after dropped connections, and ends once the session has ended and its last
        run's events were delivered.
        """

        async def is_over() -> bool:
            return (await self.retrieve(session_id)).status == SessionStatus.ENDED

        return self._event_stream(
            f"/v1/sessions/{segment(session_id)}/stream",
            is_last=lambda _: False,
            is_over=is_over,
            after=after,
        )
