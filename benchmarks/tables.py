"""The suite's tables: medians and spreads of every run, the goals, the versions, and
the two result files (``results/latest.md``, ``results/latest.json``)."""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

from whole import own_peak_mb, table_whole


def fmt_rate(workload: str, rate: float) -> str:
    return f"{rate / 1e6:,.0f} MB/s" if workload.startswith("download") else f"{rate:,.0f}/s"


def table(
    results: dict[str, list[dict[str, Any]]], requests: dict[str, int]
) -> tuple[str, dict[str, Any]]:
    """Markdown: per target and workload, each client's median (spread), and ratios."""
    lines = [
        "| target | workload | client | median | min-max | cpu/req | reusecheck / client |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    medians: dict[str, Any] = {}
    for key, runs in results.items():
        target, workload, client = key.split("|")
        ok = [r for r in runs if "rate" in r]
        if not ok:
            skipped = next((r["skipped"] for r in runs if "skipped" in r), None)
            medians[key] = {"skipped": skipped} if skipped else None
            continue
        rates = [r["rate"] for r in ok]
        cpu = [
            r["cpu_s"] / requests[workload] * 1e6
            for r in ok
            if "cpu_s" in r and workload in requests
        ]
        medians[key] = {
            "median": statistics.median(rates),
            "min": min(rates),
            "max": max(rates),
            "runs": len(rates),
            "failed": len(runs) - len(ok),
            "cpu_us_per_req": statistics.median(cpu) if cpu else None,
        }
    for key, m in medians.items():
        target, workload, client = key.split("|")
        if m is None or "skipped" in m:
            what = f"skipped ({m['skipped']})" if m else "failed"
            lines.append(f"| {target} | {workload} | {client} | {what} | | | |")
            continue
        rc = medians.get(f"{target}|{workload}|reusecheck")
        ratio = ""
        if rc and "median" in rc and client != "reusecheck":
            ratio = f"{rc['median'] / m['median']:.2f}x"
        cpu = f"{m['cpu_us_per_req']:.0f} µs" if m["cpu_us_per_req"] is not None else ""
        failed = f" ({m['failed']} failed)" if m["failed"] else ""
        lines.append(
            f"| {target} | {workload} | {client} | {fmt_rate(workload, m['median'])}{failed} | "
            f"{fmt_rate(workload, m['min'])} - {fmt_rate(workload, m['max'])} | {cpu} | {ratio} |"
        )
    return "\n".join(lines), medians


def goals(
    medians: dict[str, Any], start: dict[str, float] | None, mem: list[dict[str, Any]] | None
) -> list[str]:
    def med(key: str) -> float | None:
        m = medians.get(key)
        return m["median"] if m and "median" in m else None

    out = []

    def check(name: str, ok: bool | None, figure: str) -> None:
        mark = "n/a" if ok is None else ("met" if ok else "NOT met")
        out.append(f"| {name} | {figure} | {mark} |")

    def ratio(a: str, b: str) -> float | None:
        x, y = med(a), med(b)
        return x / y if x and y else None

    r = ratio("nginx-h1|seq|reusecheck", "nginx-h1|seq|httpx")
    check(
        "sequential h1: >= 2x httpx (sync, the faster httpx)",
        r and r >= 2,
        f"{r:.2f}x" if r else "-",
    )
    r = ratio("nginx-h1|seq|reusecheck", "nginx-h1|seq|aiohttp")
    check("sequential h1: >= aiohttp", r and r >= 1, f"{r:.2f}x" if r else "-")
    r = ratio("nginx-h2|h2streams64|reusecheck", "nginx-h2|h2streams64|httpx-async")
    check("h2, 64 streams on one connection: >= 5x httpx", r and r >= 5, f"{r:.2f}x" if r else "-")
    for wl, tgt in (("seq", "nginx-h1"), ("h2streams64", "nginx-h2")):
        r = ratio(f"{tgt}|{wl}|reusecheck", f"{tgt}|{wl}|reusecheck-null")
        if r:
            check(f"tracing overhead <= 10 % ({wl})", 1 - r <= 0.10, f"{(1 - r) * 100:.1f} %")
    for wl, tgt in (("download", "nginx-h1"), ("download-h2", "nginx-h2")):
        r = ratio(f"{tgt}|{wl}|reusecheck", f"{tgt}|{wl}|curl")
        check(
            f"100 MiB download ({wl}) >= 80 % of curl",
            r and r >= 0.8,
            f"{r * 100:.0f} %" if r else "-",
        )
    if start:
        d = start["reusecheck --version"] - start["python -c pass"]
        check("`reusecheck --version` within 50 ms of `python -c pass`", d <= 50, f"+{d:.0f} ms")
    if mem:
        last = mem[-1]
        check(
            f"RSS flat (< 100 MB) at {last['requests']:,} requests with --events FILE",
            last["maxrss_mb"] < 100,
            f"{last['maxrss_mb']:.0f} MB",
        )
    return ["| goal | figure | status |", "| --- | --- | --- |", *out]


def versions() -> dict[str, str]:
    from importlib.metadata import version

    v = {"python": platform.python_version(), "machine": platform.machine()}
    for pkg in ("reusecheck", "h11", "h2", "httpx", "httpcore", "aiohttp"):
        try:
            v[pkg] = version(pkg)
        except Exception:  # a missing peer is reported, not fatal
            v[pkg] = "missing"
    for tool, flag in (("nginx", "-v"), ("curl", "--version"), ("h2load", "--version")):
        try:
            p = subprocess.run([tool, flag], capture_output=True, text=True, timeout=10)
            first = (p.stdout or p.stderr).strip().splitlines()[0]
            v[tool] = " ".join(first.replace("nginx version:", "").split()[:2])
        except (OSError, IndexError, subprocess.TimeoutExpired):
            v[tool] = "missing"
    try:
        model = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
    except (OSError, StopIteration):
        model = platform.processor()
    v["cpu"] = f"{os.cpu_count()} x {model}"
    return v


def write_results(
    args: argparse.Namespace,
    requests: dict[str, int],
    results: dict[str, list[dict[str, Any]]],
    whole: dict[str, list[dict[str, Any]]],
    start: dict[str, float] | None,
    mem: list[dict[str, Any]] | None,
    pinned: bool,
) -> None:
    text, medians = table(results, requests)
    goal_lines = goals(medians, start, mem)
    ver = versions()
    command = " ".join(["python benchmarks/run.py", *sys.argv[1:]])
    parts = [
        f"Machine: {ver['cpu']}, {platform.system()} {platform.release()}; "
        f"clients pinned to one CPU, servers to the rest: {pinned}.",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in ver.items() if k != "cpu"),
        f"Command: `{command}`; medians of {args.rounds} interleaved rounds.",
        "",
    ]
    if results:
        parts += [text, ""]
    whole_medians: dict[str, Any] = {}
    if whole:
        whole_lines, whole_medians = table_whole(whole)
        parts += [
            "Whole processes (start to exit; peak RSS of the process, which cannot read "
            f"below the suite's own, {own_peak_mb():.0f} MB):",
            "",
            *whole_lines,
            "",
        ]
    if start:
        parts += ["| command | median wall |", "| --- | --- |"]
        parts += [f"| `{k}` | {v:.0f} ms |" for k, v in start.items()]
        parts.append("")
    if mem:
        parts += ["| requests | peak RSS | wall | events file |", "| --- | --- | --- | --- |"]
        parts += [
            f"| {m['requests']:,} | {m['maxrss_mb']:.0f} MB | {m['wall_s']:.1f} s | "
            f"{m['events_mb']:.0f} MB |"
            for m in mem
        ]
        parts.append("")
    if results or start or mem:
        parts += goal_lines
    md = "\n".join(parts) + "\n"
    print()
    print(md)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "latest.md").write_text(md)
    (out / "latest.json").write_text(
        json.dumps(
            {
                "versions": ver,
                "command": command,
                "rounds": args.rounds,
                "runs": results,
                "medians": medians,
                "whole_runs": whole,
                "whole_medians": whole_medians,
                "startup_ms": start,
                "memory": mem,
            },
            indent=1,
        )
    )
