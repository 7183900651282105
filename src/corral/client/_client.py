"""`Corral` and `AsyncCorral`: the clients users make, and the resources they hold.

Each resource is built on first use and kept; the request loop lives in `_base_client`.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from types import TracebackType
from typing import Any

import httpx

from corral.client import _http
from corral.client._base_client import AsyncBaseClient, SyncBaseClient
from corral.client._decisions import OnApproval
from corral.client._http import NOT_GIVEN
from corral.client.resources._common import ToolLike
from corral.client.resources.agents import Agents, AsyncAgents
from corral.client.resources.approvals import Approvals, AsyncApprovals
from corral.client.resources.audit import AsyncAudit, Audit
from corral.client.resources.files import AsyncFiles, Files
from corral.client.resources.keys import AsyncKeys, Keys
from corral.client.resources.models import AsyncModels, Models
from corral.client.resources.routines import AsyncRoutines, Routines
from corral.client.resources.runs import AsyncRuns, OnEvent, Runs
from corral.client.resources.secrets import AsyncSecrets, Secrets
from corral.client.resources.sessions import AsyncSessions, Sessions
from corral.client.resources.webhooks import AsyncWebhooks, Webhooks
from corral.client.resources.workspaces import AsyncWorkspaces, Workspaces
from corral.types.runs import Run
from corral.types.workspaces import WhoAmI


class Corral(SyncBaseClient):
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
            base_url=base_url,
            api_key=api_key,
            timeout=timeout,
            max_retries=max_retries,
            http_client=http_client,
        )

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
    def approvals(self) -> Approvals:
        """`/v1/approvals`: tool calls held for a person's decision."""
        return Approvals(self)

    @cached_property
    def models(self) -> Models:
        """`/v1/models`."""
        return Models(self)

    @cached_property
    def files(self) -> Files:
        """`/v1/files`."""
        return Files(self)

    @cached_property
    def keys(self) -> Keys:
        """`/v1/keys`."""
        return Keys(self)

    @cached_property
    def audit(self) -> Audit:
        """`/v1/audit`."""
        return Audit(self)

    @cached_property
    def secrets(self) -> Secrets:
        """`/v1/secrets`."""
        return Secrets(self)

    @cached_property
    def routines(self) -> Routines:
        """`/v1/routines`: agent work started by schedules, webhooks or by hand."""
        return Routines(self)

    @cached_property
    def webhooks(self) -> Webhooks:
        """`/v1/webhooks`: endpoints told when runs end."""
        return Webhooks(self)

    @cached_property
    def workspaces(self) -> Workspaces:
        """`/v1/workspaces` (with the server's operator key)."""
        return Workspaces(self)

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
        tools: Sequence[ToolLike] = (),
        metadata: dict[str, str] | None = None,
        permissions: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
        on_event: OnEvent | None = None,
        on_approval: OnApproval | None = None,
    ) -> Run:
        """Submit a run and return it completed, executing its client tools here.

        `on_approval(request)` decides each call its `permissions` hold for a person: it returns
        True (allow), False (deny), a `Decision`, or None to leave the call to someone else.
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
            permissions=permissions,
            idempotency_key=idempotency_key,
            on_event=on_event,
            on_approval=on_approval,
        )

    def __enter__(self) -> Corral:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class AsyncCorral(AsyncBaseClient):
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
            base_url=base_url,
            api_key=api_key,
            timeout=timeout,
            max_retries=max_retries,
            http_client=http_client,
        )

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
    def approvals(self) -> AsyncApprovals:
        """`/v1/approvals`: tool calls held for a person's decision."""
        return AsyncApprovals(self)

    @cached_property
    def models(self) -> AsyncModels:
        """`/v1/models`."""
        return AsyncModels(self)

    @cached_property
    def files(self) -> AsyncFiles:
        """`/v1/files`."""
        return AsyncFiles(self)

    @cached_property
    def keys(self) -> AsyncKeys:
        """`/v1/keys`."""
        return AsyncKeys(self)

    @cached_property
    def audit(self) -> AsyncAudit:
        """`/v1/audit`."""
        return AsyncAudit(self)

    @cached_property
    def secrets(self) -> AsyncSecrets:
        """`/v1/secrets`."""
        return AsyncSecrets(self)

    @cached_property
    def routines(self) -> AsyncRoutines:
        """`/v1/routines`: agent work started by schedules, webhooks or by hand."""
        return AsyncRoutines(self)

    @cached_property
    def webhooks(self) -> AsyncWebhooks:
        """`/v1/webhooks`: endpoints told when runs end."""
        return AsyncWebhooks(self)

    @cached_property
    def workspaces(self) -> AsyncWorkspaces:
        """`/v1/workspaces` (with the server's operator key)."""
        return AsyncWorkspaces(self)

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
        tools: Sequence[ToolLike] = (),
        metadata: dict[str, str] | None = None,
        permissions: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
        on_event: OnEvent | None = None,
        on_approval: OnApproval | None = None,
    ) -> Run:
        """Submit a run and return it completed, executing its client tools here.

        `on_approval(request)` decides each call its `permissions` hold for a person: it returns
        True (allow), False (deny), a `Decision`, or None to leave the call to someone else.
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
            permissions=permissions,
            idempotency_key=idempotency_key,
            on_event=on_event,
            on_approval=on_approval,
        )

    async def __aenter__(self) -> AsyncCorral:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
