"""Whole-process workloads: a reusecheck command timed as a user runs it, from process
start to exit (interpreter start-up, imports, the run, the analysis and the report
included), next to peer scripts (``peers.py``) doing the same requests in a fresh
process.  Peak RSS is ``ru_maxrss`` of the finished child (``os.wait4``), CPU its user
plus system time.

- ``probe-seq``: ``reusecheck probe URL --requests 5000 --idle 0 --concurrency 0
  --max-total-requests 5000 --json`` against nginx over HTTP/1.1, vs httpx (sync) and
  aiohttp doing 5,000 sequential GETs; the ratio is the peer's wall over reusecheck's.
- ``run-h2-64``: ``reusecheck run FILE URL --json --cacert CA``, FILE one step of 5,120
  requests 64 at a time over HTTP/2 (``[pool] http = "2"``, ``count = 80``,
  ``concurrency = 64``), vs one httpx ``AsyncClient(http2=True)`` with 64 at once.
- ``probe-20k``: the probe with 20,000 requests; besides wall time, the time after the
  last response: wall - the report's ``summary.duration_s`` - start-up (the median
  wall of ``reusecheck --version``, timed in the same rounds), and its share of wall.
- ``targets-5000``: ``reusecheck probe --targets FILE --parallel 64 --requests 1 --idle
  0 --concurrency 0 --json``, FILE 5,000 URLs of the local nginx (``/t/0`` ...).
- ``probe-1m-rss`` (only when named in ``--only``: minutes): the probe with
  ``--requests N --max-total-requests N --json --events FILE``, N from
  ``--rss-requests`` (1,000,000 by default); its peak RSS.

A reusecheck command's exit code 1 is an expectation not met (a single request per
target cannot be reused): the run completed.  2 and above count as failed.
"""

from __future__ import annotations

import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from targets import Target

HERE = Path(__file__).resolve().parent
WHOLE = ("probe-seq", "run-h2-64", "probe-20k", "targets-5000")  # what --whole runs
OPT_IN = ("probe-1m-rss",)
TARGET_OF = {
    "probe-seq": "nginx-h1",
    "run-h2-64": "nginx-h2",
    "probe-20k": "nginx-h1",
    "targets-5000": "nginx-h1",
    "probe-1m-rss": "nginx-h1",
}
STARTUP_RUNS = 5  # `reusecheck --version` per round, for probe-20k's start-up
RUN_TIMEOUT = 3600.0
SCENARIO_H2_64 = """\
name = "h2-64"
description = "5,120 requests, 64 at a time, as streams of HTTP/2"

[pool]
http = "2"

[[step]]
name = "h2-64"
count = 80
concurrency = 64
"""


@dataclass
class Command:
    client: str  # the row's name: "reusecheck", "httpx", ...
    argv: list[str]
    modules: tuple[str, ...] = ()  # Python modules it needs (a peer's)
    env: dict[str, str] = field(default_factory=dict)
    keep_stdout: bool = False  # the JSON report is read (probe-20k)
    events: Path | None = None  # an --events file, sized then removed


def reusecheck_exe() -> str:
    """The console script beside this interpreter (a shim on PATH, pyenv's, would add
    its own start-up)."""
    beside = Path(sys.executable).parent / "reusecheck"
    return str(beside) if beside.exists() else (shutil.which("reusecheck") or "reusecheck")


def _probe(url: str, n: int) -> list[str]:
    return [
        reusecheck_exe(),
        "probe",
        url,
        "--requests",
        str(n),
        "--idle",
        "0",
        "--concurrency",
        "0",
        "--max-total-requests",
        str(n),
        "--json",
    ]


