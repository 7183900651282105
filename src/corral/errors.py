"""The one error vocabulary of the server, raised by domain, storage and services alike.

(The SDK has its own tree, rooted at `corral.client.CorralError`: what a client sees of these.)

Every error has a machine `code` and an `http_status` as class attributes, and its docstring is
the default message. The API renders any of them as `{"error": code, "message", "field", ...}`.

    ServiceError                     500 internal_error
    ├── InvalidRequest               400 invalid_request   (field: JSON pointer to the bad input)
    │   └── InvalidModel             400 invalid_model
    ├── Unauthorized                 401 unauthorized
    ├── SpendLimitReached            402 spend_limit_reached (field: the cap)
    ├── Forbidden                    403 forbidden
    │   └── InsufficientScope        403 insufficient_scope (required_scope)
    ├── NotFound                     404 not_found
    │   └── UnknownToolCall          404 unknown_tool_call
    ├── Conflict                     409 conflict
    │   ├── IdempotencyConflict      409 idempotency_conflict
    │   ├── RunTerminal              409 run_terminal
    │   ├── RunActive                409 run_active
    │   ├── SessionEnded             409 session_ended
    │   ├── AgentArchived            409 agent_archived
    │   └── EnvironmentArchived      409 environment_archived
    ├── PayloadTooLarge              413 payload_too_large
    │   └── StorageLimitReached      413 storage_limit_reached (max_stored_bytes, stored_bytes)
    ├── RateLimited                  429 rate_limited      (retry_after_s)
    ├── Unavailable                  503 unavailable
    └── RunFailure                   ends a run; its code is the run's `error.code`
        ├── BudgetExceeded           max_turns_exceeded | max_tool_calls_exceeded | ...
        ├── ClientToolTimeout        client_tool_timeout
        ├── ProviderError            provider_error (and the provider_* codes)
        ├── SandboxUnavailable       sandbox_unavailable
        └── EnvironmentFailed        environment_unavailable
"""

from __future__ import annotations

from typing import Any, ClassVar

from corral.types.errors import ErrorCode


class ServiceError(Exception):
    """An unexpected error occurred."""

    code: str = ErrorCode.INTERNAL_ERROR
    http_status: ClassVar[int] = 500

    def __init__(
        self,
        message: str | None = None,
        *,
        field: str | None = None,
        code: str | None = None,
        **details: Any,
    ) -> None:
        self.message = message or (self.__doc__ or "").strip()
        self.field = field
        if code is not None:
            self.code = code
        self.details = details
        super().__init__(self.message)

    def to_body(self) -> dict[str, Any]:
        """The flat JSON body of PROTOCOL.md; extra fields describe the error further."""
        body: dict[str, Any] = {"error": str(self.code), "message": self.message}
        if self.field is not None:
            body["field"] = self.field
        body.update(self.details)
        return body


class InvalidRequest(ServiceError):
    """The request is not valid."""

    code = ErrorCode.INVALID_REQUEST
    http_status = 400


class SecretNotFound(InvalidRequest):
    """A `${secret:NAME}` reference names a secret the workspace does not have."""

    code = ErrorCode.SECRET_NOT_FOUND


class InvalidModel(InvalidRequest):
    """The model id cannot be resolved."""

    code = ErrorCode.INVALID_MODEL


class Unauthorized(ServiceError):
    """A valid API key is required: send `Authorization: Bearer <key>`."""

    code = ErrorCode.UNAUTHORIZED
    http_status = 401


class InvalidSignature(ServiceError):
    """The inbound webhook delivery is not signed with its trigger's secret."""

    code = ErrorCode.INVALID_SIGNATURE
    http_status = 401


class SpendLimitReached(ServiceError):
    """A spend cap is reached: nothing more is submitted against it until it resets or is raised."""

    code = ErrorCode.SPEND_LIMIT_REACHED
    http_status = 402


class Forbidden(ServiceError):
    """This key may not do that."""

    code = ErrorCode.FORBIDDEN
    http_status = 403


