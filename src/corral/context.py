"""The handles one process shares among its use cases and its runs.

Built once per process by `corral.process`: the database, the broker, the model catalog, the
secret box, the sandbox's capabilities, the settings and the clock. The API's services and the
worker's runs take it whole rather than each re-listing what they use of it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from corral.clock import utcnow
from corral.domain.budgets import Defaults
from corral.providers.registry import ModelRegistry
from corral.pubsub.base import Broker
from corral.sandbox.capabilities import Capabilities
from corral.security.sealed import SecretBox
from corral.settings import Settings
from corral.storage.database import Database
from corral.storage.recent import RecentEvents
from corral.storage.vault import Vault

__all__ = ["ServiceContext"]


@dataclass(kw_only=True)
class ServiceContext:
    """Shared handles, built once per process."""

    settings: Settings
    database: Database
    broker: Broker
    models: ModelRegistry
    secrets: SecretBox
    """Seals the provider keys runs bring."""
    sandbox: Capabilities
    """What this host's sandbox can enforce (probed at start)."""
    clock: Callable[[], datetime] = field(default=utcnow)
    vault: Vault = field(default_factory=lambda: Vault(0.0))
    """The workspaces' sealed secrets, remembered for `key_cache_s` (see `storage.vault`)."""
    recent: RecentEvents = field(default_factory=RecentEvents)
    """The newest events this process wrote, which its live streams read first."""

    @property
    def defaults(self) -> Defaults:
        """Limits applied when an agent leaves them unset."""
        return Defaults(
            max_turns=self.settings.max_turns,
            max_tool_calls_per_turn=self.settings.max_tool_calls_per_turn,
            timeout_s=self.settings.run_timeout_s,
        )
