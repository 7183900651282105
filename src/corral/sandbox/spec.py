"""What a run asks of its environment, and the ways an environment can fail it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from corral.sandbox.egress import EgressPolicy
from corral.sandbox.host import RUNTIME_SIZES, Limits, RuntimeSize

__all__ = ["EnvironmentLost", "EnvironmentSpec", "EnvironmentUnavailable", "WorkspaceBusy"]


class EnvironmentUnavailable(Exception):
    """An environment could not be started; the message says why."""


class WorkspaceBusy(EnvironmentUnavailable):
    """Another environment holds the workspace (its lock); nothing was started."""


class EnvironmentLost(Exception):
    """An environment died, stalled or broke the protocol during a call; it has been stopped."""


@dataclass(frozen=True, kw_only=True)
class EnvironmentSpec:
    """What a run asks of its environment."""

    key: str
    """The run's or session's id: names the workspace."""
    limits: Limits = RUNTIME_SIZES["small"]
    """What everything in it may use together (a runtime size's preset)."""
    network: EgressPolicy = field(default_factory=EgressPolicy)
    """Where its commands may connect (the run's networking and the operator's private hosts)."""
    variables: Mapping[str, str] = field(default_factory=dict)
    """Environment variables of every command."""

    @classmethod
    def of_size(cls, key: str, runtime: RuntimeSize, **fields: Any) -> EnvironmentSpec:
        """A spec with the limits of a runtime size."""
        return cls(key=key, limits=RUNTIME_SIZES[runtime], **fields)
