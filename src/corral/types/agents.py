"""Agents: named, versioned specs of a model, its instructions, tools and limits."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from corral.types.common import Metadata, ParamsModel, WireModel
from corral.types.files import RunSkills, SkillRef
from corral.types.permissions import Permissions
from corral.types.tools import ToolName, ToolRef


def _not_an_id(name: str) -> str:
    if name.startswith("agt_"):
        raise ValueError("agent names must not start with 'agt_' (that prefix is for ids)")
    return name


AgentName = Annotated[
    str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"), AfterValidator(_not_an_id)
]
ModelId = Annotated[str, Field(min_length=1, max_length=200)]
Instructions = Annotated[str, Field(max_length=200_000)]
Description = Annotated[str, Field(max_length=2_000)]


class Limits(ParamsModel):
    """Budgets that end a run with a clear error code when exceeded; unset means the default."""

    max_turns: Annotated[int, Field(ge=1, le=1_000)] | None = None
    """Model calls the run may make."""
    max_tool_calls_per_turn: Annotated[int, Field(ge=1, le=1_000)] | None = None
    """Tool calls a single model turn may request."""
    max_output_tokens: Annotated[int, Field(ge=1, le=100_000_000)] | None = None
    """Generated tokens the whole run may use."""
    timeout_s: Annotated[float, Field(gt=0, le=7 * 86_400)] | None = None
    """Wall-clock seconds from the run's start to its end."""
    max_spend_usd: Annotated[float, Field(gt=0, le=1_000_000)] | None = None
    """US dollars the run may spend on its model, from the catalog's prices: past 80 % it warns
    (`budget.warning`), at the cap it ends `failed` with `budget_exceeded`. Refused (400
    `model_not_priced`) for a model without a price."""


SpendCapUsd = Annotated[float, Field(gt=0, le=1_000_000)]


class AgentSpendLimits(ParamsModel):
    """What all the runs of a stored agent together may spend per UTC day and month.

    Counted over every version's runs; the latest version's caps apply. At a cap, new runs and
    session messages of the agent are refused (402 `spend_limit_reached`) until the period
    resets; runs already going are not cut off. Needs a priced model (400 `model_not_priced`).
    """

    per_day_usd: SpendCapUsd | None = None
    """US dollars per UTC day."""
    per_month_usd: SpendCapUsd | None = None
    """US dollars per UTC month."""


class ModelSettings(ParamsModel):
    """How the model samples and reasons; each provider uses the settings it understands."""

    temperature: Annotated[float, Field(ge=0, le=2)] | None = None
    """Sampling temperature."""
    reasoning_effort: Literal["minimal", "low", "medium", "high"] | None = None
    """Reasoning effort of OpenAI reasoning models."""
    thinking_budget_tokens: Annotated[int, Field(ge=1024, le=1_000_000)] | None = None
    """Turns on Anthropic extended thinking with this budget of tokens per turn."""


_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")


def _host_pattern(pattern: str) -> str:
    """Refuse at submit what the regex lets through but no host matches (`a..b`, `:99999`)."""
    host, _, port = pattern.partition(":")
    if port and not 0 < int(port) < 65536:
        raise ValueError(f"port {port} is out of range (1-65535) in {pattern!r}")
    bare = host.removeprefix("*.").removesuffix(".")
    if len(bare) > 253 or not all(_LABEL.fullmatch(label) for label in bare.split(".")):
        raise ValueError(f"{pattern!r} is not a host name, `*.` and a domain, or an IP address")
    if host.startswith("*.") and bare.replace(".", "").isdigit():
        raise ValueError(f"{pattern!r}: a wildcard covers names, not IP addresses")
    return pattern


HostPattern = Annotated[
    str,
    Field(pattern=r"^(\*\.)?[A-Za-z0-9.-]{1,253}(:\d{1,5})?$"),
    AfterValidator(_host_pattern),
]
RuntimeSize = Literal["small", "medium", "large"]


class Networking(ParamsModel):
    """Where the agent's network traffic may go: its commands' and the server's requests for it.

    The server's requests are `web_fetch` and remote MCP servers.
    """

    mode: Literal["open", "limited", "none"] = "open"
    """`open`: any public host; `limited`: only `allowed_hosts` (commands reach them through an
    allowlisting HTTP(S) proxy); `none`: no network at all."""
    allowed_hosts: Annotated[list[HostPattern], Field(max_length=256)] = Field(default_factory=list)
    """`api.example.com`, `*.example.com`, optionally with `:port`."""


