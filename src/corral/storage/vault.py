"""Each workspace's sealed secrets, read from the database at most once per `ttl_s`.

Every submit that names a secret checks it exists, and every run that names one opens it when it
starts: on a busy server that is a query per submit and per run for the same few rows. The
vault keeps them (sealed, as stored) per workspace for `CORRAL_KEY_CACHE_S`, and is emptied on
every node at once when a secret changes anywhere (`SECRETS_CHANNEL`), as the key cache is; so a
run sees a new version or a deletion a broker hop after it is made.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from corral.storage import secrets as secret_store
from corral.storage.database import Database

__all__ = ["Vault"]

_MAX_WORKSPACES = 10_000


class Vault:
    """Workspace id → its secrets' sealed current values, remembered for `ttl_s`."""

    def __init__(self, ttl_s: float) -> None:
        self._ttl_s = ttl_s
        self._entries: dict[str, tuple[float, Mapping[str, str]]] = {}

    async def sealed(self, database: Database, workspace_id: str) -> Mapping[str, str]:
        """Name → sealed current value of every secret of the workspace."""
        entry = self._entries.get(workspace_id)
        if entry is not None and entry[0] > time.monotonic():
            return entry[1]
        values = await database.read(secret_store.all_sealed, workspace_id)
        if self._ttl_s > 0:
            if len(self._entries) >= _MAX_WORKSPACES:
                self._entries.clear()
            self._entries[workspace_id] = (time.monotonic() + self._ttl_s, values)
        return values

    def forget(self, workspace_id: str = "") -> None:
        """A secret of `workspace_id` changed (of any workspace, without one): read again."""
        if workspace_id:
            self._entries.pop(workspace_id, None)
        else:
            self._entries.clear()
