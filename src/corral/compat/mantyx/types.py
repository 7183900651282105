"""Wire shapes of the MANTYX agent-runs protocol, which Corral also speaks.

Field names are camelCase on the wire, as the protocol and its SDKs spell them; the Python
attributes keep snake_case. These models describe requests and answers only: events of the
protocol are built from Corral's own events by `corral.compat.mantyx.translate`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    model_serializer,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from corral.types.common import Metadata


class MantyxParams(BaseModel):
    """Base of request bodies: camelCase names only, unknown fields rejected."""

    model_config = ConfigDict(
        extra="forbid",
        use_attribute_docstrings=True,
        alias_generator=to_camel,
        validate_by_alias=True,
        validate_by_name=False,
        serialize_by_alias=True,
    )


class MantyxWire(BaseModel):
    """Base of answers: serialized with their camelCase names."""

    model_config = ConfigDict(
        use_attribute_docstrings=True,
        alias_generator=to_camel,
        validate_by_alias=True,
        validate_by_name=True,
        serialize_by_alias=True,
    )


class LocalToolParams(MantyxParams):
    """A tool the SDK executes in its own process: a Corral client tool."""

    kind: Literal["local"]
    name: Annotated[str, Field(pattern=r"^[a-zA-Z0-9_]{1,64}$")]
    """Name the model calls the tool by."""
    description: Annotated[str, Field(max_length=10_000)] = ""
    """What the tool does, for the model."""
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object", "properties": {}})
    """JSON Schema of the arguments object."""


class StoredToolParams(MantyxParams):
    """A workspace tool row referenced by id (Corral has none: refused with a clear message)."""

    kind: Literal["mantyx"]
    id: Annotated[str, Field(min_length=1, max_length=200)]


class PluginToolParams(MantyxParams):
    """A platform tool by name: in Corral, a builtin tool as `@corral/<name>` or `<name>`."""

    kind: Literal["mantyx_plugin"]
    name: Annotated[str, Field(min_length=1, max_length=200)]


ToolParams = Annotated[
    LocalToolParams | StoredToolParams | PluginToolParams, Field(discriminator="kind")
]


class Budgets(MantyxParams):
    """Safety caps of a run."""

    max_tool_turns: Annotated[int, Field(ge=0, le=999)] | None = None
    """Model turns that may call tools; the turn that answers comes on top."""


class ConversationMessage(MantyxParams):
    """A message of a conversation given as run input, or read back from a session."""

    role: Literal["user", "assistant", "system"]
    content: Annotated[str, Field(min_length=1, max_length=1_000_000)]


class AgentSpecParams(MantyxParams):
    """The agent a run or session uses: inline, or a stored agent by `agentId`."""

    name: Annotated[str, Field(max_length=200)] | None = None
    """For observability only; Corral does not keep it."""
    agent_id: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    """Id or name of a stored Corral agent."""
    system_prompt: Annotated[str, Field(max_length=200_000)] | None = None
    """Instructions of an inline agent; required unless `agentId` is set."""
    model_id: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    """A model of `GET models`, `provider:<provider>:<model>`, or a bare model id."""
    tools: Annotated[list[ToolParams], Field(max_length=128)] = Field(default_factory=list)
    budgets: Budgets | None = None
    metadata: Metadata = Field(default_factory=dict)
    """Flat string tags of the run or session."""

    @model_validator(mode="after")
    def _agent_or_prompt(self) -> AgentSpecParams:
        if self.agent_id is None and not self.system_prompt:
            raise PydanticCustomError(
                "agent_source",
                "give 'systemPrompt' (or 'agentId' for a stored agent)",
                {"field": "systemPrompt"},
            )
        return self


class AgentRunCreateParams(AgentSpecParams):
    """Body of `POST agent-runs`: the agent, and `prompt` or `messages`."""

    prompt: Annotated[str, Field(min_length=1, max_length=1_000_000)] | None = None
    """The user's message."""
    messages: Annotated[list[ConversationMessage], Field(min_length=1, max_length=1_000)] | None = (
        None
    )
    """A conversation; `system` messages are added to an inline agent's instructions."""

    @model_validator(mode="after")
    def _one_input(self) -> AgentRunCreateParams:
        if (self.prompt is None) == (self.messages is None):
            raise PydanticCustomError(
                "run_input",
                "give exactly one of 'prompt' or 'messages'",
                {"field": "messages" if self.prompt is not None else "prompt"},
            )
        if self.messages is not None and all(m.role == "system" for m in self.messages):
            raise PydanticCustomError(
                "run_input", "messages need a user or assistant message", {"field": "messages"}
            )
        return self


class AgentSessionMessageParams(MantyxParams):
    """Body of `POST agent-sessions/{id}/messages`."""

    prompt: Annotated[str, Field(min_length=1, max_length=1_000_000)]
    """The user's next message."""
    tools: Annotated[list[ToolParams], Field(max_length=128)] | None = None
    """Tool definitions re-sent by a resumed SDK; names the session already has keep theirs."""
    metadata: Metadata = Field(default_factory=dict)
    """Tags of this message's run, merged over the session's (these win)."""


