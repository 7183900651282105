"""The `console` scenario: the web console in Chromium, on a workspace with 100,000 runs.

Two figures the product team publishes. First, how long the runs page takes to show its 50
newest runs when the database holds 100,000 of them, cold (a fresh browser context each time),
and so for the next page and for two filtered views. Second, how long a streamed delta takes
from its commit on the server to its text in an open run page.

Submitting 100,000 runs through the API would take most of an hour, so they are written straight
into the server's own database, found in the server process's environment, with the storage
layer's `Database` and the `runs` table, in batches of 5,000. Each row is a copy of a run the
server itself wrote (one that completed, one that failed), with its id, times, status, model,
usage and metadata varied, so it holds exactly the columns and JSON a server writes. They span
the last 30 days and are removed afterwards, so later scenarios do not list them. The browser
half is in `benchmarks.console_browser`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
import random
import shutil
import time
import urllib.request
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import sqlalchemy as sa

from benchmarks.config import Config
from benchmarks.loadgen import JobReport, Target
from benchmarks.measurement import Bench, Measurement
from corral.ids import new_id
from corral.storage import runs as run_store
from corral.storage.database import Database
from corral.storage.tables import runs

NAME = "console"
BATCH = 5_000
METADATA_FILTER = "customer:acme-corp"
"""The metadata filter timed: about 1% of the seeded runs carry it."""
MODELS = {  # model → US dollars per million input and output tokens, about the catalog's
    "anthropic/claude-haiku-4-5": (1.0, 5.0),
    "openai/gpt-5-mini": (0.25, 2.0),
}
PROMPTS = [
    "Summarize the incident report attached to ticket 4812 for the on-call channel.",
    "Triage the new issues in the billing repository and label each one.",
    "Draft a reply to the customer asking why their invoice doubled this month.",
    "Review the pull request and list every change to the public API.",
    "Find which deploy introduced the latency regression in the checkout service.",
]
ANSWER = " ".join(
    f"Step {index}: the agent read the relevant files, checked the logs and wrote down what it "
    "found, with the evidence for each claim and what remains to be confirmed."
    for index in range(1, 16)
)
"""Seeded answers are its first 200 to 2,000 characters, so rows weigh what real ones do."""
CLOCK = "the server and Chromium share this machine's wall clock: no offset is applied"
SERIES = {
    "first_load": "first load of /runs",
    "older_page": "Older → (page 2)",
    "status_filter": "/runs?status=failed",
    "metadata_filter": f"/runs?metadata={METADATA_FILTER}",
}


@dataclasses.dataclass(frozen=True, kw_only=True)
class ConsoleSizes:
    """How much the scenario seeds and measures."""

    runs: int
    """Runs written into the workspace before the page loads."""
    loads: int
    """Timed cold loads of each view (after one untimed round)."""
    stream_runs: int
    deltas: int
    """Text deltas each streamed run sends, `stream_delay_ms` apart."""
    stream_delay_ms: int
    hold_ms: int
    """How long the model waits before streaming, so the page is open first."""


PUBLISHED = ConsoleSizes(
    runs=100_000, loads=10, stream_runs=3, deltas=200, stream_delay_ms=20, hold_ms=1000
)
QUICK = dataclasses.replace(PUBLISHED, loads=3, stream_runs=1)
SMOKE = ConsoleSizes(runs=500, loads=2, stream_runs=1, deltas=20, stream_delay_ms=5, hold_ms=500)


def sizes_for(config: Config) -> ConsoleSizes:
    """The sizes for `config`, which has none of this scenario's.

    They follow `sse_runs`, which no flag but `--quick` (50) changes, and the smoke test shrinks.
    """
    if config.sse_runs >= Config().sse_runs:
        return PUBLISHED
    return QUICK if config.sse_runs >= Config.quick().sse_runs else SMOKE


@dataclasses.dataclass(frozen=True)
class ServerDatabase:
    """Where the benchmark's `corral serve` keeps its data."""

    url: str
    schema: str | None

    def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        """`fn(conn, *args)` in one write transaction of the storage layer's `Database`."""

        async def main() -> Any:
            database = Database(self.url, schema=self.schema, pool_size=1)
            await database.connect()
            try:
                return await database.write(fn, *args)
            finally:
                await database.close()

        return asyncio.run(main())


