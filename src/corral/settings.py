"""Server configuration: one typed object, read once from `CORRAL_*` variables and passed down.

This is the only module that reads the environment. Everything below the CLI and `create_app`
receives the values it needs as arguments, so tests build `Settings(...)` directly.
"""

from __future__ import annotations

import difflib
import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

BrokerKind = Literal["auto", "memory", "postgres", "redis"]

CONFIG_FILE = Path("corral.toml")
"""The configuration file read when it exists in the working directory and none is named."""


class Settings(BaseSettings):
    """Everything an operator can set; every default works with no setup."""

    model_config = SettingsConfigDict(
        env_prefix="CORRAL_",
        extra="ignore",
        use_attribute_docstrings=True,
        validate_default=True,
    )

    data_dir: Path = Path("corral-data")
    """Directory for the SQLite database, the bootstrap admin key and the secret key (created if
    missing). Only the server's user may read it: the folder is mode 0700, its key files and the
    SQLite database (with its `-wal` and `-shm` files) 0600, tightened at every start."""

    database_url: str | None = None
    """SQLAlchemy URL of the database; empty means `sqlite:///<data_dir>/corral.db`.
    PostgreSQL: `postgresql://user@host:5432/db` (the asyncpg driver is chosen for you)."""

    database_schema: str | None = None
    """PostgreSQL schema to keep Corral's tables in (default: the connection's search path)."""

    database_pool_size: int = Field(default=10, ge=1, le=200)
    """PostgreSQL connections each process keeps open. The pool is fixed: a statement waits for
    a free connection rather than opening one, since opening and closing connections under load
    costs both sides far more than the wait."""

    redis_url: str | None = None
    """Redis URL (`redis://host:6379/0`) used to wake subscribers across processes."""

    broker: BrokerKind = "auto"
    """How processes wake each other: `memory` (one process), `postgres` (LISTEN/NOTIFY),
    `redis`, or `auto`: redis if `redis_url` is set, postgres on PostgreSQL, memory on SQLite."""

    host: str = "127.0.0.1"
    """Address `corral serve` listens on."""

    port: int = Field(default=7070, ge=1, le=65535)
    """Port `corral serve` listens on."""

    bootstrap_key: SecretStr | None = None
    """Admin API key to create on first start instead of a random one (for scripts and CI)."""

    operator_key: SecretStr | None = None
    """Server-level key that manages workspaces through `/v1/workspaces` (share it with every
    node). Unset: workspaces are managed with `corral workspaces` on the server only."""

    auto_migrate: bool = True
    """Apply database migrations when the server or a worker starts."""

    embedded_worker: bool = True
    """Run a worker inside `corral serve`; turn off when separate `corral worker` processes run."""

    worker_concurrency: int = Field(default=256, ge=1, le=100_000)
    """How many runs one worker executes at once (they are asyncio tasks, not threads)."""

    workspace_max_concurrent_runs: int = Field(default=50, ge=0)
    """Runs of one workspace that workers hold at once, running or waiting for a client tool,
    across every worker (0: unlimited). Runs over it stay `queued` and start as others end, so
    one workspace cannot take every worker; the operator can set a workspace's own."""

    agent_max_concurrent_runs: int = Field(default=0, ge=0)
    """Runs of one stored agent (all its versions) held at once, within its workspace's cap
    (0: unlimited); runs of inline agents count only against the workspace's."""

    lease_s: float = Field(default=15.0, gt=0)
    """How long a worker's claim on a run lasts without a heartbeat; a run whose worker died is
    taken over by another worker this long after the last heartbeat."""

    heartbeat_s: float | None = Field(default=None, gt=0)
    """How often a worker renews its leases (default: a third of `lease_s`)."""

    poll_interval_s: float = Field(default=1.0, gt=0)
    """How often an idle worker looks for work it was not woken for (expired leases, missed
    wake-ups)."""

    resync_s: float = Field(default=5.0, gt=0)
    """How often a waiting subscriber re-reads the log in case a wake-up was lost."""

    sse_heartbeat_s: float = Field(default=15.0, gt=0)
    """Interval between keep-alive comments on an idle event stream."""

    default_model: str = "test"
    """Model used by `GET /v1/models` as the default."""

    workspaces_dir: Path | None = None
    """Where runs' and sessions' workspaces live (default: `workspaces` in `data_dir`). A
    session's runs share one, so workers that may take over a session's runs must share it."""

    workspace_retention_s: float = Field(default=3 * 86_400.0, ge=0)
    """How long a workspace is kept after its run (or session) ended."""

    sandbox: Literal["auto", "bwrap", "none"] = "auto"
    """How agents' tools are isolated. `auto`: in a bubblewrap environment when this host can
    enforce one, otherwise builtin tools and local MCP servers are refused (runs that need them
    fail with `sandbox_unavailable`); `bwrap`: the same, but the server refuses to start without
    it; `none`: UNSAFE, tools run unsandboxed as the server's user, with its files and network
    (for development on hosts without bubblewrap only)."""

    sandbox_uid_base: int = Field(default=2_000_000_000, ge=100_000, le=4_000_000_000)
    """Environments run as uids from this one up (one per workspace, from a span of 16 777 216);
    choose a range no account on the host uses. Only used when the server is root."""

    sandbox_mounts: list[Path] = Field(default_factory=list)
    """Host folders made visible, read-only and at the same path, in every environment (e.g. a
    shared toolchain); never the data directory."""

    environment_idle_s: float = Field(default=120.0, ge=0)
    """How long a session's environment stays up between its runs (its files stay on disk
    anyway); 0 stops it after every run."""

    network_private_hosts: list[str] = Field(default_factory=list)
    """Hosts the requests the server makes for agents (`web_fetch`, remote MCP servers) may reach
    although they resolve to private or this host's own addresses (e.g. an internal
    documentation server): `docs.internal`, `*.corp.example:8443`, `10.1.2.3`."""

    @field_validator("network_private_hosts")
    @classmethod
    def _host_patterns(cls, patterns: list[str]) -> list[str]:
        """A malformed pattern stops the server at start rather than failing every run."""
        # Imported here: the settings module stays a leaf that any layer may import.
        from corral.sandbox.ssrf import validate_pattern

        for pattern in patterns:
            validate_pattern(pattern)
        return patterns

    model_catalog: Path | None = None
    """A catalog file merged over the shipped one (more models, prices, base URLs)."""

    secret_key: SecretStr | None = None
    """Encrypts provider keys given with runs while they run; every node must share it
    (default: `secret.key` in `data_dir`, created on first start)."""

    previous_secret_keys: list[SecretStr] = Field(default_factory=list)
    """Secret keys used before `secret_key`: they still open what they sealed, until
    `corral reseal` has sealed everything under the current one (a JSON list)."""

    provider_max_retries: int = Field(default=4, ge=0, le=20)
    """Retries of a model call that failed with 429, 529, 5xx or a network error."""

    provider_retry_base_s: float = Field(default=1.0, ge=0)
    """First backoff of a retried model call (full jitter, doubling up to 30 s; a provider's
    `retry-after` wins, up to 60 s)."""

    run_timeout_s: float = Field(default=3600.0, gt=0)
    """Run timeout when the agent does not set `limits.timeout_s`."""

    client_tool_timeout_s: float = Field(default=600.0, gt=0)
    """How long a run waits for a client tool result when the tool does not set `timeout_s`."""

    webhook_timeout_s: float = Field(default=10.0, gt=0, le=300)
    """How long a webhook endpoint has to answer a delivery before the attempt counts as failed."""

    routine_misfire_grace_s: float = Field(default=60.0, gt=0, le=86_400)
    """How late a schedule's time may be seen and still fire as on time (never more than the
    schedule's interval, or 5 s for more frequent schedules); later, it counts as missed and the
    routine's `catch_up` decides."""

    routine_max_queued_fires: int = Field(default=10, ge=1, le=1000)
    """Fires a routine with `overlap: queue` keeps waiting for its running run; more are
    skipped (`queue_full`)."""

    routine_history_days: float = Field(default=30.0, gt=0)
    """How long a routine's fires are kept in its history (the runs they started stay)."""

    template_timeout_s: float = Field(default=2.0, gt=0, le=60)
    """How long a routine's input template may take to render before the fire fails."""

    hook_max_body_bytes: int = Field(default=262_144, ge=1024, le=10_485_760)
    """The largest body an inbound webhook (`POST /v1/hooks/{token}`) accepts."""

    hook_requests_per_minute: int = Field(default=600, ge=1)
    """Deliveries one inbound webhook accepts per minute, counting refused ones; more get
    `rate_limited`."""

    subagent_max_depth: int = Field(default=5, ge=0, le=32)
    """How deep subagents may nest: a root run is at depth 0, and a run at this depth may start
    no subagent (`subagent_depth_exceeded`)."""

    subagent_max_children: int = Field(default=100, ge=0)
    """Subagents one run may start over its life (`subagent_breadth_exceeded`)."""

    subagent_max_live_per_root: int = Field(default=1000, ge=1)
    """Subagents of one tree that may be active at once (`subagent_breadth_exceeded`)."""

    max_turns: int = Field(default=32, ge=1)
    """Model turns a run may take when the agent does not set `limits.max_turns`."""

    max_tool_calls_per_turn: int = Field(default=16, ge=1)
    """Tool calls one model turn may make when the agent does not set the limit."""

    idempotency_ttl_s: float = Field(default=86_400.0, gt=0)
    """How long an `Idempotency-Key` is remembered (runs keep theirs as long as they exist)."""

    max_body_bytes: int = Field(default=4 * 1024 * 1024, ge=1024)
    """Largest request body the API accepts."""

    max_file_bytes: int = Field(default=50 * 1024 * 1024, ge=1024)
    """Largest file `POST /v1/files` accepts (that route alone takes bodies this large). Files
    are kept in the database, and a file is held in memory while it is uploaded or served."""

    workspace_max_stored_bytes: int = Field(default=10 * 1024**3, ge=0)
    """Bytes of files one workspace keeps in the database: its uploads and its runs' outputs
    (0: unlimited; default 10 GiB). An upload past it answers 413 `storage_limit_reached`;
    outputs past it are not kept. The operator can set a workspace's own."""

    rate_limit_per_minute: int = Field(default=1200, ge=0)
    """Requests one API key may make per minute (0: unlimited). Past it: 429 `rate_limited`
    with `Retry-After`; every answer carries `RateLimit-Limit`, `-Remaining` and `-Reset`."""

    workspace_rate_limit_per_minute: int = Field(default=6000, ge=0)
    """Requests all keys of one workspace may make per minute together (0: unlimited)."""

    submits_per_minute: int = Field(default=600, ge=0)
    """Runs and session messages one workspace may submit per minute (0: unlimited)."""

    workspace_spend_per_day_usd: float | None = Field(default=None, gt=0)
    """US dollars one workspace's runs may spend per UTC day (unset: no cap); the operator can
    set a workspace's own. At the cap, new runs and session messages answer 402
    `spend_limit_reached` until the day resets; runs already going are not cut off. Runs of
    models without a price are refused (400 `model_not_priced`) while a cap applies."""

    workspace_spend_per_month_usd: float | None = Field(default=None, gt=0)
    """US dollars one workspace's runs may spend per UTC month (unset: no cap), as
    `workspace_spend_per_day_usd`."""

    key_cache_s: float = Field(default=10.0, ge=0)
    """How long a verified API key is remembered in memory. A revocation or rotation empties
    every node's memory at once through the broker; this bounds how long a key outlives one
    whose notice a node missed."""

    shutdown_grace_s: float = Field(default=10.0, ge=0)
    """On shutdown, how long a worker waits for runs to reach a checkpoint before handing them
    back to the queue."""

    log_level: Literal["debug", "info", "warning", "error"] = "info"
    """Log level of the server and workers."""

    log_format: Literal["auto", "text", "json"] = "auto"
    """`json`: one JSON object a line, for log collectors. `text`: short lines for people, with
    a line per run that ends. `auto`: text when stderr is a terminal, JSON otherwise."""

    access_log: bool = False
    """Log every HTTP request (method, path, status)."""

    @property
    def effective_heartbeat_s(self) -> float:
        """Heartbeat interval actually used."""
        return self.heartbeat_s if self.heartbeat_s is not None else self.lease_s / 3

    @property
    def effective_workspaces_dir(self) -> Path:
        """The workspaces directory actually used."""
        return (self.workspaces_dir or self.data_dir / "workspaces").resolve()

    @property
    def effective_database_url(self) -> str:
        """The database URL, defaulting to SQLite inside `data_dir`."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'corral.db').resolve()}"

    @property
    def effective_broker(self) -> BrokerKind:
        """The broker actually used once `auto` is resolved."""
        if self.broker != "auto":
            return self.broker
        if self.redis_url:
            return "redis"
        if self.effective_database_url.startswith("postgres"):
            return "postgres"
        return "memory"


class ConfigFileError(ValueError):
    """The configuration file cannot be read, or names a setting that does not exist."""


def config_file(named: Path | None = None) -> Path | None:
    """The configuration file to read: the one named, `CORRAL_CONFIG`, or `./corral.toml`."""
    if named is not None:
        return named
    if os.environ.get("CORRAL_CONFIG"):
        return Path(os.environ["CORRAL_CONFIG"])
    return CONFIG_FILE if CONFIG_FILE.is_file() else None


def read_config_file(path: Path) -> dict[str, Any]:
    """The settings a TOML file gives, named as the variables are, lower-case without `CORRAL_`."""
    try:
        values = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        message = f"cannot read the configuration file {path}: {error.strerror}"
        raise ConfigFileError(message) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ConfigFileError(f"the configuration file {path} is not valid TOML: {error}") from None
    known = Settings.model_fields
    for name in values:
        if name not in known:
            near = difflib.get_close_matches(name.lower().removeprefix("corral_"), known, n=1)
            hint = f" (did you mean {near[0]}?)" if near else ""
            raise ConfigFileError(f"{path}: no setting is called {name}{hint}")
    return values


def load(config: Path | None = None, **overrides: Any) -> Settings:
    """Settings: flags (`overrides`) over `CORRAL_*` variables over the file over defaults."""
    path = config_file(config)
    if path is None:
        return Settings(**overrides)
    from_file = read_config_file(path)
    environment = {name.upper() for name in os.environ}
    kept = {k: v for k, v in from_file.items() if f"CORRAL_{k.upper()}" not in environment}
    return Settings(**{**kept, **overrides})
