"""`client.approvals`: the tool calls a permission policy holds until a person decides.

A decision is safe to repeat (the same one again answers the approval as it stands), so it is
retried like a read; the other decision after it is a `ConflictError` (`approval_conflict`).
"""

from __future__ import annotations

import builtins
from typing import Any

from corral.client._decisions import decision_body
from corral.client._pagination import AsyncPage, SyncPage
from corral.client.resources._base import AsyncResource, SyncResource
from corral.client.resources._common import segment
from corral.types.permissions import Approval, ApprovalDecision, ApprovalStatus

LATE_DECISION_CODES = frozenset({"approval_conflict", "approval_expired", "run_terminal"})
"""Refusals of a decision that came after the call was settled (by someone else, a timeout, or
the run's end): a loop deciding as the run goes can let them pass."""


def _list_params(
    status: ApprovalStatus | str | None,
    agent: str | None,
    session: str | None,
    run: str | None,
    metadata: dict[str, str] | None,
    limit: int | None,
) -> dict[str, Any]:
    filters = [f"{k}:{v}" for k, v in (metadata or {}).items()] or None
    return {
        "status": status,
        "agent": agent,
        "session": session,
        "run": run,
        "metadata": filters,
        "limit": limit,
    }


def _decision_path(run_id: str, call_id: str) -> str:
    return f"/v1/runs/{segment(run_id)}/approvals/{segment(call_id)}"


class Approvals(SyncResource):
    """`/v1/approvals` and `/v1/runs/{id}/approvals`."""

    def list(
        self,
        *,
        status: ApprovalStatus | str | None = None,
        agent: str | None = None,
        session: str | None = None,
        run: str | None = None,
        metadata: dict[str, str] | None = None,
        limit: int | None = None,
    ) -> SyncPage[Approval]:
        """Approvals newest first, filtered: `status="pending"` is what waits for someone.

        `metadata` filters on the runs' metadata; every pair must match.
        """
        params = _list_params(status, agent, session, run, metadata, limit)
        return self._page("/v1/approvals", Approval, params)

    def of_run(self, run_id: str) -> builtins.list[Approval]:
        """Every approval of one run, oldest first."""
        body = self._client.request("GET", f"/v1/runs/{segment(run_id)}/approvals").json()
        return [Approval.model_validate(item) for item in body["data"]]

    def decide(
        self,
        run_id: str,
        call_id: str,
        *,
        decision: ApprovalDecision | str,
        message: str | None = None,
        input: dict[str, Any] | None = None,
    ) -> Approval:
        """Allow or deny a held call; the run goes on once all its held calls are decided."""
        response = self._client.request(
            "POST", _decision_path(run_id, call_id), json=decision_body(decision, message, input)
        )
        return Approval.model_validate(response.json())

    def allow(self, run_id: str, call_id: str, *, input: dict[str, Any] | None = None) -> Approval:
        """Let the call run, with `input` as its arguments instead of the model's if given."""
        return self.decide(run_id, call_id, decision=ApprovalDecision.ALLOW, input=input)

    def deny(self, run_id: str, call_id: str, *, message: str | None = None) -> Approval:
        """Refuse the call: it never runs, and the model reads `message` as its error."""
        return self.decide(run_id, call_id, decision=ApprovalDecision.DENY, message=message)


class AsyncApprovals(AsyncResource):
    """`/v1/approvals` and `/v1/runs/{id}/approvals`."""

    async def list(
        self,
        *,
        status: ApprovalStatus | str | None = None,
        agent: str | None = None,
        session: str | None = None,
        run: str | None = None,
        metadata: dict[str, str] | None = None,
        limit: int | None = None,
    ) -> AsyncPage[Approval]:
        """Approvals newest first, filtered: `status="pending"` is what waits for someone.

        `metadata` filters on the runs' metadata; every pair must match.
        """
        params = _list_params(status, agent, session, run, metadata, limit)
        return await self._page("/v1/approvals", Approval, params)

    async def of_run(self, run_id: str) -> builtins.list[Approval]:
        """Every approval of one run, oldest first."""
        response = await self._client.request("GET", f"/v1/runs/{segment(run_id)}/approvals")
        return [Approval.model_validate(item) for item in response.json()["data"]]

    async def decide(
        self,
        run_id: str,
        call_id: str,
        *,
        decision: ApprovalDecision | str,
        message: str | None = None,
        input: dict[str, Any] | None = None,
    ) -> Approval:
        """Allow or deny a held call; the run goes on once all its held calls are decided."""
        response = await self._client.request(
            "POST", _decision_path(run_id, call_id), json=decision_body(decision, message, input)
        )
        return Approval.model_validate(response.json())

    async def allow(
        self, run_id: str, call_id: str, *, input: dict[str, Any] | None = None
    ) -> Approval:
        """Let the call run, with `input` as its arguments instead of the model's if given."""
        return await self.decide(run_id, call_id, decision=ApprovalDecision.ALLOW, input=input)

    async def deny(self, run_id: str, call_id: str, *, message: str | None = None) -> Approval:
        """Refuse the call: it never runs, and the model reads `message` as its error."""
        return await self.decide(run_id, call_id, decision=ApprovalDecision.DENY, message=message)
