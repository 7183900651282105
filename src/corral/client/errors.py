"""Exceptions the SDK raises, one class per meaning, all under `CorralError`.

CorralError
├── APIConnectionError            the server could not be reached (after retries): `url`
│   └── APITimeoutError           a request timed out
├── APIStatusError                the server answered an error status (after retries)
│   ├── InvalidRequestError       400: `field` names the offending input
│   ├── AuthenticationError       401
│   ├── SpendLimitError           402: `field` names the spend cap reached
│   ├── PermissionDeniedError     403: `required_scope` when a scope is missing
│   ├── NotFoundError             404
│   ├── ConflictError             409: `run_terminal`, `run_active`, `idempotency_conflict`…
│   ├── RateLimitError            429: `retry_after_s`
│   └── ServerError               5xx
└── RunError                      a run ended without completing
    ├── RunFailedError            status `failed`
    │   └── RunTimedOutError      status `timed_out`
    └── RunCancelledError         status `cancelled`
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from corral.types.runs import Run


class CorralError(Exception):
    """Base of every error the SDK raises."""


class APIConnectionError(CorralError):
    """The server could not be reached; `url` is where the request went, when known."""

    def __init__(self, message: str, *, url: str | None = None) -> None:
        super().__init__(message)
        self.url = url


class APITimeoutError(APIConnectionError):
    """The request timed out."""


class APIStatusError(CorralError):
    """The server answered with an error status; `code` is the protocol's machine code."""

    def __init__(
        self,
        message: str,
        *,
        status: int,
        code: str,
        body: dict[str, Any],
        request_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.body = body
        self.request_id = request_id

    @property
    def field(self) -> str | None:
        """The offending input, when the server named one."""
        value = self.body.get("field")
        return str(value) if value is not None else None

    @property
    def candidates(self) -> list[str]:
        """What the server would have accepted instead (`invalid_model` lists model ids)."""
        value = self.body.get("candidates")
        return [str(item) for item in value] if isinstance(value, list) else []

    def __str__(self) -> str:
        return f"{self.status} {self.code}: {self.message}"


class InvalidRequestError(APIStatusError):
    """400: the request is invalid; see `field`."""


class AuthenticationError(APIStatusError):
    """401: missing or invalid API key."""


class SpendLimitError(APIStatusError):
    """402: a spend cap of the workspace, an agent or the session is reached; see `field`."""

    @property
    def resets_at(self) -> str | None:
        """When a daily or monthly cap starts counting again (RFC 3339); None for a session's."""
        value = self.body.get("resets_at")
        return str(value) if value is not None else None


class PermissionDeniedError(APIStatusError):
    """403: the key may not do this."""

    @property
    def required_scope(self) -> str | None:
        """The scope the key lacks, for `insufficient_scope`."""
        value = self.body.get("required_scope")
        return str(value) if value is not None else None


class NotFoundError(APIStatusError):
    """404: no such object in this workspace."""


class ConflictError(APIStatusError):
    """409: the request conflicts with the current state."""


class RateLimitError(APIStatusError):
    """429: too many requests."""

    @property
    def retry_after_s(self) -> float | None:
        """When to try again, as the server said."""
        value = self.body.get("retry_after_s")
        return float(value) if value is not None else None


class ServerError(APIStatusError):
    """5xx: the server failed."""


class RunError(CorralError):
    """A run ended without completing; `run` is the ended run."""

    def __init__(self, run: Run) -> None:
        self.run = run
        error = run.error
        detail = f"{error.code}: {error.message}" if error else run.status
        super().__init__(f"run {run.id} ended {run.status} ({detail})")

    @property
    def code(self) -> str | None:
        """The run's `error.code`."""
        return self.run.error.code if self.run.error else None


class RunFailedError(RunError):
    """The run failed."""


class RunTimedOutError(RunFailedError):
    """The run exceeded its timeout."""


class RunCancelledError(RunError):
    """The run was cancelled."""


_BY_STATUS: dict[int, type[APIStatusError]] = {
    400: InvalidRequestError,
    401: AuthenticationError,
    402: SpendLimitError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    413: InvalidRequestError,
    422: InvalidRequestError,
    429: RateLimitError,
}


def status_error_class(status: int) -> type[APIStatusError]:
    """The exception class for an error status."""
    if status >= 500:
        return ServerError
    return _BY_STATUS.get(status, APIStatusError)


def run_error(run: Run) -> RunError | None:
    """The error a run that did not complete stands for, or None when it completed."""
    if run.status == "failed":
        return RunFailedError(run)
    if run.status == "timed_out":
        return RunTimedOutError(run)
    if run.status == "cancelled":
        return RunCancelledError(run)
    return None