class Environment(ParamsModel):
    """The sandbox the agent's tools run in."""

    networking: Networking = Field(default_factory=Networking)
    """Network access of the agent's commands, `web_fetch` and remote MCP servers."""
    variables: Annotated[
        dict[
            Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")],
            Annotated[str, Field(max_length=32_000)],
        ],
        Field(max_length=128),
    ] = Field(default_factory=dict)
    """Environment variables of every command, stored as given: for a secret write
    `${secret:NAME}`, filled in from the workspace's vault when the run starts."""
    runtime: RuntimeSize = "small"
    """Resources of every command: `small` 0.25 CPU / 1 GB, `medium` 1 CPU / 4 GB, `large` 2 CPU /
    8 GB."""
    setup: Annotated[list[Annotated[str, Field(max_length=10_000)]], Field(max_length=32)] = Field(
        default_factory=list
    )
    """Shell commands run once in the workspace before the first turn (install packages...)."""


class AgentSpec(ParamsModel):
    """What an agent is, without its name: also accepted inline as a run's `agent_spec`."""

    description: Description = ""
    """What the agent is for."""
    model: ModelId
    """Model id (see `GET /v1/models`)."""
    instructions: Instructions = ""
    """System prompt."""
    tools: Annotated[list[ToolRef], Field(max_length=128)] = Field(default_factory=list)
    """Tools the agent may call."""
    limits: Limits = Field(default_factory=Limits)
    """Budgets of every run of the agent."""
    model_settings: ModelSettings = Field(default_factory=ModelSettings)
    """Sampling and reasoning options of the model."""
    include_builtin_tools: bool = True
    """Offer the builtin workspace tools (all of them, or those of `builtin_tools`)."""
    builtin_tools: Annotated[list[ToolName], Field(max_length=64)] | None = None
    """Only these builtin tools (default: all)."""
    environment: Environment = Field(default_factory=Environment)
    """The sandbox of the agent's tools."""
    skills: RunSkills = Field(default_factory=list)
    """Skills installed in the workspace of every run of the agent, and announced to the model."""
    metadata: Metadata = Field(default_factory=dict)
    """Tags, copied onto every run of the agent (run metadata wins)."""
    spend_limits: AgentSpendLimits = Field(default_factory=AgentSpendLimits)
    """Caps on what all the agent's runs spend per day and month (stored agents only: an inline
    `agent_spec` has no runs to count them over)."""
    permissions: Permissions = Field(default_factory=Permissions)
    """Which of its tool calls run at once, wait for a person's approval, or never run."""


class AgentCreateParams(AgentSpec):
    """Body of `POST /v1/agents`."""

    name: AgentName
    """Unique name in the workspace; runs may refer to the agent by it."""


class AgentUpdateParams(ParamsModel):
    """Body of `PATCH /v1/agents/{id}`.

    The fields given replace the current ones and make a new version.
    """

    description: Description | None = None
    model: ModelId | None = None
    instructions: Instructions | None = None
    tools: Annotated[list[ToolRef], Field(max_length=128)] | None = None
    limits: Limits | None = None
    model_settings: ModelSettings | None = None
    include_builtin_tools: bool | None = None
    builtin_tools: Annotated[list[ToolName], Field(max_length=64)] | None = None
    environment: Environment | None = None
    skills: RunSkills | None = None
    metadata: Metadata | None = None
    spend_limits: AgentSpendLimits | None = None
    permissions: Permissions | None = None


class Agent(WireModel):
    """An agent at its latest version."""

    id: str
    name: str
    version: int
    """Latest version; every change makes a new one, and runs record the version they used."""
    description: str
    model: str
    instructions: str
    tools: list[ToolRef]
    limits: Limits
    model_settings: ModelSettings = Field(default_factory=ModelSettings)
    include_builtin_tools: bool = True
    builtin_tools: list[str] | None = None
    environment: Environment = Field(default_factory=Environment)
    skills: list[SkillRef] = Field(default_factory=list)
    metadata: dict[str, str]
    spend_limits: AgentSpendLimits = Field(default_factory=AgentSpendLimits)
    permissions: Permissions = Field(default_factory=Permissions)
    created_at: datetime
    updated_at: datetime
    archived_at: datetime | None = None
    """Set once archived (`POST /v1/agents/{id}/archive`): the agent starts no new runs or
    sessions, while its open sessions go on."""


class AgentVersion(WireModel):
    """One immutable version of an agent."""

    agent_id: str
    version: int
    description: str
    model: str
    instructions: str
    tools: list[ToolRef]
    limits: Limits
    model_settings: ModelSettings = Field(default_factory=ModelSettings)
    include_builtin_tools: bool = True
    builtin_tools: list[str] | None = None
    environment: Environment = Field(default_factory=Environment)
    skills: list[SkillRef] = Field(default_factory=list)
    metadata: dict[str, str]
    spend_limits: AgentSpendLimits = Field(default_factory=AgentSpendLimits)
    permissions: Permissions = Field(default_factory=Permissions)
    created_at: datetime