class LocalToolResultParams(MantyxParams):
    """Body of `POST agent-runs/{id}/tool-results`: exactly one of `result` or `error`."""

    tool_use_id: Annotated[str, Field(min_length=1, max_length=128)]
    """The `toolUseId` of the `local_tool_call` event."""
    result: Annotated[str, Field(max_length=1_000_000)] | None = None
    """The tool's output (structured output serialized as JSON)."""
    error: Annotated[str, Field(max_length=100_000)] | None = None
    """Why the tool failed; the model sees it as a tool error."""

    @model_validator(mode="after")
    def _exactly_one(self) -> LocalToolResultParams:
        if (self.result is None) == (self.error is None):
            raise PydanticCustomError(
                "one_result",
                "give exactly one of 'result' or 'error'",
                {"field": "error" if self.result is not None else "result"},
            )
        return self


class AgentSpecView(MantyxWire):
    """The agent a run or session executes, described as the protocol describes agents.

    A key without `agents:read` sees only `agentId`, `modelId` and `metadata`, which Corral's own
    `/v1/runs` and `/v1/sessions` show too: the prompt, tools and budgets are an agent's definition.
    """

    agent_id: str | None = None
    """The stored agent, when the run or session refers to one."""
    system_prompt: str | None = None
    """The agent's instructions (left out for a key without `agents:read`)."""
    model_id: str
    tools: list[ToolParams] | None = None
    """The agent's tools (left out for a key without `agents:read`)."""
    budgets: Budgets | None = None
    metadata: dict[str, str]

    @model_serializer(mode="wrap")
    def _without_nulls(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        return {key: value for key, value in handler(self).items() if value is not None}


class AgentRunAccepted(MantyxWire):
    """Answer of a run submission."""

    run_id: str
    stream_url: str
    """Path of the run's event stream."""


class LocalToolCall(MantyxWire):
    """A local tool call awaiting the SDK's result."""

    tool_use_id: str
    name: str
    args: dict[str, Any]


class RunUsage(MantyxWire):
    """Tokens and cost of a run so far."""

    input_tokens: int
    output_tokens: int
    cost_usd: float


class AgentRunSnapshot(MantyxWire):
    """Body of `GET agent-runs/{id}`: the run as it stands, without following its events."""

    run_id: str
    session_id: str | None
    status: str
    """Corral's run status: queued, running, waiting, completed, failed, cancelled, timed_out."""
    subtype: str | None
    """Once the run has a `result` event: its subtype (`success`, `error_<code>`)."""
    text: str | None
    """The final answer, once completed."""
    error: str | None
    """Why the run failed or timed out."""
    error_code: str | None
    pending_local_tool_calls: list[LocalToolCall]
    agent_spec: AgentSpecView
    """The agent the run executes."""
    metadata: dict[str, str]
    usage: RunUsage
    created_at: datetime
    started_at: datetime | None
    ended_at: datetime | None


class AgentSessionCreated(MantyxWire):
    """Answer of a session creation."""

    session_id: str
    name: str
    created_at: datetime


class AgentSessionInfo(MantyxWire):
    """Body of `GET agent-sessions/{id}`."""

    id: str
    name: str
    status: Literal["active", "ended"]
    created_at: datetime
    last_used_at: datetime
    ended_at: datetime | None
    agent_spec: AgentSpecView
    messages: list[ConversationMessage]
    """The conversation: user messages and the answers of completed runs."""
    metadata: dict[str, str]


class ModelPricing(MantyxWire):
    """US dollars per million tokens."""

    input_per_1m_usd: float | None = Field(alias="inputPer1MUsd")
    output_per_1m_usd: float | None = Field(alias="outputPer1MUsd")
    cache_read_per_1m_usd: float | None = Field(alias="cacheReadPer1MUsd")


class MantyxModelInfo(MantyxWire):
    """One model the workspace can run."""

    id: str
    """What to pass as `modelId`."""
    label: str
    provider: str
    vendor_model_id: str
    source: Literal["workspace_provider", "platform_offering"]
    context_window_tokens: int | None
    pricing: ModelPricing | None


class ModelCatalog(MantyxWire):
    """Body of `GET models`."""

    models: list[MantyxModelInfo]
    default_model_id: str | None


class Acknowledged(MantyxWire):
    """Answer of tool results, cancellations and session ends."""

    ok: bool = True


class MantyxErrorBody(MantyxWire):
    """Body of every non-2xx answer of the protocol's routes."""

    model_config = ConfigDict(extra="allow")

    error: str
    """Machine-readable code."""
    code: str
    """The same code: the SDK reads its errors' `code` from here."""
    message: str
    """What went wrong, for humans."""
    candidates: list[str] | None = None
    """Model ids to choose from (`invalid_model`)."""
