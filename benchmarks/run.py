"""`python -m benchmarks.run`: start a server, run the scenarios, print the figures.

This process only orchestrates. The server is a `corral serve` subprocess, the load comes
from a pool of load processes, and the provider scenarios' model is a fake provider in a
process of its own, so none of them competes with the bookkeeping done here. The one exception
is the environment section, which measures the sandbox machinery itself: its environments run
here, after the server has stopped.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import orjson

from benchmarks.config import Config
from benchmarks.environments import NAME as ENVIRONMENTS
from benchmarks.environments import measure_environments
from benchmarks.fake_provider import MODEL as PROVIDER_MODEL
from benchmarks.fake_provider import FakeProvider
from benchmarks.loadgen import LoadPool
from benchmarks.machine import machine_facts
from benchmarks.measurement import ScenarioResult
from benchmarks.report import check_goals, render
from benchmarks.scenarios import SCENARIOS, run_scenario, server_environ
from benchmarks.server import BenchServer


def build_parser() -> argparse.ArgumentParser:
    """The command line of the benchmark."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.run",
        description="Benchmark a real `corral serve` with the deterministic `test` model "
        "and with a fake OpenAI-compatible provider, and the sandbox environments of runs.",
    )
    parser.add_argument(
        "--quick", action="store_true", help="short sizes for a smoke run (about 20 s)"
    )
    parser.add_argument(
        "--duration", type=float, help="throughput windows in seconds (30; quick: 5, provider 2)"
    )
    parser.add_argument("--concurrency", type=int, help="throughput clients (32)")
    parser.add_argument("--runs", type=int, help="submit→terminal runs, one at a time (500)")
    parser.add_argument(
        "--load-processes", type=int, default=2, help="load generator processes (2)"
    )
    parser.add_argument(
        "--only",
        action="append",
        choices=[*SCENARIOS, ENVIRONMENTS],
        help="run only this scenario or section (repeatable); default: all",
    )
    parser.add_argument(
        "--database-url",
        help="run the server on this PostgreSQL database, in a fresh schema dropped afterwards "
        "(e.g. postgresql://postgres@127.0.0.1:5432/test); default: embedded SQLite",
    )
    parser.add_argument(
        "--no-limits",
        action="store_true",
        help="start the server with its request and submit rates off (the baseline of "
        "`throughput_governed`); default: counted, never reached",
    )
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write all figures here")
    return parser


def config_from(args: argparse.Namespace) -> Config:
    """The scenario sizes the flags ask for."""
    config = Config.quick() if args.quick else Config()
    overrides: dict[str, Any] = {
        "duration_s": args.duration,
        "provider_duration_s": args.duration,
        "concurrency": args.concurrency,
        "latency_runs": args.runs,
    }
    return dataclasses.replace(config, **{k: v for k, v in overrides.items() if v is not None})


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; exit status 1 if a request failed or a check did not hold."""
    args = build_parser().parse_args(argv)
    config = config_from(args)
    names = args.only or [*SCENARIOS, ENVIRONMENTS]
    report: dict[str, Any] = {"machine": machine_facts(), "server": None, "scenarios": {}}
    results: list[ScenarioResult] = []
    if any(name in SCENARIOS for name in names):
        results = _run_scenarios(
            args, config, [name for name in names if name in SCENARIOS], report
        )
    environments = None
    if ENVIRONMENTS in names:
        print("measuring environments ...", file=sys.stderr, flush=True)
        section = measure_environments(config)
        print(f"  {section.summary}", file=sys.stderr, flush=True)
        environments = section.as_dict()
    report |= {
        "environments": environments,
        "config": dataclasses.asdict(config),
        "goals": check_goals(report["scenarios"], environments),
    }
    print(render(report))
    if args.json is not None:
        args.json.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))
        print(f"\nfigures written to {args.json}")
    ok = all(result.ok for result in results) and (environments is None or environments["ok"])
    return 0 if ok else 1


def _run_scenarios(
    args: argparse.Namespace, config: Config, names: list[str], report: dict[str, Any]
) -> list[ScenarioResult]:
    """Start the server (and the fake provider if needed), run `names`, fill in `report`."""
    results: list[ScenarioResult] = []
    memory: dict[str, dict[str, float]] = {}
    provider = None
    if any(SCENARIOS[name].provider for name in names):
        provider = FakeProvider(deltas=config.provider_deltas)
    server = BenchServer(
        database_url=args.database_url,
        limits=not args.no_limits,
        environ={
            **(provider.server_environ if provider is not None else {}),
            **server_environ(names),
        },
    )
    with ExitStack() as stack:
        if provider is not None:
            print(f"starting the fake provider ({provider.base_url}) ...", file=sys.stderr)
            stack.enter_context(provider)
        print(f"starting corral serve ({server.database}) ...", file=sys.stderr)
        stack.enter_context(server)
        pool = stack.enter_context(LoadPool(processes=args.load_processes))
        for name in names:
            print(f"running {name} ...", file=sys.stderr, flush=True)
            result = run_scenario(
                name,
                server.target,
                config,
                pool,
                server_cpu_s=server.cpu_s,
                provider_cpu_s=provider.cpu_s if provider is not None else None,
                provider_url=provider.root_url if provider is not None else None,
                server_database=server.storage,
            )
            print(f"  {result.summary}", file=sys.stderr, flush=True)
            results.append(result)
            rss_mb, peak_mb = server.memory_mb()
            memory[name] = {"rss_mb": rss_mb, "peak_rss_mb": peak_mb}
    fake_model = None
    if provider is not None:
        fake_model = {"model": PROVIDER_MODEL, "deltas_per_answer": provider.deltas}
    report |= {
        "server": {"database": server.database, "shutdown": server.shutdown, "memory": memory},
        "provider": fake_model,
        "load_processes": args.load_processes,
        "scenarios": {result.name: result.as_dict() for result in results},
    }
    return results


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("interrupted; everything the benchmark started is stopped", file=sys.stderr)
        sys.exit(130)
