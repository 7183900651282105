"""`client.sessions.messages`: queueing a message of a session, without following its run."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from corral.client._http import new_idempotency_key
from corral.client.resources._base import AsyncResource, SyncResource
from corral.client.resources._common import ToolLike, segment, tool_refs
from corral.types.runs import Run


def _message_body(
    input: Any,
    tools: Sequence[ToolLike],
    metadata: dict[str, str] | None,
    api_keys: dict[str, str] | None = None,
    permissions: dict[str, Any] | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {"input": input}
    if tools:
        body["tools"] = tool_refs(tools)
    if metadata:
        body["metadata"] = metadata
    if api_keys:
        body["api_keys"] = api_keys
    if permissions is not None:
        body["permissions"] = permissions
    return body


class SessionMessages(SyncResource):
    """`/v1/sessions/{id}/messages`."""

    def create(
        self,
        session_id: str,
        *,
        input: Any,
        tools: Sequence[ToolLike] = (),
        metadata: dict[str, str] | None = None,
        api_keys: dict[str, str] | None = None,
        permissions: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> Run:
        """Queue a message; returns its run (queued until earlier messages are done).

        `permissions` is layered over the session's, for this message's run only.
        """
        response = self._client.request(
            "POST",
            f"/v1/sessions/{segment(session_id)}/messages",
            json=_message_body(input, tools, metadata, api_keys, permissions),
            idempotency_key=idempotency_key or new_idempotency_key(),
        )
        return Run.model_validate(response.json())


class AsyncSessionMessages(AsyncResource):
    """`/v1/sessions/{id}/messages`."""

    async def create(
        self,
        session_id: str,
        *,
        input: Any,
        tools: Sequence[ToolLike] = (),
        metadata: dict[str, str] | None = None,
        api_keys: dict[str, str] | None = None,
        permissions: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> Run:
        """Queue a message; returns its run (queued until earlier messages are done).

        `permissions` is layered over the session's, for this message's run only.
        """
        response = await self._client.request(
            "POST",
            f"/v1/sessions/{segment(session_id)}/messages",
            json=_message_body(input, tools, metadata, api_keys, permissions),
            idempotency_key=idempotency_key or new_idempotency_key(),
        )
        return Run.model_validate(response.json())
