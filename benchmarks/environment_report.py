"""The environment section of the benchmark report: sandbox start, call and memory figures."""

from __future__ import annotations

from typing import Any

from benchmarks import cpu
from benchmarks.tables import number, table


def environment_lines(section: dict[str, Any]) -> list[str]:
    """The environment section: its latency table, then memory and CPU notes."""
    if section["skipped"] is not None:
        return [f"environments: skipped: {section['skipped']}"]
    figures, limits = section["figures"], section["limits"]
    calls, idle = figures["calls"], figures["idle"]
    rows = [["environments (sandboxes in this process)", "n", "p50", "p99", "max"]]
    for mode, starts in figures["starts"].items():
        rows.append(_latency_row(f"start, fresh workspace, network {mode}", starts["fresh_ms"]))
        rows.append(
            _latency_row(f"start, existing workspace, network {mode}", starts["restart_ms"])
        )
    rows.append(_latency_row("stop, after each start above", figures["stop_ms"]))
    rows.append(
        _latency_row(
            f"start, fresh, {idle['network']}, among up to {idle['environments'] - 1} idle",
            idle["start_ms"],
        )
    )
    rows.append(
        _latency_row(f"call: read of a {calls['file_bytes']:,}-byte file", calls["read_ms"])
    )
    rows.append(_latency_row("call: bash true", calls["bash_true_ms"]))
    cpu_ms = calls["environment_cpu_ms_per_call"]
    lines = [
        f"environments: runtime size small ({limits['cpus']:g} CPU, {limits['memory_mb']} MiB, "
        f"{limits['disk_mb']} MiB disk), one start or call at a time; milliseconds",
        *table(rows, right_aligned={1, 2, 3, 4}),
        f"calls: network {calls['network']}, {calls['gap_ms']:.0f} ms pause after each; CPU "
        f"inside the environment per call: read {number(cpu_ms.get('read'), 2)} ms,",
        f"  bash true {number(cpu_ms.get('bash_true'), 2)} ms; periods throttled by its CPU "
        f"quota: {number(calls['throttled_periods'], 0)}",
        "",
        *_idle_memory_lines(idle),
        "",
        f"section: {section['wall_s']:.0f} s; this process {section['process_cpu_s']:.1f} s CPU; "
        f"all cores busy {100 * section['machine_cpu_s'] / max(section['wall_s'], 1e-9):.0f}% "
        "of one core;",
        f"  other processes used {number(section['other_cpu_pct_before'], 0)}% of one core "
        "in the second before it started",
    ]
    before = section["other_cpu_pct_before"]
    if before is not None and before > cpu.QUIET_OTHER_CPU_PCT:
        lines.append("WARNING: the machine was busy; the environment figures understate it.")
    return lines


def _latency_row(label: str, series: dict[str, Any]) -> list[str]:
    values = [number(series[name], 2 if series["p50"] and series["p50"] < 10 else 1)
              for name in ("p50", "p99", "max")]  # fmt: skip
    return [label, str(series["count"]), *values]


def _idle_memory_lines(idle: dict[str, Any]) -> list[str]:
    count = idle["environments"]
    title = (
        f"memory per idle environment, {count} alive at once, network {idle['network']} "
        f"(read {idle['settle_s']:g} s after the last start):"
    )
    if idle["pss_mib_per_environment"] is None:
        return [title, "  not measured: no environment started"]
    by_process = ", ".join(
        f"{name} {mib:.2f}"
        for name, mib in sorted(
            idle["pss_mib_per_environment_by_process"].items(), key=lambda item: -item[1]
        )
    )
    changes = idle["meminfo_change_mib_per_environment"]
    where = ", ".join(f"{name} {mib:+.2f}" for name, mib in changes.items() if mib is not None)
    return [
        title,
        f"  PSS of its processes   {idle['pss_mib_per_environment']:6.2f} MiB  ({by_process})",
        f"{'':37}({idle['processes_per_environment']:g} processes in "
        f"its cgroup; {idle['slirp4netns_found']} slirp4netns in all)",
        f"  drop of MemAvailable   {idle['mem_available_drop_mib_per_environment']:6.2f} MiB  "
        "(all the machine lost, kernel memory included; noisy)",
        f"  memory cgroup charge   {idle['cgroup_charge_mib_per_environment']:6.2f} MiB  "
        "(pages and kernel memory charged to its cgroup)",
        "  /proc/meminfo changes (MiB):",
        f"    {where}",
        "  PSS leaves out kernel memory (namespaces, nftables, sockets, cgroups, the loop device",
        "  and its ext4 mount), page cache and the worker's own objects "
        f"({idle['process_rss_growth_mib_per_environment']:.2f} MiB of this process's RSS).",
    ]