def commands(name: str, targets: dict[str, Target], work: Path, rss_requests: int) -> list[Command]:
    """The commands of one workload, reusecheck's first."""
    peer = [sys.executable, str(HERE / "peers.py")]
    if name == "probe-seq":
        url = targets["nginx-h1"].url
        return [
            Command("reusecheck", _probe(url, 5000)),
            Command("httpx", [*peer, "httpx-seq", url, "5000"], ("httpx",)),
            Command("aiohttp", [*peer, "aiohttp-seq", url, "5000"], ("aiohttp",)),
        ]
    if name == "run-h2-64":
        t = targets["nginx-h2"]
        assert t.cafile is not None
        scenario = work / "h2-64.toml"
        scenario.write_text(SCENARIO_H2_64)
        rc = [reusecheck_exe(), "run", str(scenario), t.url, "--json", "--cacert", t.cafile]
        return [
            Command("reusecheck", rc),
            Command(
                "httpx-async",
                [*peer, "httpx-h2", t.url, "5120", "64"],
                ("httpx", "h2"),
                {"BENCH_CAFILE": t.cafile},
            ),
        ]
    if name == "probe-20k":
        return [
            Command("reusecheck", _probe(targets["nginx-h1"].url, 20_000), keep_stdout=True),
            Command("reusecheck --version", [reusecheck_exe(), "--version"]),
        ]
    if name == "targets-5000":
        base = targets["nginx-h1"].url
        listing = work / "targets-5000.txt"
        listing.write_text("".join(f"{base}t/{i}\n" for i in range(5000)))
        return [
            Command(
                "reusecheck",
                [
                    reusecheck_exe(),
                    "probe",
                    "--targets",
                    str(listing),
                    "--parallel",
                    "64",
                    "--requests",
                    "1",
                    "--idle",
                    "0",
                    "--concurrency",
                    "0",
                    "--json",
                ],
            )
        ]
    if name == "probe-1m-rss":
        events = work / "events.ndjson"
        argv = [*_probe(targets["nginx-h1"].url, rss_requests), "--events", str(events)]
        return [Command("reusecheck", [*argv, "--deadline", str(int(RUN_TIMEOUT))], events=events)]
    raise ValueError(f"unknown whole-process workload {name}")


def timed(cmd: Command, pin: list[str], work: Path) -> dict[str, Any]:
    """Run once: wall from start to exit, the child's peak RSS and CPU (rusage)."""
    out_path = work / "stdout.json"
    env = {**os.environ, **cmd.env}
    with open(out_path if cmd.keep_stdout else os.devnull, "wb") as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen([*pin, *cmd.argv], stdout=out, stderr=subprocess.PIPE, env=env)
        assert proc.stderr is not None
        err = proc.stderr.read()  # the verdict lines; a pipe left full would stall it
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
    proc.returncode = code = os.waitstatus_to_exitcode(status)
    limit = 1 if cmd.client.startswith("reusecheck") else 0
    if code > limit or code < 0:
        tail = err.decode(errors="replace").strip().splitlines()[-1:] or [f"exit {code}"]
        return {"error": tail[0][-300:], "exit": code}
    run: dict[str, Any] = {
        "wall_s": wall,
        "maxrss_mb": usage.ru_maxrss / 1024,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "exit": code,
    }
    if cmd.keep_stdout:
        run["duration_s"] = report_duration(out_path)
    if cmd.events is not None and cmd.events.exists():
        run["events_mb"] = cmd.events.stat().st_size / 1e6
        cmd.events.unlink()
    return run


def report_duration(path: Path) -> float:
    """``summary.duration_s`` of a JSON report, read from the end of the file: loading a
    20,000-request report here would raise this process's peak RSS, and every child
    started later inherits that peak as its own floor (``ru_maxrss`` is carried over
    fork and exec)."""
    with path.open("rb") as f:
        size = f.seek(0, os.SEEK_END)
        block = min(size, 1 << 16)
        while True:
            f.seek(size - block)
            tail = f.read(block)
            at = tail.rfind(b'"summary"')
            if at >= 0 or block == size:
                break
            block = min(size, block * 4)
    m = re.search(rb'"duration_s":\s*([-+.\deE]+)', tail[max(at, 0) :])
    if at < 0 or m is None:
        raise ValueError(f"no summary.duration_s in {path}")
    return float(m.group(1))


