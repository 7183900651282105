"""The Corral Python SDK: `Corral` (sync) and `AsyncCorral` (async).

It needs only `httpx` and `pydantic` (and the wire types in `corral.types`), never the server.
"""

from __future__ import annotations

from corral.client._client import AsyncCorral, Corral
from corral.client._decisions import Decision, DecisionLike, OnApproval
from corral.client._pagination import AsyncPage, SyncPage
from corral.client._sse import AnyEvent, AsyncStream, Stream, UnknownEvent
from corral.client._tools import Tool, tool
from corral.client.errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    ConflictError,
    CorralError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    RunCancelledError,
    RunError,
    RunFailedError,
    RunTimedOutError,
    ServerError,
    SpendLimitError,
)
from corral.types.events import ApprovalRequested
from corral.types.permissions import Approval, ApprovalStatus

__all__ = [
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AnyEvent",
    "Approval",
    "ApprovalRequested",
    "ApprovalStatus",
    "AsyncCorral",
    "AsyncPage",
    "AsyncStream",
    "AuthenticationError",
    "ConflictError",
    "Corral",
    "CorralError",
    "Decision",
    "DecisionLike",
    "InvalidRequestError",
    "NotFoundError",
    "OnApproval",
    "PermissionDeniedError",
    "RateLimitError",
    "RunCancelledError",
    "RunError",
    "RunFailedError",
    "RunTimedOutError",
    "ServerError",
    "SpendLimitError",
    "Stream",
    "SyncPage",
    "Tool",
    "UnknownEvent",
    "tool",
]
