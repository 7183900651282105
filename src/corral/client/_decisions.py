"""What an approval callback may answer, and the request body each answer stands for.

A callback answers `True`/`False` for the common case, a `Decision` to edit the arguments or
tell the model why, or `None` to leave the call for someone else to decide.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from corral.types.events import ApprovalRequested
from corral.types.permissions import ApprovalDecision, ApprovalDecisionParams


@dataclass(frozen=True, slots=True)
class Decision:
    """A person's answer to a held tool call: `Decision.allow(...)` or `Decision.deny(...)`."""

    decision: ApprovalDecision
    message: str | None = None
    """On a denial: what the model reads about why."""
    input: dict[str, Any] | None = None
    """On an allow: the arguments the call runs with instead of the model's."""

    @classmethod
    def allow(cls, input: dict[str, Any] | None = None) -> Decision:
        """Let the call run, with `input` as its arguments if given."""
        return cls(ApprovalDecision.ALLOW, input=input)

    @classmethod
    def deny(cls, message: str | None = None) -> Decision:
        """Refuse the call; the model reads `message` (default: that a person refused it)."""
        return cls(ApprovalDecision.DENY, message=message)

    def body(self) -> dict[str, Any]:
        """The body of `POST /v1/runs/{id}/approvals/{call_id}`."""
        return decision_body(self.decision, self.message, self.input)


DecisionLike = bool | Decision | Mapping[str, Any] | None
"""`True` allows, `False` denies, a mapping is a decision body, `None` leaves it undecided."""

OnApproval = Callable[[ApprovalRequested], DecisionLike | Awaitable[DecisionLike]]
"""Called with each `approval.requested` event a high-level call sees (async code may await)."""


def decision_body(
    decision: ApprovalDecision | str,
    message: str | None = None,
    input: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A checked decision body: a message goes with a denial only, edited input with an allow.

    The request's own model checks it, so a mix-up is a `ValueError` here, before any request.
    """
    params = ApprovalDecisionParams(
        decision=ApprovalDecision(decision), message=message, input=input
    )
    return params.model_dump(mode="json", exclude_none=True)


def as_decision(answer: DecisionLike) -> Decision | None:
    """What a callback's answer decides (None: nothing, the call stays pending)."""
    if answer is None or isinstance(answer, Decision):
        return answer
    if isinstance(answer, bool):
        return Decision.allow() if answer else Decision.deny()
    if isinstance(answer, Mapping):
        params = ApprovalDecisionParams.model_validate(dict(answer))
        return Decision(params.decision, message=params.message, input=params.input)
    raise TypeError(
        "an approval callback returns True, False, a Decision, a decision dict or None; "
        f"got {type(answer).__name__}"
    )
