"""The benchmark's environment section still runs on real sandboxes, at toy sizes.

Only completion and sane figures are asserted here; speed is what `python -m benchmarks.run`
is for.
"""

from __future__ import annotations

import os
from typing import Any

import orjson
import pytest
from benchmarks import cpu
from benchmarks.environments import NETWORK_MODES, measure_environments, unavailable_reason
from benchmarks.machine import machine_facts
from benchmarks.report import check_goals, render

from corral.sandbox import cgroups
from corral.sandbox.capabilities import probe
from tests.test_benchmarks import TINY, assert_latencies

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def environments() -> dict[str, Any]:
    """The environment section at toy sizes, on real sandboxes (skipped where there are none)."""
    reason = unavailable_reason(probe())
    if reason is not None:
        pytest.skip(reason)
    return measure_environments(TINY).as_dict()


def test_environment_starts_are_timed_fresh_and_existing_in_every_networking_mode(environments):
    figures = environments["figures"]

    assert environments["ok"], environments["error_samples"]
    assert environments["skipped"] is None
    assert list(figures["starts"]) == list(NETWORK_MODES) == ["none", "limited", "open"]
    for starts in figures["starts"].values():
        for series in ("fresh_ms", "restart_ms"):
            assert_latencies(starts[series], TINY.environment_starts)
            assert starts[series]["max"] < 30_000
        assert starts["stop_ms"]["count"] == 2 * TINY.environment_starts
    assert figures["stop_ms"]["count"] == 2 * TINY.environment_starts * len(NETWORK_MODES)


def test_environment_calls_are_timed_one_at_a_time_in_a_warm_environment(environments):
    calls = environments["figures"]["calls"]

    assert calls["network"] == "open"
    for series in ("read_ms", "bash_true_ms"):
        assert_latencies(calls[series], TINY.environment_calls)
    for cpu_ms in calls["environment_cpu_ms_per_call"].values():
        assert cpu_ms is None or cpu_ms >= 0


def test_idle_memory_counts_every_process_of_every_environment(environments):
    idle = environments["figures"]["idle"]
    by_process = idle["pss_mib_per_environment_by_process"]

    assert idle["environments"] == TINY.idle_environments
    assert_latencies(idle["start_ms"], TINY.idle_environments)
    assert idle["processes_per_environment"] >= 2  # bubblewrap, and the tool server
    assert "bwrap" in by_process
    assert 0 < idle["pss_mib_per_environment"] == pytest.approx(sum(by_process.values()))
    assert idle["pss_mib_per_environment"] < 200
    assert idle["cgroup_charge_mib_per_environment"] > 0
    assert isinstance(idle["mem_available_drop_mib_per_environment"], float)
    if probe().open_network == "slirp4netns":
        assert idle["slirp4netns_found"] == TINY.idle_environments
        assert by_process["slirp4netns"] > 0


def test_the_environment_section_leaves_no_process_or_cgroup_behind(environments):
    layout = probe().layout
    parents = layout.parents if layout is not None else ()

    assert environments["ok"]
    assert cpu.children_named(os.getpid(), "slirp4netns") == []
    assert [p for parent in parents for p in parent.glob(f"{cgroups.PREFIX}{os.getpid()}-*")] == []


def test_the_report_shows_the_environment_section_and_its_goals(environments):
    report: dict[str, Any] = {
        "machine": machine_facts(),
        "server": None,
        "scenarios": {},
        "environments": environments,
        "goals": check_goals({}, environments),
    }

    text = render(report)

    assert "start, existing workspace, network limited" in text
    assert "call: bash true" in text
    assert "memory per idle environment, 3 alive at once, network open" in text
    assert [goal["unit"] for goal in report["goals"]] == ["ms", "ms", "ms", "ms", "MiB", "MiB"]
    assert orjson.loads(orjson.dumps(report))["environments"]["figures"].keys() == {
        "starts", "stop_ms", "warmup_cycles", "calls", "idle"
    }  # fmt: skip


def test_the_environment_section_is_skipped_with_the_reason_where_nothing_is_enforced():
    section = measure_environments(TINY, capabilities=probe("none")).as_dict()
    report: dict[str, Any] = {
        "machine": machine_facts(),
        "server": None,
        "scenarios": {},
        "environments": section,
        "goals": check_goals({}, section),
    }

    assert section["ok"]
    assert section["skipped"].startswith("the sandbox cannot be enforced on this host: UNSAFE")
    assert report["goals"] == []
    assert f"environments: skipped: {section['skipped']}" in render(report)
