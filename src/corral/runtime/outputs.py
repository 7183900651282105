"""A run's outputs at its end, kept as far as its workspace's stored-bytes limit allows.

An output that would take the workspace past `max_stored_bytes` is left out of the run's
outputs, and a warning names it; the run ends as it would have. `GET /v1/whoami` shows the
workspace's stored bytes beside its limit.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from corral.context import ServiceContext
from corral.domain import quotas
from corral.storage import files as file_store
from corral.storage import workspaces as workspace_store
from corral.storage.database import Connection
from corral.storage.runs import RunRecord

logger = logging.getLogger(__name__)

_NAMED = 20
"""Most paths a warning names."""


async def keep_within_limit(
    services: ServiceContext, run: RunRecord, outputs: Sequence[tuple[str, bytes]]
) -> list[tuple[str, bytes]]:
    """The `(path, content)` outputs the workspace has room for, in order."""
    if not outputs:
        return []

    def read(conn: Connection) -> tuple[dict[str, float], int]:
        overrides = workspace_store.limits_of(conn, run.workspace_id)
        return overrides, file_store.stored_bytes(conn, run.workspace_id)

    overrides, stored = await services.database.read(read)
    default = services.settings.workspace_max_stored_bytes
    limit = quotas.effective(overrides, quotas.MAX_STORED_BYTES, default)
    kept, left_out = quotas.keep_within(outputs, stored, limit)
    if left_out:
        logger.warning(
            "outputs not kept: the workspace's stored-bytes limit is reached",
            extra={
                "action": "outputs.over_limit",
                "run_id": run.id,
                "workspace_id": run.workspace_id,
                "max_stored_bytes": limit,
                "stored_bytes": stored,
                "left_out_count": len(left_out),
                "left_out": left_out[:_NAMED],
            },
        )
    return kept
