"""The benchmark suite: one command starts the servers, runs every workload for every
client several times, and prints and writes the table.

    pip install -e '.[bench]'                # the Python peers (httpx, aiohttp)
    apt-get install -y curl nghttp2-client nginx hyperfine   # the rest (h2load: nghttp2-client)

    python benchmarks/run.py                 # everything, 5 rounds (~20 min)
    python benchmarks/run.py --rounds 3 --only nginx-h1,startup
    python benchmarks/run.py --whole         # the whole-process workloads below
    python benchmarks/run.py --whole --only probe-seq,run-h2-64 --rounds 5
    python benchmarks/run.py --only probe-1m-rss --rounds 1 --rss-requests 100000

Options: ``--rounds N`` (interleaved rounds, 5), ``--only LIST`` (comma-separated: the
targets nginx-h1, nginx-h2, serve-h1, serve-h2; startup; memory; whole-process
workloads by name), ``--whole`` (the whole-process workloads probe-seq, run-h2-64,
probe-20k, targets-5000; with ``--only``, the ones named there), ``--rss-requests N``
(probe-1m-rss's request count, 1,000,000), ``--memory-requests LIST``, ``--out DIR``.

Whole-process workloads (``whole.py``; each command timed from its start to its exit,
peak RSS from the child's rusage): ``probe-seq`` (``reusecheck probe`` of 5,000
sequential requests vs httpx and aiohttp scripts), ``run-h2-64`` (``reusecheck run`` of
5,120 requests 64 at a time over HTTP/2 vs an httpx HTTP/2 script), ``probe-20k`` (wall
time and the time after the last response), ``targets-5000`` (``--targets`` of 5,000
URLs, ``--parallel 64``: peak RSS) and, only when named, ``probe-1m-rss``.

Servers (all loopback, started and stopped here): nginx and ``reusecheck serve``, each
plain HTTP/1.1 and HTTP/2 over TLS.  Clients: reusecheck with events folded into the
analysis (what every CLI run does), with a NullSink (tracing off) and streaming NDJSON to a file (as
``--events FILE``); httpx (sync and async), aiohttp, curl and h2load (the native
ceiling).  Each run is its own process (``clients.py``), pinned to one CPU when there
are two or more (the servers get the other), and the rounds interleave the clients so
drift on a shared machine hits them alike.  Medians are reported, with the spread.

A peer that is not installed (a Python module, or curl, h2load, nginx, hyperfine not on
PATH) is named at the start with the command that installs it, and its rows read
"skipped (not installed: ...)"; "failed" is a peer that ran and failed.

Results: ``benchmarks/results/latest.json`` (every run) and ``latest.md`` (the table
docs/performance.md quotes).  Nothing here is asserted by the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from tables import fmt_rate, write_results  # noqa: E402
from targets import DOWNLOAD_BYTES, Target, start_nginx, start_serve  # noqa: E402
from whole import OPT_IN, TARGET_OF, WHOLE, run_whole  # noqa: E402

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
PIP_INSTALL = "pip install -e '.[bench]'"
# Debian packages of the command-line peers (h2load comes with nghttp2-client).
APT_PACKAGE = {
    "curl": "curl",
    "h2load": "nghttp2-client",
    "nginx": "nginx",
    "hyperfine": "hyperfine",
}
# client -> the Python modules it imports (clients.py); h2 is reusecheck's own dependency
CLIENT_MODULES = {"httpx": ("httpx",), "httpx-async": ("httpx",), "aiohttp": ("aiohttp",)}


def _nginx() -> str | None:
    return shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )


def missing_peers() -> tuple[dict[str, str], dict[str, str]]:
    """(Python module -> what to say, tool -> what to say) for the peers not installed;
    each line names the command that installs it."""
    from importlib.util import find_spec

    modules = {m: f"{m}; {PIP_INSTALL}" for m in ("httpx", "aiohttp", "h2") if find_spec(m) is None}
    tools = {
        t: f"{t}; apt-get install -y {APT_PACKAGE[t]}"
        for t in APT_PACKAGE
        if (_nginx() if t == "nginx" else shutil.which(t)) is None
    }
    return modules, tools


def _skipped(client: str, modules: dict[str, str], tools: dict[str, str]) -> str | None:
    """Why ``client`` cannot run here, or None."""
    lacking = [modules[m] for m in CLIENT_MODULES.get(client, ()) if m in modules]
    if client in tools:
        lacking.append(tools[client])
    return f"not installed: {', '.join(lacking)}" if lacking else None


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


def _announce_missing(modules: dict[str, str], tools: dict[str, str]) -> None:
    if not modules and not tools:
        return
    print("Not installed, their rows are skipped:", flush=True)
    for what in [*modules.values(), *tools.values()]:
        print(f"  {what}", flush=True)
    if modules:
        print(f"Python peers: {PIP_INSTALL}", flush=True)
    if tools:
        packages = " ".join(APT_PACKAGE[t] for t in tools)
        print(f"Command-line peers: apt-get install -y {packages}", flush=True)


def _start_targets(only: set[str], work: Path, tools: dict[str, str]) -> list[Target]:
    """The servers the selection needs (nginx's for its own rows, memory and the
    whole-process workloads)."""
    needed = set(only) | {TARGET_OF[w] for w in only if w in TARGET_OF}
    if "memory" in only:
        needed.add("nginx-h1")
    targets = []
    for name in ("nginx-h1", "nginx-h2"):
        if name in needed and "nginx" in tools:
            print(f"{name}: skipped (not installed: {tools['nginx']})", flush=True)
        elif name in needed:
            targets.append(start_nginx(work / name, tls=name == "nginx-h2"))
    for name in ("serve-h1", "serve-h2"):
        if name in needed:
            targets.append(start_serve(tls=name == "serve-h2"))
    return targets


def _in_process(
    targets: list[Target],
    only: set[str],
    rounds: int,
    pin: list[str],
    missing: tuple[dict[str, str], dict[str, str]],
) -> dict[str, list[dict[str, Any]]]:
    results: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for rnd in range(rounds):
        for t in targets:
            if t.name not in only:
                continue
            for workload, clients in PLAN["h2" if t.cafile else "h1"].items():
                for client in clients:
                    key = f"{t.name}|{workload}|{client}"
                    skipped = _skipped(client, *missing)
                    if skipped:
                        r: dict[str, Any] = {"skipped": skipped}
                    else:
                        try:
                            r = run_one(client, workload, t, pin)
                        except (RuntimeError, subprocess.TimeoutExpired) as exc:
                            r = {"error": str(exc)[-300:]}
                    results[key].append(r)
                    shown = (
                        fmt_rate(workload, r["rate"])
                        if "rate" in r
                        else r.get("skipped") or r["error"]
                    )
                    print(f"round {rnd + 1}/{rounds} {key}: {shown}", flush=True)
    return results


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument(
        "--only",
        default=None,
        help="comma-separated: targets, startup, memory, whole-process workloads "
        "(default: nginx-h1,nginx-h2,serve-h1,serve-h2,startup,memory)",
    )
    ap.add_argument(
        "--whole",
        action="store_true",
        help=f"the whole-process workloads ({','.join(WHOLE)}), or those named in --only",
    )
    ap.add_argument("--rss-requests", type=int, default=1_000_000, help="for probe-1m-rss")
    ap.add_argument("--memory-requests", default=",".join(map(str, MEMORY_REQUESTS)))
    ap.add_argument("--out", default=str(HERE / "results"))
    args = ap.parse_args()
    # Stopped with SIGTERM (or SIGINT, which a background job ignores): still stop the
    # servers in the finally below.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    default = (
        ",".join(WHOLE) if args.whole else "nginx-h1,nginx-h2,serve-h1,serve-h2,startup,memory"
    )
    only = set((args.only or default).split(","))
    whole_names = [w for w in (*WHOLE, *OPT_IN) if w in only]
    modules, tools = missing_peers()
    _announce_missing(modules, tools)
    pin_client, pin_server = _cpus()
    work = Path(tempfile.mkdtemp(prefix="reusecheck-bench-"))
    targets: list[Target] = []
    results: dict[str, list[dict[str, Any]]] = {}
    whole: dict[str, list[dict[str, Any]]] = {}
    start = mem = None
    try:
        targets = _start_targets(only, work, tools)
        for t in targets:
            _pin(t.proc, pin_server)
        results = _in_process(targets, only, args.rounds, pin_client, (modules, tools))
        if whole_names:
            by_name = {t.name: t for t in targets}
            whole = run_whole(
                whole_names, args.rounds, by_name, work, pin_client, args.rss_requests, modules
            )
        if "startup" in only and "hyperfine" in tools:
            print(f"startup: skipped (not installed: {tools['hyperfine']})", flush=True)
        elif "startup" in only:
            try:
                start = startup(runs=20)
                print("startup", start, flush=True)
            except (OSError, subprocess.SubprocessError) as exc:
                print(f"startup failed: {exc}", flush=True)
        h1 = next((t for t in targets if t.name == "nginx-h1"), None)
        if "memory" in only and h1 is not None:
            try:
                counts = tuple(int(x) for x in args.memory_requests.split(","))
                mem = memory(h1, counts)
            except (OSError, subprocess.SubprocessError) as exc:
                print(f"memory failed: {exc}", flush=True)
    finally:
        for t in targets:
            t.stop()
        shutil.rmtree(work, ignore_errors=True)
    write_results(args, REQUESTS, results, whole, start, mem, bool(pin_client))


if __name__ == "__main__":
    main()
