"""Every machine-readable error code Corral returns, and the shape of an error body."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict


class ErrorCode(StrEnum):
    """Codes of `error` in error bodies and of `error.code` on failed runs."""

    # Request errors (HTTP status in the comment)
    INVALID_REQUEST = "invalid_request"  #: 400 the body, a query parameter or a field is invalid
    INVALID_MODEL = "invalid_model"  #: 400 the model id cannot be resolved
    MISSING_PROVIDER_KEY = "missing_provider_key"  #: 400 no key for the model's provider
    SECRET_NOT_FOUND = "secret_not_found"  #: 400 a `${secret:NAME}` names no secret (or a run's)
    UNAUTHORIZED = "unauthorized"  #: 401 missing, unknown or revoked API key
    INVALID_SIGNATURE = "invalid_signature"  #: 401 an inbound webhook's signature does not verify
    SPEND_LIMIT_REACHED = "spend_limit_reached"  #: 402 a spend cap is reached
    FORBIDDEN = "forbidden"  #: 403 the key may not do this
    INSUFFICIENT_SCOPE = "insufficient_scope"  #: 403 the key lacks `required_scope`
    WORKSPACE_SUSPENDED = "workspace_suspended"  #: 403 the key's workspace is suspended
    NOT_FOUND = "not_found"  #: 404 no such object in this workspace
    UNKNOWN_TOOL_CALL = "unknown_tool_call"  #: 404 tool result for an unknown or answered call
    METHOD_NOT_ALLOWED = "method_not_allowed"  #: 405 the path exists but not with this method
    CONFLICT = "conflict"  #: 409 the request conflicts with current state (e.g. a taken name)
    IDEMPOTENCY_CONFLICT = "idempotency_conflict"  #: 409 key reused with a different body
    RUN_TERMINAL = "run_terminal"  #: 409 the run has already ended
    RUN_ACTIVE = "run_active"  #: 409 the run has not ended yet
    SESSION_ENDED = "session_ended"  #: 409 the session has ended
    AGENT_ARCHIVED = "agent_archived"  #: 409 the agent is archived: it starts nothing new
    ENVIRONMENT_ARCHIVED = "environment_archived"  #: 409 the environment is archived (read-only)
    ROUTINE_PAUSED = "routine_paused"  #: 409 the routine is paused, so its webhook takes nothing
    APPROVAL_CONFLICT = "approval_conflict"  #: 409 the call was already decided the other way
    APPROVAL_EXPIRED = "approval_expired"  #: 409 the call's approval timed out before the decision
    PAYLOAD_TOO_LARGE = "payload_too_large"  #: 413 the request body is too large
    STORAGE_LIMIT_REACHED = "storage_limit_reached"  #: 413 the workspace keeps too many bytes
    RATE_LIMITED = "rate_limited"  #: 429 too many requests
    INTERNAL_ERROR = "internal_error"  #: 500 unexpected server fault
    UNAVAILABLE = "unavailable"  #: 503 not ready (database unreachable or schema behind)

    # Run failures (the `error.code` of a run that ended `failed` or `timed_out`)
    RUN_TIMEOUT = "run_timeout"  #: the run exceeded `limits.timeout_s`
    MAX_TURNS_EXCEEDED = "max_turns_exceeded"  #: the model took more than `limits.max_turns`
    MAX_TOOL_CALLS_EXCEEDED = "max_tool_calls_exceeded"  #: a turn made too many tool calls
    MAX_OUTPUT_TOKENS_EXCEEDED = "max_output_tokens_exceeded"  #: output tokens over budget
    BUDGET_EXCEEDED = "budget_exceeded"  #: the run or its session spent its spend cap
    MODEL_NOT_PRICED = "model_not_priced"  #: 400 a spend cap is set on a model without a price
    CLIENT_TOOL_TIMEOUT = "client_tool_timeout"  #: no client tool result within its timeout
    APPROVAL_TIMEOUT = "approval_timeout"  #: no decision on a held call within its timeout
    PROVIDER_ERROR = "provider_error"  #: the model provider failed
    PROVIDER_RATE_LIMITED = "provider_rate_limited"  #: the provider kept answering 429
    PROVIDER_OVERLOADED = "provider_overloaded"  #: the provider kept answering 529 / overloaded
    PROVIDER_AUTH_ERROR = "provider_auth_error"  #: the provider refused the key (401/403)
    CONTEXT_LENGTH_EXCEEDED = "context_length_exceeded"  #: the conversation is too long
    SETUP_FAILED = "setup_failed"  #: a setup command of the run's environment failed
    INPUTS_UNAVAILABLE = "inputs_unavailable"  #: an input file or skill could not be placed
    SANDBOX_UNAVAILABLE = "sandbox_unavailable"  #: this server cannot sandbox the agent's tools
    ENVIRONMENT_UNAVAILABLE = "environment_unavailable"  #: the run's environment did not start

    # Why a routine's fire failed (its `error.code`, besides the codes above)
    TEMPLATE_ERROR = "template_error"  #: the routine's input template failed to render

    # Tool errors the model reads (the call's result; the run goes on)
    SUBAGENT_DEPTH_EXCEEDED = "subagent_depth_exceeded"  #: a subagent would be too deep
    SUBAGENT_BREADTH_EXCEEDED = "subagent_breadth_exceeded"  #: too many subagents


class ErrorBody(BaseModel):
    """The body of every non-2xx response."""

    model_config = ConfigDict(extra="allow", use_attribute_docstrings=True)

    error: str
    """Machine-readable code, one of `ErrorCode`."""
    message: str
    """What went wrong, for humans."""
    field: str | None = None
    """JSON pointer (`/metadata/team`) or query parameter name of the offending input."""
    request_id: str | None = None
    """Id of the request, also in the `X-Request-Id` response header."""