class InsufficientScope(Forbidden):
    """The API key lacks the scope this operation requires."""

    code = ErrorCode.INSUFFICIENT_SCOPE


class WorkspaceSuspended(Forbidden):
    """The workspace is suspended; its keys work again once the operator resumes it."""

    code = ErrorCode.WORKSPACE_SUSPENDED


class NotFound(ServiceError):
    """No such object in this workspace."""

    code = ErrorCode.NOT_FOUND
    http_status = 404


class UnknownToolCall(NotFound):
    """No pending tool call has this id: it is unknown or already answered."""

    code = ErrorCode.UNKNOWN_TOOL_CALL


class Conflict(ServiceError):
    """The request conflicts with the current state."""

    code = ErrorCode.CONFLICT
    http_status = 409


class ApprovalConflict(Conflict):
    """The call was already decided, the other way."""

    code = ErrorCode.APPROVAL_CONFLICT


class ApprovalExpired(Conflict):
    """The call's approval timed out before the decision arrived."""

    code = ErrorCode.APPROVAL_EXPIRED


class IdempotencyConflict(Conflict):
    """This idempotency key was already used with a different request body."""

    code = ErrorCode.IDEMPOTENCY_CONFLICT


class RunTerminal(Conflict):
    """The run has already ended."""

    code = ErrorCode.RUN_TERMINAL


class RunActive(Conflict):
    """The run has not ended yet; cancel it first."""

    code = ErrorCode.RUN_ACTIVE


class SessionEnded(Conflict):
    """The session has ended and takes no more messages."""

    code = ErrorCode.SESSION_ENDED


class AgentArchived(Conflict):
    """The agent is archived: it starts no new runs or sessions, while its sessions go on."""

    code = ErrorCode.AGENT_ARCHIVED


class EnvironmentArchived(Conflict):
    """The environment is archived: it can be read and deleted, not changed or used anew."""

    code = ErrorCode.ENVIRONMENT_ARCHIVED


class RoutinePaused(Conflict):
    """The routine is paused."""

    code = ErrorCode.ROUTINE_PAUSED


class PayloadTooLarge(ServiceError):
    """The request body is too large."""

    code = ErrorCode.PAYLOAD_TOO_LARGE
    http_status = 413


class StorageLimitReached(PayloadTooLarge):
    """The workspace keeps as many bytes of files as it may; delete some, or ask for more."""

    code = ErrorCode.STORAGE_LIMIT_REACHED


class RateLimited(ServiceError):
    """Too many requests; retry later."""

    code = ErrorCode.RATE_LIMITED
    http_status = 429


class Unavailable(ServiceError):
    """The service is not ready; retry shortly."""

    code = ErrorCode.UNAVAILABLE
    http_status = 503


class RunFailure(ServiceError):
    """The run failed.

    Each failure says why with a code of its own: a subclass's, or the `code` it is raised with.
    """

    http_status = 500


class BudgetExceeded(RunFailure):
    """The run exceeded one of its limits."""


class ClientToolTimeout(RunFailure):
    """No result arrived for a client tool call within its timeout."""

    code = ErrorCode.CLIENT_TOOL_TIMEOUT


class ApprovalTimeout(RunFailure):
    """No one decided on a held tool call within `permissions.approval_timeout_s`."""

    code = ErrorCode.APPROVAL_TIMEOUT


class ProviderError(RunFailure):
    """The model provider returned an error."""

    code = ErrorCode.PROVIDER_ERROR

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        retryable: bool = False,
        status: int | None = None,
        retry_after_s: float | None = None,
        **details: Any,
    ) -> None:
        super().__init__(message, code=code, **details)
        self.retryable = retryable
        self.status = status
        self.retry_after_s = retry_after_s


class SandboxUnavailable(RunFailure):
    """This server cannot enforce the sandbox the run's tools need; the message says the fix."""

    code = ErrorCode.SANDBOX_UNAVAILABLE


class EnvironmentFailed(RunFailure):
    """The run's environment could not be started."""

    code = ErrorCode.ENVIRONMENT_UNAVAILABLE
