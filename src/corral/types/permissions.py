"""Permission policies of tool calls, and the approvals a person gives or refuses."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import Field, model_validator
from pydantic_core import PydanticCustomError

from corral.types.common import ParamsModel, WireModel
from corral.types.tools import ToolName

PolicyName = Literal["allow", "ask", "deny"]
CommandPrefix = Annotated[str, Field(min_length=1, max_length=500)]


class PermissionRule(ParamsModel):
    """A policy for the calls of one tool, or of one MCP server's tools, that meet a condition."""

    tool: ToolName
    """A tool's name as the model calls it (`bash`, `github__create_issue`) or an MCP server's."""
    policy: PolicyName
    command_prefix: Annotated[list[CommandPrefix], Field(min_length=1, max_length=64)] | None = None
    """Only calls whose `command` argument starts with one of these, as whole words
    (`git status` meets `git status -s`, not `git statusx`). A command that chains or
    substitutes others (`;`, `&&`, `|`, `$(`, a backtick, a redirection, a line break) meets
    none."""


class Permissions(ParamsModel):
    """When the tools Corral runs (builtin and MCP) may run: at once, after approval, or never.

    Tools the caller runs (client tools) are the caller's to decide.

    A run's permissions are its agent's, then its session's, then its own: a later `default`
    replaces an earlier one, later `tools` entries win, later `rules` are tried first.
    """

    default: PolicyName | None = None
    """The policy of a call nothing else speaks about (unset everywhere: `allow`)."""
    tools: Annotated[dict[ToolName, PolicyName], Field(max_length=256)] = Field(
        default_factory=dict
    )
    """Policies by tool name (`bash`, `github__create_issue`) or MCP server name (`github`: all
    its tools); a tool's own entry wins over its server's."""
    rules: Annotated[list[PermissionRule], Field(max_length=64)] = Field(default_factory=list)
    """Tried in order before `tools`; the first that meets the call decides."""
    approval_timeout_s: Annotated[float, Field(gt=0, le=30 * 86_400)] | None = None
    """How long a call may wait for its decision; then the run fails with `approval_timeout`.
    Unset: as long as it takes."""


class ApprovalStatus(StrEnum):
    """Where a request for approval is."""

    PENDING = "pending"  #: waiting for a decision
    ALLOWED = "allowed"  #: the call ran (with `input` as edited, if it was)
    DENIED = "denied"  #: the call did not run; the model read why
    EXPIRED = "expired"  #: no decision within `approval_timeout_s`; the run failed
    WITHDRAWN = "withdrawn"  #: the run ended (cancelled, say) before a decision


class ApprovalDecision(StrEnum):
    """What a person decides."""

    ALLOW = "allow"
    DENY = "deny"


class ApprovalDecisionParams(ParamsModel):
    """Body of `POST /v1/runs/{id}/approvals/{call_id}`."""

    decision: ApprovalDecision
    message: Annotated[str, Field(max_length=10_000)] | None = None
    """On `deny`: what the model reads about why (default: that a person refused the call)."""
    input: dict[str, Any] | None = None
    """On `allow`: the arguments the call runs with instead of the model's."""

    @model_validator(mode="after")
    def _fits_the_decision(self) -> ApprovalDecisionParams:
        if self.decision is ApprovalDecision.ALLOW and self.message is not None:
            raise PydanticCustomError(
                "decision_fields",
                "'message' goes with a deny: the model reads it instead of the call's output",
                {"field": "message"},
            )
        if self.decision is ApprovalDecision.DENY and self.input is not None:
            raise PydanticCustomError(
                "decision_fields",
                "'input' goes with an allow: a denied call does not run",
                {"field": "input"},
            )
        return self


class PendingApproval(WireModel):
    """A call of a `waiting` run that waits for a person's decision."""

    approval_id: str
    call_id: str
    name: str
    input: dict[str, Any]
    policy: str
    expires_at: datetime | None = None


class Approval(WireModel):
    """A tool call that waits, or waited, for a person's decision."""

    id: str
    run_id: str
    session_id: str | None
    agent: str | None
    """Id of the run's stored agent (null for an inline spec)."""
    call_id: str
    tool: str
    """The tool's name, as the model called it."""
    input: dict[str, Any]
    """The arguments the model gave."""
    policy: str
    """What asked: `rules[0]`, `tools.bash`, `tools.github` or `default`."""
    status: ApprovalStatus
    decided_input: dict[str, Any] | None = None
    """The arguments it ran with, when the approver edited them."""
    message: str | None = None
    """The approver's message, on a denial."""
    decided_by: str | None = None
    """Id of the API key that decided."""
    metadata: dict[str, str] = Field(default_factory=dict)
    """The run's metadata."""
    created_at: datetime
    expires_at: datetime | None = None
    decided_at: datetime | None = None