def own_peak_mb() -> float:
    """This process's peak RSS: no child's can read below it (see report_duration)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_whole(
    names: list[str],
    rounds: int,
    targets: dict[str, Target],
    work: Path,
    pin: list[str],
    rss_requests: int,
    missing_module: dict[str, str],
) -> dict[str, list[dict[str, Any]]]:
    """Every workload's commands in turn, ``rounds`` times (interleaved)."""
    results: dict[str, list[dict[str, Any]]] = {}
    for rnd in range(rounds):
        for name in names:
            if TARGET_OF[name] not in targets:
                continue
            for cmd in commands(name, targets, work, rss_requests):
                key = f"{name}|{cmd.client}"
                lacking = [missing_module[m] for m in cmd.modules if m in missing_module]
                repeat = STARTUP_RUNS if cmd.client == "reusecheck --version" else 1
                for _ in range(repeat):
                    if lacking:
                        r: dict[str, Any] = {"skipped": f"not installed: {', '.join(lacking)}"}
                    else:
                        try:
                            r = timed(cmd, pin, work)
                        except (OSError, ValueError, KeyError) as exc:
                            r = {"error": str(exc)[-300:]}
                    results.setdefault(key, []).append(r)
                shown = (
                    f"{r['wall_s']:.2f} s, {r['maxrss_mb']:.0f} MB"
                    if "wall_s" in r
                    else r.get("skipped") or r["error"]
                )
                print(f"round {rnd + 1}/{rounds} whole {key}: {shown}", flush=True)
    return results


def _spread(values: list[float], fmt: str) -> tuple[str, str]:
    return fmt.format(statistics.median(values)), f"{fmt.format(min(values))} - " + fmt.format(
        max(values)
    )


def table_whole(results: dict[str, list[dict[str, Any]]]) -> tuple[list[str], dict[str, Any]]:
    """Markdown rows per workload and command, and the medians for latest.json."""
    lines = [
        "| workload | command | median wall | min-max | peak RSS | CPU | peer / reusecheck |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    medians: dict[str, Any] = {}
    for key, runs in results.items():
        ok = [r for r in runs if "wall_s" in r]
        skipped = next((r["skipped"] for r in runs if "skipped" in r), None)
        medians[key] = (
            {
                "wall_s": statistics.median(r["wall_s"] for r in ok),
                "min_s": min(r["wall_s"] for r in ok),
                "max_s": max(r["wall_s"] for r in ok),
                "maxrss_mb": statistics.median(r["maxrss_mb"] for r in ok),
                "cpu_s": statistics.median(r["cpu_s"] for r in ok),
                "runs": len(ok),
                "failed": len(runs) - len(ok),
            }
            if ok
            else {"skipped": skipped}
            if skipped
            else None
        )
    for key, m in medians.items():
        workload, client = key.split("|")
        if m is None or "skipped" in m:
            what = f"skipped ({m['skipped']})" if m else "failed"
            lines.append(f"| {workload} | {client} | {what} | | | | |")
            continue
        rc = medians.get(f"{workload}|reusecheck")
        ratio = ""
        if rc and "wall_s" in rc and not client.startswith("reusecheck"):
            ratio = f"{m['wall_s'] / rc['wall_s']:.2f}x"
        wall, spread = _spread([r["wall_s"] for r in results[key] if "wall_s" in r], "{:.2f} s")
        failed = f" ({m['failed']} failed)" if m["failed"] else ""
        lines.append(
            f"| {workload} | {client} | {wall}{failed} | {spread} | {m['maxrss_mb']:.0f} MB | "
            f"{m['cpu_s']:.2f} s | {ratio} |"
        )
    tail = after_last_response(results)
    if tail:
        medians["probe-20k|after-last-response"] = tail
        lines += [
            "",
            f"probe-20k, time after the last response (wall - summary.duration_s - "
            f"start-up {tail['startup_s'] * 1000:.0f} ms): median {tail['tail_s']:.2f} s "
            f"({tail['min_s']:.2f} - {tail['max_s']:.2f}), {tail['fraction'] * 100:.0f} % "
            f"of wall ({tail['wall_s']:.2f} s); summary.duration_s {tail['duration_s']:.2f} s.",
        ]
    return lines, medians


def after_last_response(results: dict[str, list[dict[str, Any]]]) -> dict[str, float] | None:
    runs = [r for r in results.get("probe-20k|reusecheck", []) if "duration_s" in r]
    starts = [
        r["wall_s"] for r in results.get("probe-20k|reusecheck --version", []) if "wall_s" in r
    ]
    if not runs or not starts:
        return None
    startup = statistics.median(starts)
    tails = [r["wall_s"] - r["duration_s"] - startup for r in runs]
    wall = statistics.median(r["wall_s"] for r in runs)
    return {
        "tail_s": statistics.median(tails),
        "min_s": min(tails),
        "max_s": max(tails),
        "wall_s": wall,
        "duration_s": statistics.median(r["duration_s"] for r in runs),
        "startup_s": startup,
        "fraction": statistics.median(t / r["wall_s"] for t, r in zip(tails, runs, strict=True)),
    }
