"""Workspaces and the caller's identity."""

from __future__ import annotations

from corral.types.common import WireModel


class WorkspaceRef(WireModel):
    """The workspace a key belongs to."""

    id: str
    name: str


class KeyRef(WireModel):
    """The API key making the request."""

    id: str
    name: str
    scopes: list[str]


class EffectiveLimits(WireModel):
    """Defaults and ceilings that apply to this workspace's runs."""

    max_turns: int
    max_tool_calls_per_turn: int
    run_timeout_s: float
    client_tool_timeout_s: float
    metadata_max_entries: int
    max_body_bytes: int


class SandboxInfo(WireModel):
    """How this server isolates the commands of agents' tools."""

    tier: str
    """`bwrap` (bubblewrap: read-only system, private PID namespace, no capabilities) or
    `process` (a process group in the workspace directory: no file-system isolation)."""
    cgroups: str | None
    """`v1` or `v2` when CPU, memory and process limits are enforced; null when they are not."""
    kill_tree: str
    """How a command's whole process tree is killed: `pid_namespace`, `cgroup` or
    `process_group`."""
    netns: bool
    """Whether `networking.mode: limited` can be enforced."""
    detail: str


class WhoAmI(WireModel):
    """Body of `GET /v1/whoami`."""

    workspace: WorkspaceRef
    key: KeyRef
    limits: EffectiveLimits
    sandbox: SandboxInfo
