"""`client.workspaces`: the server's workspaces, for its operator.

These routes answer only the server's operator key (`CORRAL_OPERATOR_KEY`), passed as the
client's `api_key`; a workspace's own keys get `PermissionDeniedError`. A new workspace's admin
key `secret` comes back from `create` only, so keep it when you get it.

`create` is never retried: the server would create the workspace once and answer `conflict`
to a repeat.
"""

from __future__ import annotations

from typing import Any

from corral.client._pagination import AsyncPage, SyncPage
from corral.client.resources._base import AsyncResource, SyncResource
from corral.client.resources._common import segment
from corral.types.workspaces import Workspace, WorkspaceWithKey


def _limits_body(**limits: float | None) -> dict[str, Any]:
    """The body of `PATCH /v1/workspaces/{id}`: the whole set of the workspace's own limits."""
    return {"limits": limits}


class Workspaces(SyncResource):
    """`/v1/workspaces`."""

    def create(self, *, name: str) -> WorkspaceWithKey:
        """Create a workspace with its first admin key (whose `secret` is shown this once).

        Never retried, as a repeat would answer `conflict`: after an error, `retrieve(name)` tells
        whether it was created (if so, delete it and create it again to get a key).
        """
        response = self._client.request("POST", "/v1/workspaces", json={"name": name}, retry=False)
        return WorkspaceWithKey.model_validate(response.json())

    def list(self) -> SyncPage[Workspace]:
        """Every workspace of the server, oldest first."""
        return self._page("/v1/workspaces", Workspace, {})

    def retrieve(self, workspace: str) -> Workspace:
        """A workspace, by id or name."""
        response = self._client.request("GET", f"/v1/workspaces/{segment(workspace)}")
        return Workspace.model_validate(response.json())

    def set_limits(
        self,
        workspace: str,
        *,
        requests_per_minute: int | None = None,
        key_requests_per_minute: int | None = None,
        submits_per_minute: int | None = None,
        spend_per_day_usd: float | None = None,
        spend_per_month_usd: float | None = None,
        max_concurrent_runs: int | None = None,
        max_concurrent_runs_per_agent: int | None = None,
        max_stored_bytes: int | None = None,
    ) -> Workspace:
        """Replace the workspace's own limits (None: the server's; 0: unlimited).

        Rates are per minute; spend caps are US dollars per UTC day and month; concurrent runs
        over a cap wait `queued`; stored bytes count uploads and run outputs.
        """
        body = _limits_body(
            requests_per_minute=requests_per_minute,
            key_requests_per_minute=key_requests_per_minute,
            submits_per_minute=submits_per_minute,
            spend_per_day_usd=spend_per_day_usd,
            spend_per_month_usd=spend_per_month_usd,
            max_concurrent_runs=max_concurrent_runs,
            max_concurrent_runs_per_agent=max_concurrent_runs_per_agent,
            max_stored_bytes=max_stored_bytes,
        )
        path = f"/v1/workspaces/{segment(workspace)}"
        return Workspace.model_validate(self._client.request("PATCH", path, json=body).json())

    def suspend(self, workspace: str) -> Workspace:
        """Stop every key of the workspace at once, on every server (its runs go on)."""
        path = f"/v1/workspaces/{segment(workspace)}/suspend"
        return Workspace.model_validate(self._client.request("POST", path).json())

    def resume(self, workspace: str) -> Workspace:
        """Let a suspended workspace's keys work again."""
        path = f"/v1/workspaces/{segment(workspace)}/resume"
        return Workspace.model_validate(self._client.request("POST", path).json())

    def delete(self, workspace: str) -> None:
        """Cancel the workspace's active runs, then delete it and everything in it."""
        self._client.request("DELETE", f"/v1/workspaces/{segment(workspace)}")


class AsyncWorkspaces(AsyncResource):
    """`/v1/workspaces`."""

    async def create(self, *, name: str) -> WorkspaceWithKey:
        """Create a workspace with its first admin key (whose `secret` is shown this once).

        Never retried, as a repeat would answer `conflict`: after an error, `retrieve(name)` tells
        whether it was created (if so, delete it and create it again to get a key).
        """
        response = await self._client.request(
            "POST", "/v1/workspaces", json={"name": name}, retry=False
        )
        return WorkspaceWithKey.model_validate(response.json())

    async def list(self) -> AsyncPage[Workspace]:
        """Every workspace of the server, oldest first."""
        return await self._page("/v1/workspaces", Workspace, {})

    async def retrieve(self, workspace: str) -> Workspace:
        """A workspace, by id or name."""
        response = await self._client.request("GET", f"/v1/workspaces/{segment(workspace)}")
        return Workspace.model_validate(response.json())

    async def set_limits(
        self,
        workspace: str,
        *,
        requests_per_minute: int | None = None,
        key_requests_per_minute: int | None = None,
        submits_per_minute: int | None = None,
        spend_per_day_usd: float | None = None,
        spend_per_month_usd: float | None = None,
        max_concurrent_runs: int | None = None,
        max_concurrent_runs_per_agent: int | None = None,
        max_stored_bytes: int | None = None,
    ) -> Workspace:
        """Replace the workspace's own limits (None: the server's; 0: unlimited).

        Rates are per minute; spend caps are US dollars per UTC day and month; concurrent runs
        over a cap wait `queued`; stored bytes count uploads and run outputs.
        """
        body = _limits_body(
            requests_per_minute=requests_per_minute,
            key_requests_per_minute=key_requests_per_minute,
            submits_per_minute=submits_per_minute,
            spend_per_day_usd=spend_per_day_usd,
            spend_per_month_usd=spend_per_month_usd,
            max_concurrent_runs=max_concurrent_runs,
            max_concurrent_runs_per_agent=max_concurrent_runs_per_agent,
            max_stored_bytes=max_stored_bytes,
        )
        path = f"/v1/workspaces/{segment(workspace)}"
        response = await self._client.request("PATCH", path, json=body)
        return Workspace.model_validate(response.json())

    async def suspend(self, workspace: str) -> Workspace:
        """Stop every key of the workspace at once, on every server (its runs go on)."""
        path = f"/v1/workspaces/{segment(workspace)}/suspend"
        return Workspace.model_validate((await self._client.request("POST", path)).json())

    async def resume(self, workspace: str) -> Workspace:
        """Let a suspended workspace's keys work again."""
        path = f"/v1/workspaces/{segment(workspace)}/resume"
        return Workspace.model_validate((await self._client.request("POST", path)).json())

    async def delete(self, workspace: str) -> None:
        """Cancel the workspace's active runs, then delete it and everything in it."""
        await self._client.request("DELETE", f"/v1/workspaces/{segment(workspace)}")