def _api(target: Target, path: str, body: dict[str, Any] | None = None) -> Any:
    request = urllib.request.Request(
        target.url(path),
        data=None if body is None else orjson.dumps(body),
        headers={"Authorization": f"Bearer {target.api_key}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return orjson.loads(response.read())


def _templates(target: Target) -> tuple[str, list[str]]:
    """The workspace's id, and a completed and a failed run the server wrote, of a stored agent."""
    workspace = _api(target, "/v1/whoami")["workspace"]["id"]
    agent = f"bench-console-{random.randrange(16**6):06x}"
    _api(target, "/v1/agents", {"name": agent, "model": "test"})
    ids = []
    for prompt in ("summarize the incident report", "[[fail provider_error upstream overloaded]]"):
        run = {"agent": agent, "input": prompt, "metadata": {"source": "api"}}
        ids.append(_api(target, "/v1/runs?wait_s=30", run)["id"])
    return workspace, ids


def _read_templates(conn: sa.Connection, workspace: str, ids: list[str]) -> list[dict[str, Any]]:
    found = [run_store.get(conn, workspace, run_id) for run_id in ids]
    return [dataclasses.asdict(record) for record in found if record is not None]


def seeded_rows(
    templates: Sequence[dict[str, Any]], count: int, now: datetime, seed: int = 7
) -> list[dict[str, Any]]:
    """`count` ended runs over the 30 days before `now`, oldest first, cloned from the templates.

    95% completed, 4% failed, 1% cancelled; a third have metadata, 1% `METADATA_FILTER`; half
    ran the stored agent, half an inline spec; prompts, answers, usage and cost vary.
    """
    completed, failed = templates
    rng = random.Random(seed)
    start_ms = int((now - timedelta(days=30)).timestamp() * 1000)
    span_ms = 30 * 86_400_000
    rows = []
    for created_ms in sorted(start_ms + rng.randrange(span_ms) for _ in range(count)):
        roll = rng.random()
        status = "completed" if roll < 0.95 else "failed" if roll < 0.99 else "cancelled"
        row = dict(completed if status == "completed" else failed)
        model = rng.choice(list(MODELS))
        tokens_in, tokens_out = rng.randint(200, 8000), rng.randint(20, 1500)
        price_in, price_out = MODELS[model]
        created = datetime.fromtimestamp(created_ms / 1000, UTC)
        started = created + timedelta(milliseconds=rng.randint(3, 40))
        metadata: dict[str, str] = {}
        if rng.random() < 0.33:
            metadata = {"source": rng.choice(["api", "ci", "cron"]), "env": "prod"}
        if rng.random() < 0.01:
            metadata["customer"] = METADATA_FILTER.partition(":")[2]
        row |= {
            "id": new_id("run", now_ms=created_ms),
            "status": status,
            "model": model,
            "spec": {**row["spec"], "model": model},
            "input": rng.choice(PROMPTS),
            "output": ANSWER[: rng.randint(200, 2000)] if status == "completed" else None,
            "input_tokens": tokens_in,
            "output_tokens": tokens_out,
            "cost_usd": (tokens_in * price_in + tokens_out * price_out) / 1e6,
            "metadata": metadata,
            "last_seq": rng.randint(6, 60),
            "created_at": created,
            "started_at": started,
            "ended_at": started + timedelta(seconds=rng.uniform(0.5, 40.0)),
        }
        if status == "cancelled":
            row["error"] = None
        if rng.random() < 0.5:
            row |= {"agent_id": None, "agent_version": None}
        rows.append(row)
    return rows


def _insert(conn: sa.Connection, rows: list[dict[str, Any]]) -> None:
    conn.execute(runs.insert(), rows)


def _analyze(conn: sa.Connection) -> None:
    """What PostgreSQL's autovacuum does within a minute of such a load; SQLite has none."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("ANALYZE runs"))


def _delete(conn: sa.Connection, ids: list[str]) -> None:
    conn.execute(runs.delete().where(runs.c.id.in_(ids)))


def seed_rows(database: ServerDatabase, target: Target, count: int) -> list[dict[str, Any]]:
    """`count` runs for the workspace of `target`'s key, cloned from runs the server wrote."""
    workspace, template_ids = _templates(target)
    templates = database.run(_read_templates, workspace, template_ids)
    return seeded_rows(templates, count, datetime.now(UTC))


def insert(database: ServerDatabase, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Write the rows in batches, then let PostgreSQL count them; what was seeded, and how fast."""
    started = time.monotonic()
    for index in range(0, len(rows), BATCH):
        database.run(_insert, rows[index : index + BATCH])
    database.run(_analyze)
    return {
        "runs": len(rows),
        "failed": sum(row["status"] == "failed" for row in rows),
        "metadata_filter": METADATA_FILTER,
        "with_metadata_filter": sum("customer" in row["metadata"] for row in rows),
        "database": database.url.partition(":")[0],
        "seconds": time.monotonic() - started,
    }


def spread(samples: list[float]) -> dict[str, Any]:
    """Count, min, p50, p95 and max of a series (nearest rank), in ms; None when empty."""
    if not samples:
        return dict.fromkeys(("min", "p50", "p95", "max"), None) | {"count": 0}
    ordered = sorted(samples)

    def rank(percent: int) -> float:
        return ordered[max(0, math.ceil(percent * len(ordered) / 100) - 1)]

    ranked = {"p50": rank(50), "p95": rank(95)}
    return {"count": len(ordered), "min": ordered[0], **ranked, "max": ordered[-1]}


def _with_browser(job: JobReport) -> tuple[JobReport, float]:
    """The job with its browser's CPU added to its own, and that CPU in seconds.

    Chromium and Playwright's driver, its child processes, are the load it generates.
    """
    browser_s = sum(job.recorder.samples_ms.pop("browser_cpu_ms", [])) / 1000
    return dataclasses.replace(job, cpu_s=job.cpu_s + browser_s), browser_s


def _not_measured(reason: str) -> Measurement:
    return Measurement(
        summary=f"not measured: {reason}", count=0, figures={"skipped": reason}, jobs=[]
    )


def console(bench: Bench, *, server_database: tuple[str, str | None] | None = None) -> Measurement:
    """Seed the runs, time the runs page's views and streamed deltas, remove the runs."""
    try:
        from benchmarks.console_browser import VIEWS, page_loads, streamed_runs
    except ImportError:
        return _not_measured("Playwright is not installed (pip install -e '.[bench]')")
    executable = shutil.which("chromium")
    if executable is None:
        return _not_measured("no chromium on PATH (Debian: apt-get install chromium)")
    if server_database is None:
        return _not_measured("the server is not a local process, so its database is unknown")
    sizes = sizes_for(bench.config)
    database = ServerDatabase(*server_database)
    rows = seed_rows(database, bench.target, sizes.runs)
    try:
        seeded = insert(database, rows)
        before, started = bench.read_cpu(), time.monotonic()
        pages = bench.pool.run(
            page_loads,
            target=bench.target,
            executable=executable,
            rounds=sizes.loads,
            warmup_rounds=1,
            metadata=METADATA_FILTER,
        )
        streams = bench.pool.run(
            streamed_runs,
            target=bench.target,
            executable=executable,
            runs=sizes.stream_runs,
            deltas=sizes.deltas,
            delay_ms=sizes.stream_delay_ms,
            hold_ms=sizes.hold_ms,
        )
        window_s, spent = time.monotonic() - started, bench.read_cpu().since(before)
    finally:
        for index in range(0, len(rows), BATCH):
            database.run(_delete, [row["id"] for row in rows[index : index + BATCH]])
    (pages, pages_browser_s), (streams, streams_browser_s) = map(_with_browser, (pages, streams))
    samples = pages.recorder.samples_ms | streams.recorder.samples_ms
    figures: dict[str, Any] = {
        "seeded": seeded,
        "sizes": dataclasses.asdict(sizes),
        "browser_cpu_s": pages_browser_s + streams_browser_s,
    }
    for view in VIEWS:
        for series in (f"{view}_ms", f"{view}_in_page_ms"):
            figures[series] = spread(samples.get(series, []))
        prefix = f"{view} api "
        figures[f"{view}_api_ms"] = {
            name.removeprefix(prefix): spread(values)
            for name, values in sorted(samples.items())
            if name.startswith(prefix)
        }
    figures["delta_to_page_ms"] = spread(samples.get("delta_to_page_ms", []))
    figures["stream_runs"] = streams.recorder.records
    figures["browser"] = next((r["browser"] for r in pages.recorder.records), None)
    figures["clock"] = CLOCK
    failures = [problem for record in streams.recorder.records for problem in record["problems"]]
    views = sum(figures[f"{view}_ms"]["count"] for view in VIEWS)
    return Measurement(
        summary=_summary(figures),
        count=views,
        operations=views + len(streams.recorder.records),
        figures=figures,
        jobs=[pages, streams],
        failures=failures,
        window_s=window_s,
        window_cpu=spent,
    )


def _line(series: dict[str, Any], digits: int = 0) -> str:
    if not series["count"]:
        return "none timed"
    p50, p95, top = (f"{series[name]:.{digits}f}" for name in ("p50", "p95", "max"))
    return f"p50 {p50}  p95 {p95}  max {top} ms"


def _summary(figures: dict[str, Any]) -> str:
    first, delta = figures["first_load_ms"], figures["delta_to_page_ms"]
    if not first["count"]:
        return "no page load timed"
    return f"/runs over {figures['seeded']['runs']:,} runs {_line(first)}; delta→page " + _line(
        delta, 1
    )


def console_lines(scenarios: dict[str, dict[str, Any]]) -> list[str]:
    """The report's section of the scenario: every view, its API calls and the streamed deltas."""
    result = scenarios.get(NAME)
    figures = result["figures"] if result else None
    if not figures or figures.get("skipped"):
        return []
    seeded, sizes, runs = figures["seeded"], figures["sizes"], figures["stream_runs"]
    lines = [
        f"web console in {figures['browser']}, {seeded['runs']:,} runs stored "
        f"({seeded['database']}, inserted in {seeded['seconds']:.1f} s), a fresh browser context "
        "per view; the job's clock from goto or click, the page's from navigation or click:"
    ]
    for view, title in SERIES.items():
        timed, in_page = figures[f"{view}_ms"], figures[f"{view}_in_page_ms"]
        lines.append(f"  {title:34} {_line(timed):32} in page {_line(in_page)}")
        calls = figures[f"{view}_api_ms"].items()
        if calls:
            lines.append(
                "    its API calls: "
                + ", ".join(f"{path} p50 {c['p50']:.0f} max {c['max']:.0f}" for path, c in calls)
                + " ms"
            )
    lines += [
        f"  {'delta commit → text in the page':34} {_line(figures['delta_to_page_ms'], 1)}",
        f"    {sum(run['deltas'] for run in runs)} delta events of {len(runs)} runs (the model "
        f"sent {sizes['deltas']} each, {sizes['stream_delay_ms']} ms apart); "
        f"{sum(run['replayed'] for run in runs)} replayed, not timed",
        f"  {CLOCK}",
    ]
    return lines
