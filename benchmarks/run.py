"""The benchmark suite: one command starts the servers, runs every workload for every
client several times, and prints and writes the table.

    python benchmarks/run.py                 # everything, 5 rounds (~20 min)
    python benchmarks/run.py --rounds 3 --only nginx-h1,startup

Servers (all loopback, started and stopped here): nginx and ``reusecheck serve``, each
plain HTTP/1.1 and HTTP/2 over TLS.  Clients: reusecheck with events recorded (what
every CLI run does), with a NullSink (tracing off) and streaming NDJSON to a file (as
``--events FILE``); httpx (sync and async), aiohttp, curl and h2load (the native
ceiling).  Each run is its own process (``clients.py``), pinned to one CPU when there
are two or more (the servers get the other), and the rounds interleave the clients so
drift on a shared machine hits them alike.  Medians are reported, with the spread.

Results: ``benchmarks/results/latest.json`` (every run) and ``latest.md`` (the table
docs/performance.md quotes).  Nothing here is asserted by the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from targets import DOWNLOAD_BYTES, Target, start_nginx, start_serve  # noqa: E402

RUN_TIMEOUT = 300.0  # one client run; a stuck peer is recorded as failed, not waited on
REQUESTS = {"seq": 10_000, "conc16": 10_000, "h2streams64": 6_400}
PY_CLIENTS_H1 = ("reusecheck", "reusecheck-null", "httpx", "httpx-async", "aiohttp")
# workload -> clients, per kind of target
PLAN: dict[str, dict[str, tuple[str, ...]]] = {
    "h1": {
        "seq": (*PY_CLIENTS_H1, "reusecheck-ndjson", "curl", "h2load"),
        # httpx's sync client would run them one after another: left out.
        "conc16": ("reusecheck", "reusecheck-null", "httpx-async", "aiohttp", "h2load"),
        "download": (*PY_CLIENTS_H1, "curl", "h2load"),
    },
    "h2": {
        # httpx's sync client cannot run 64 streams at once; aiohttp has no HTTP/2.
        "h2streams64": (
            "reusecheck",
            "reusecheck-null",
            "reusecheck-ndjson",
            "httpx-async",
            "h2load",
        ),
        "download-h2": ("reusecheck", "reusecheck-null", "httpx", "httpx-async", "curl", "h2load"),
    },
}
MEMORY_REQUESTS = (1_000, 10_000, 30_000, 100_000)


def _cpus() -> tuple[list[str], list[str]]:
    """(client pinning, server pinning) as taskset prefixes; none on one CPU."""
    n = os.cpu_count() or 1
    if n < 2 or not shutil.which("taskset"):
        return [], []
    return ["taskset", "-c", str(n - 1)], ["taskset", "-c", ",".join(map(str, range(n - 1)))]


def _pin(proc: subprocess.Popen[bytes], cpus: list[str]) -> None:
    if cpus:
        subprocess.run(["taskset", "-p", "-c", cpus[-1], str(proc.pid)], capture_output=True)


# -- one run ------------------------------------------------------------------------------


def run_python(
    client: str, workload: str, target: Target, n: int, pin: list[str]
) -> dict[str, Any]:
    env = dict(os.environ)
    if target.cafile:
        env["BENCH_CAFILE"] = target.cafile
    env["BENCH_EVENTS"] = os.path.join(
        tempfile.gettempdir(), f"reusecheck-bench-{os.getpid()}.ndjson"
    )
    url = target.download_url if workload.startswith("download") else target.url
    argv = [*pin, sys.executable, str(HERE / "clients.py"), client, workload, url, str(n)]
    out = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=RUN_TIMEOUT)
    if out.returncode != 0:
        raise RuntimeError(out.stderr.strip().splitlines()[-1] if out.stderr.strip() else "failed")
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def run_curl(workload: str, target: Target, n: int, pin: list[str]) -> dict[str, Any]:
    tls = ["--cacert", target.cafile] if target.cafile else []
    proto = ["--http2"] if workload == "download-h2" else (["--http1.1"] if target.cafile else [])
    if workload.startswith("download"):
        argv = [*pin, "curl", "-sS", *tls, *proto, "-o", "/dev/null", "-w", "%{speed_download}"]
        out = subprocess.run(
            [*argv, target.download_url], capture_output=True, text=True, timeout=RUN_TIMEOUT
        )
        if out.returncode != 0:
            raise RuntimeError(out.stderr.strip())
        return {"rate": float(out.stdout.strip())}
    # Sequential requests on one connection: curl reuses it across a URL range.
    t0 = time.perf_counter()
    out = subprocess.run(
        [*pin, "curl", "-sS", *tls, *proto, "-o", "/dev/null", f"{target.url}?[1-{n}]"],
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
    )
    if out.returncode != 0:
        raise RuntimeError(out.stderr.strip()[-300:])
    return {"rate": n / (time.perf_counter() - t0)}


_UNITS = {"B/s": 1, "KB/s": 1 << 10, "MB/s": 1 << 20, "GB/s": 1 << 30}


def run_h2load(workload: str, target: Target, n: int, pin: list[str]) -> dict[str, Any]:
    h1 = [] if workload in ("h2streams64", "download-h2") else ["--h1"]
    if workload.startswith("download"):
        args = ["-n", "1", "-c", "1", target.download_url]
    else:
        clients, streams = {"seq": (1, 1), "conc16": (16, 1), "h2streams64": (1, 64)}[workload]
        args = ["-n", str(n), "-c", str(clients), "-m", str(streams), target.url]
    out = subprocess.run(
        [*pin, "h2load", *h1, *args], capture_output=True, text=True, timeout=RUN_TIMEOUT
    )
    m = re.search(r"finished in [\d.]+m?s, ([\d.]+) req/s, ([\d.]+)([KMG]?B/s)", out.stdout)
    ok = re.search(r"(\d+) succeeded", out.stdout)
    if m is None or ok is None or int(ok.group(1)) == 0:
        raise RuntimeError(f"h2load: {out.stdout[-300:]} {out.stderr[-300:]}")
    if workload.startswith("download"):
        return {"rate": float(m.group(2)) * _UNITS[m.group(3)]}
    return {"rate": float(m.group(1))}


def run_one(client: str, workload: str, target: Target, pin: list[str]) -> dict[str, Any]:
    n = DOWNLOAD_BYTES if workload.startswith("download") else REQUESTS[workload]
    if client == "curl":
        return run_curl(workload, target, n, pin)
    if client == "h2load":
        return run_h2load(workload, target, n, pin)
    return run_python(client, workload, target, n, pin)


# -- start-up and memory --------------------------------------------------------------------


def startup(runs: int) -> dict[str, float]:
    """Median wall time (ms) of the interpreter alone and of the console script."""
    # The console script beside this interpreter: a shim (pyenv) on PATH would add its
    # own start-up to one side only.
    beside = Path(sys.executable).parent / "reusecheck"
    exe = str(beside) if beside.exists() else (shutil.which("reusecheck") or "reusecheck")
    cmds = {
        "python -c pass": f"{sys.executable} -c pass",
        "reusecheck --version": f"{exe} --version",
        "reusecheck --help": f"{exe} --help",
    }
    with tempfile.NamedTemporaryFile(suffix=".json") as f:
        subprocess.run(
            [
                "hyperfine",
                "-N",
                "--warmup",
                "3",
                "--runs",
                str(runs),
                "--export-json",
                f.name,
                *cmds.values(),
            ],
            capture_output=True,
            check=True,
            timeout=RUN_TIMEOUT,
        )
        data = json.loads(Path(f.name).read_text())
    return {name: r["median"] * 1000 for name, r in zip(cmds, data["results"], strict=True)}


def memory(target: Target, counts: tuple[int, ...]) -> list[dict[str, Any]]:
    """Peak RSS of ``reusecheck probe --requests N --events FILE --json``, per N."""
    rows = []
    for n in counts:
        with tempfile.TemporaryDirectory() as d:
            events = Path(d) / "events.ndjson"
            argv = [
                sys.executable,
                "-m",
                "reusecheck",
                "probe",
                target.url,
                "--requests",
                str(n),
                "--idle",
                "0",
                "--json",
                "--events",
                str(events),
                "--max-total-requests",
                str(n + 100),
                "--deadline",
                "900",
            ]
            t0 = time.perf_counter()
            proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            _, status, usage = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
            wall = time.perf_counter() - t0
            rows.append(
                {
                    "requests": n,
                    "exit": proc.returncode,
                    "maxrss_mb": usage.ru_maxrss / 1024,
                    "wall_s": wall,
                    "events_mb": events.stat().st_size / 1e6 if events.exists() else 0.0,
                }
            )
            print(
                f"  memory {n:>7} requests: {rows[-1]['maxrss_mb']:.0f} MB, {wall:.1f} s",
                flush=True,
            )
    return rows


# -- the table ----------------------------------------------------------------------------


def _fmt_rate(workload: str, rate: float) -> str:
    return f"{rate / 1e6:,.0f} MB/s" if workload.startswith("download") else f"{rate:,.0f}/s"


def table(results: dict[str, list[dict[str, Any]]]) -> tuple[str, dict[str, Any]]:
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
            medians[key] = None
            continue
        rates = [r["rate"] for r in ok]
        cpu = [
            r["cpu_s"] / REQUESTS[workload] * 1e6
            for r in ok
            if "cpu_s" in r and workload in REQUESTS
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
        if m is None:
            lines.append(f"| {target} | {workload} | {client} | failed | | | |")
            continue
        rc = medians.get(f"{target}|{workload}|reusecheck")
        ratio = f"{rc['median'] / m['median']:.2f}x" if rc and client != "reusecheck" else ""
        cpu = f"{m['cpu_us_per_req']:.0f} µs" if m["cpu_us_per_req"] is not None else ""
        failed = f" ({m['failed']} failed)" if m["failed"] else ""
        lines.append(
            f"| {target} | {workload} | {client} | {_fmt_rate(workload, m['median'])}{failed} | "
            f"{_fmt_rate(workload, m['min'])} - {_fmt_rate(workload, m['max'])} | {cpu} | {ratio} |"
        )
    return "\n".join(lines), medians


def goals(
    medians: dict[str, Any], start: dict[str, float] | None, mem: list[dict[str, Any]] | None
) -> list[str]:
    def med(key: str) -> float | None:
        m = medians.get(key)
        return m["median"] if m else None

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


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument(
        "--only",
        default="nginx-h1,nginx-h2,serve-h1,serve-h2,startup,memory",
        help="comma-separated: targets, startup, memory",
    )
    ap.add_argument("--memory-requests", default=",".join(map(str, MEMORY_REQUESTS)))
    ap.add_argument("--out", default=str(HERE / "results"))
    args = ap.parse_args()
    # Stopped with SIGTERM (or SIGINT, which a background job ignores): still stop the
    # servers in the finally below.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    only = set(args.only.split(","))
    pin_client, pin_server = _cpus()
    work = Path(tempfile.mkdtemp(prefix="reusecheck-bench-"))
    targets: list[Target] = []
    results: dict[str, list[dict[str, Any]]] = defaultdict(list)
    start = mem = None
    try:
        if only & {"nginx-h1", "memory"}:
            targets.append(start_nginx(work / "nginx-h1", tls=False))
        if "nginx-h2" in only:
            targets.append(start_nginx(work / "nginx-h2", tls=True))
        if "serve-h1" in only:
            targets.append(start_serve(tls=False))
        if "serve-h2" in only:
            targets.append(start_serve(tls=True))
        for t in targets:
            _pin(t.proc, pin_server)
        for rnd in range(args.rounds):
            for t in targets:
                if t.name not in only:
                    continue
                for workload, clients in PLAN["h2" if t.cafile else "h1"].items():
                    for client in clients:
                        key = f"{t.name}|{workload}|{client}"
                        try:
                            r = run_one(client, workload, t, pin_client)
                        except (RuntimeError, subprocess.TimeoutExpired) as exc:
                            r = {"error": str(exc)[-300:]}
                        results[key].append(r)
                        shown = _fmt_rate(workload, r["rate"]) if "rate" in r else r["error"]
                        print(f"round {rnd + 1}/{args.rounds} {key}: {shown}", flush=True)
        if "startup" in only:
            try:
                start = startup(runs=20)
                print("startup", start, flush=True)
            except (OSError, subprocess.SubprocessError) as exc:
                print(f"startup failed: {exc}", flush=True)
        if "memory" in only:
            try:
                counts = tuple(int(x) for x in args.memory_requests.split(","))
                mem = memory(targets[0], counts)
            except (OSError, subprocess.SubprocessError) as exc:
                print(f"memory failed: {exc}", flush=True)
    finally:
        for t in targets:
            t.stop()
        shutil.rmtree(work, ignore_errors=True)
    text, medians = table(results)
    goal_lines = goals(medians, start, mem)
    ver = versions()
    parts = [
        f"Machine: {ver['cpu']}, {platform.system()} {platform.release()}; "
        f"clients pinned to one CPU, servers to the rest: {bool(pin_client)}.",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in ver.items() if k != "cpu"),
        f"Command: `python benchmarks/run.py --rounds {args.rounds}`; medians of {args.rounds} "
        "interleaved rounds.",
        "",
        text,
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
                "rounds": args.rounds,
                "runs": results,
                "medians": medians,
                "startup_ms": start,
                "memory": mem,
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
