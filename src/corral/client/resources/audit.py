"""`client.audit`: the recorded changes to the workspace's keys, secrets and limits."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from corral.client._pagination import AsyncPage, SyncPage
from corral.client.resources._base import AsyncResource, SyncResource
from corral.types.audit import AuditEvent


def _list_params(
    limit: int | None, action: str | None, since: datetime | None, until: datetime | None
) -> dict[str, Any]:
    """Query parameters; times go as ISO 8601, which is all a query string can carry."""
    return {
        "limit": limit,
        "action": action,
        "since": since.isoformat() if since is not None else None,
        "until": until.isoformat() if until is not None else None,
    }


class Audit(SyncResource):
    """`/v1/audit`."""

    def list(
        self,
        *,
        limit: int | None = None,
        action: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> SyncPage[AuditEvent]:
        """Entries newest first, of one `action` or between two times (iterating walks all pages).

        `limit` is the size of each page, not a cap on the entries iterated.
        """
        return self._page("/v1/audit", AuditEvent, _list_params(limit, action, since, until))


class AsyncAudit(AsyncResource):
    """`/v1/audit`."""

    async def list(
        self,
        *,
        limit: int | None = None,
        action: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> AsyncPage[AuditEvent]:
        """Entries newest first, of one `action` or between two times (iterating walks all pages).

        `limit` is the size of each page, not a cap on the entries iterated.
        """
        return await self._page("/v1/audit", AuditEvent, _list_params(limit, action, since, until))
