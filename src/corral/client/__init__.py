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
from corral.types.events import ApprovalRequested, SubagentCompleted, SubagentStarted
from corral.types.permissions import Approval, ApprovalStatus
from corral.types.routines import Fire, Routine
from corral.types.tools import (
    AgentToolRef,
    BuiltinToolRef,
    ClientToolRef,
    McpToolRef,
    SubagentToolRef,
)
from corral.types.webhooks import Delivery, Webhook, WebhookCreated, WebhookSecret

__all__ = [
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AgentToolRef",
    "AnyEvent",
    "Approval",
    "ApprovalRequested",
    "ApprovalStatus",
    "AsyncCorral",
    "AsyncPage",
    "AsyncStream",
    "AuthenticationError",
    "BuiltinToolRef",
    "ClientToolRef",
    "ConflictError",
    "Corral",
    "CorralError",
    "Decision",
    "DecisionLike",
    "Delivery",
    "Fire",
    "InvalidRequestError",
    "McpToolRef",
    "NotFoundError",
    "OnApproval",
    "PermissionDeniedError",
    "RateLimitError",
    "Routine",
    "RunCancelledError",
    "RunError",
    "RunFailedError",
    "RunTimedOutError",
    "ServerError",
    "SpendLimitError",
    "Stream",
    "SubagentCompleted",
    "SubagentStarted",
    "SubagentToolRef",
    "SyncPage",
    "Tool",
    "UnknownEvent",
    "Webhook",
    "WebhookCreated",
    "WebhookSecret",
    "tool",
]
