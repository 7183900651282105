"""Workspaces and the caller's identity."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from corral.types.common import ParamsModel, WireModel
from corral.types.keys import ApiKeyWithSecret


class WorkspaceRef(WireModel):
    """The workspace a key belongs to."""

    id: str
    name: str


class KeyRef(WireModel):
    """The API key making the request."""

    id: str
    name: str
    scopes: list[str]


class RateStanding(WireModel):
    """One rate limit, and where the caller stands against it this minute."""

    name: Literal["key_requests", "workspace_requests", "workspace_submits"]
    per_minute: int
    remaining: int | None = None
    """Left in the current window; null when the limit store cannot be reached."""


class SpendStanding(WireModel):
    """One spend cap of the workspace, and what its runs have spent against it this period."""

    field: str
    """The cap's name in the workspace's `limits`: `limits.spend_per_day_usd` or
    `limits.spend_per_month_usd` (the name a 402 `spend_limit_reached` gives)."""
    period: Literal["day", "month"]
    """The UTC calendar period it counts over."""
    cap_usd: float
    spent_usd: float | None = None
    """What the workspace's runs created this period have spent; null when it cannot be read."""
    remaining_usd: float | None = None
    """What is left before new runs are refused; null when the spend cannot be read."""
    resets_at: datetime
    """When the period ends and the count starts again."""


class EffectiveLimits(WireModel):
    """Defaults and ceilings that apply to this workspace's runs."""

    max_turns: int
    max_tool_calls_per_turn: int
    run_timeout_s: float
    client_tool_timeout_s: float
    metadata_max_entries: int
    max_body_bytes: int
    max_concurrent_runs: int | None = None
    """Runs of the workspace held by workers at once (running or waiting); null: unlimited.
    Runs over it wait `queued` and start as others end."""
    max_concurrent_runs_per_agent: int | None = None
    """Runs of one stored agent held at once; null: unlimited."""
    active_runs: int = 0
    """The workspace's runs held by workers now (running or waiting)."""
    max_stored_bytes: int | None = None
    """Bytes of uploads and run outputs the workspace may keep; null: unlimited."""
    stored_bytes: int = 0
    """Bytes of uploads and run outputs the workspace keeps now."""
    rates: list[RateStanding] = Field(default_factory=list)
    """The request and submit rates that apply to this key, and what is left of each."""
    spend: list[SpendStanding] = Field(default_factory=list)
    """The workspace's spend caps that apply, and what is spent and left of each."""


class SandboxInfo(WireModel):
    """How this server isolates agents' tools (see docs/tools.md, "The sandbox")."""

    tier: str
    """`bwrap`: every builtin tool and local MCP server runs in an environment of its run;
    `unavailable`: this host cannot enforce one, so those tools are refused (`fix` says what to
    do); `none`: the operator turned isolation off (`CORRAL_SANDBOX=none`): UNSAFE."""
    dedicated_users: bool
    """Each environment runs as a uid of its own (otherwise as the server's user)."""
    cgroups: str | None
    """`v1` or `v2` when CPU, memory and process limits are enforced; null when they are not."""
    kill_tree: str
    """How one command's whole process tree is ended: `cgroup`, `pid_namespace` or
    `process_group`."""
    networks: list[str]
    """The `networking.mode`s this server can enforce."""
    open_network: str | None
    """How `open` reaches the internet: `slirp4netns` (any protocol, behind a firewall) or
    `proxy` (HTTP and HTTPS only)."""
    disk_quota: bool
    """Whether each environment's files live on a file system of its runtime's size."""
    seccomp: bool = False
    """Whether a seccomp filter refuses rarely needed, risky system calls (keyrings, eBPF,
    io_uring, userfaultfd, perf events, mounts, modules)."""
    detail: str
    """One line saying all of the above."""
    fix: str | None = None
    """What to change on this host for the full sandbox, when something is missing."""


class WhoAmI(WireModel):
    """Body of `GET /v1/whoami`."""

    workspace: WorkspaceRef
    key: KeyRef
    limits: EffectiveLimits
    sandbox: SandboxInfo


WorkspaceName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")]
"""Letters, digits, `.`, `_` and `-`; it is also the workspace's slug in the MANTYX paths."""


class WorkspaceLimits(ParamsModel):
    """The operator's overrides of the server's limits for one workspace.

    Rates are per minute, spend caps US dollars. Null: the server's setting. 0: unlimited.
    """

    requests_per_minute: int | None = Field(default=None, ge=0)
    """All the workspace's keys together (`CORRAL_WORKSPACE_RATE_LIMIT_PER_MINUTE`)."""
    key_requests_per_minute: int | None = Field(default=None, ge=0)
    """Each of its keys (`CORRAL_RATE_LIMIT_PER_MINUTE`)."""
    submits_per_minute: int | None = Field(default=None, ge=0)
    """Runs and session messages (`CORRAL_SUBMITS_PER_MINUTE`)."""
    max_concurrent_runs: int | None = Field(default=None, ge=0, le=1_000_000)
    """Runs held by workers at once, running or waiting; more wait `queued`
    (`CORRAL_WORKSPACE_MAX_CONCURRENT_RUNS`)."""
    max_concurrent_runs_per_agent: int | None = Field(default=None, ge=0, le=1_000_000)
    """Runs of each stored agent held at once, within `max_concurrent_runs`
    (`CORRAL_AGENT_MAX_CONCURRENT_RUNS`)."""
    max_stored_bytes: int | None = Field(default=None, ge=0)
    """Bytes of uploaded files and run outputs kept (`CORRAL_WORKSPACE_MAX_STORED_BYTES`)."""
    spend_per_day_usd: float | None = Field(default=None, ge=0, le=1_000_000_000)
    """US dollars the workspace's runs may spend per UTC day
    (`CORRAL_WORKSPACE_SPEND_PER_DAY_USD`); 0: no cap."""
    spend_per_month_usd: float | None = Field(default=None, ge=0, le=1_000_000_000)
    """US dollars the workspace's runs may spend per UTC month
    (`CORRAL_WORKSPACE_SPEND_PER_MONTH_USD`); 0: no cap."""


class WorkspaceUpdateParams(ParamsModel):
    """Body of `PATCH /v1/workspaces/{id}`."""

    limits: WorkspaceLimits
    """Replaces the workspace's overrides as a whole."""


class Workspace(WireModel):
    """A workspace of the server, as its operator sees it."""

    id: str
    name: str
    status: Literal["active", "suspended"]
    """A suspended workspace's keys answer 403 `workspace_suspended` until it is resumed."""
    created_at: datetime
    suspended_at: datetime | None = None
    limits: WorkspaceLimits = Field(default_factory=WorkspaceLimits)
    """The operator's overrides of the server's limits (rates, quotas, spend caps)."""


class WorkspaceWithKey(Workspace):
    """A workspace just created, with its first admin key (its secret shown this once)."""

    admin_key: ApiKeyWithSecret


class WorkspaceCreateParams(ParamsModel):
    """Body of `POST /v1/workspaces`."""

    name: WorkspaceName
