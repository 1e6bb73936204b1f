"""One workload, one client, one process: prints one JSON line with what it measured.

Run by ``benchmarks/run.py``; by hand::

    python benchmarks/clients.py reusecheck seq http://127.0.0.1:8080/ 10000

Clients: ``reusecheck`` (events folded into the analysis as they come and each row
encoded, as every CLI run does), ``reusecheck-null`` (a NullSink: tracing off),
``reusecheck-ndjson`` (folded and streamed to an NDJSON file, as ``--events FILE``),
``httpx`` (sync), ``httpx-async``, ``aiohttp``.

Workloads: ``seq`` (sequential keep-alive requests), ``conc16`` (16 workers, one
connection each), ``h2streams64`` (64 workers as streams on one HTTP/2 connection),
``download`` (one body of N bytes over HTTP/1.1: N is the byte count, the URL names it)
and ``download-h2`` (the same over HTTP/2).

Every client first sends a warm-up (connections dialled, caches warm) that is not
timed; the line carries ``rate`` (requests/s, or bytes/s for downloads), ``wall_s``,
``cpu_s`` (this process's CPU time over the timed part) and ``maxrss_kb``.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import ssl
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

CAFILE = os.environ.get("BENCH_CAFILE")
WIDTH = {"seq": 1, "conc16": 16, "h2streams64": 64, "download": 1, "download-h2": 1}


def _ssl() -> ssl.SSLContext:
    return ssl.create_default_context(cafile=CAFILE)


def _h2(workload: str) -> bool:
    return workload in ("h2streams64", "download-h2")


def _warmup(workload: str, n: int) -> int:
    """Untimed requests first: enough to open every connection the workload uses."""
    if workload.startswith("download"):
        return 0
    return max(WIDTH[workload] * 4, min(500, n // 10))


async def _timed_async(
    one: Callable[[], Awaitable[int]], workload: str, n: int
) -> tuple[float, float, int]:
    """(wall, cpu, bytes) for ``n`` calls of ``one`` spread over the workload's workers."""
    width = WIDTH[workload]

    async def worker(k: int) -> int:
        total = 0
        for _ in range(k):
            total += await one()
        return total

    for _ in range(_warmup(workload, n) // width):
        await asyncio.gather(*(one() for _ in range(width)))
    t0, c0 = time.perf_counter(), time.process_time()
    if width == 1:
        total = await worker(n)
    else:
        total = sum(await asyncio.gather(*(worker(n // width) for _ in range(width))))
    return time.perf_counter() - t0, time.process_time() - c0, total


# -- reusecheck -------------------------------------------------------------------------


async def reusecheck_run(client: str, workload: str, url: str, n: int) -> tuple[float, float, int]:
    """Requests through the runner's own per-request path (``Runner.fetch``: pool,
    body drained, ``request_done``), the path ``reusecheck probe`` takes."""
    from reusecheck.analysis.fold import Fold
    from reusecheck.net.request import Request
    from reusecheck.net.tls import TLSOptions
    from reusecheck.pool import PoolOptions
    from reusecheck.report.rowjson import request_fragment
    from reusecheck.scenarios.model import Plan
    from reusecheck.scenarios.runner import Runner
    from reusecheck.trace import FanOut, NDJSONWriter, NullSink, Sink, Tracer
    from reusecheck.trace.redact import redact_headers

    def folded() -> Fold:
        """What every CLI run feeds: the analysis's fold, each row encoded as it ends."""
        return Fold(on_row=request_fragment)

    stream = None
    sink: Sink
    if client == "reusecheck-null":
        sink = NullSink()
    elif client == "reusecheck-ndjson":
        path = os.environ.get("BENCH_EVENTS", "/tmp/reusecheck-bench-events.ndjson")
        stream = open(path, "w", encoding="utf-8")  # noqa: SIM115 - closed below
        sink = FanOut((folded(), NDJSONWriter(stream, redact=redact_headers)))
    else:
        sink = folded()
    http = "2" if _h2(workload) else "1.1"
    options = PoolOptions(tls=TLSOptions(cacert=CAFILE), http=http)
    runner = Runner(Plan(url, (), options), Tracer(sink))
    req = Request("GET", url)
    index = 0

    async def one() -> int:
        nonlocal index
        i = index
        index += 1
        await runner.fetch(req, i, "bench", "drain")
        return 0

    try:
        if workload.startswith("download"):
            t0, c0 = time.perf_counter(), time.process_time()
            resp = await runner.pool.round_trip(req, 0)
            total = await resp.read()
            return time.perf_counter() - t0, time.process_time() - c0, total
        return await _timed_async(one, workload, n)
    finally:
        await runner.pool.close()
        sink.close()
        if stream is not None:
            stream.close()


# -- httpx --------------------------------------------------------------------------------


def httpx_sync(workload: str, url: str, n: int) -> tuple[float, float, int]:
    import httpx

    verify: Any = _ssl() if url.startswith("https") else True
    with httpx.Client(verify=verify, http2=_h2(workload)) as c:
        if workload.startswith("download"):
            # Streamed and counted, as reusecheck counts: ``.content`` would join 100 MiB.
            t0, c0 = time.perf_counter(), time.process_time()
            total = 0
            with c.stream("GET", url) as r:
                for chunk in r.iter_raw():
                    total += len(chunk)
            return time.perf_counter() - t0, time.process_time() - c0, total
        for _ in range(_warmup(workload, n)):
            c.get(url).read()
        t0, c0 = time.perf_counter(), time.process_time()
        total = 0
        for _ in range(n):
            total += len(c.get(url).content)
        return time.perf_counter() - t0, time.process_time() - c0, total


async def httpx_async(workload: str, url: str, n: int) -> tuple[float, float, int]:
    import httpx

    limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
    verify: Any = _ssl() if url.startswith("https") else True
    async with httpx.AsyncClient(verify=verify, http2=_h2(workload), limits=limits) as c:
        if workload.startswith("download"):
            t0, c0 = time.perf_counter(), time.process_time()
            total = 0
            async with c.stream("GET", url) as r:
                async for chunk in r.aiter_raw():
                    total += len(chunk)
            return time.perf_counter() - t0, time.process_time() - c0, total

        async def one() -> int:
            return len((await c.get(url)).content)

        return await _timed_async(one, workload, n)


# -- aiohttp ------------------------------------------------------------------------------


async def aiohttp_run(workload: str, url: str, n: int) -> tuple[float, float, int]:
    import aiohttp

    conn = aiohttp.TCPConnector(limit=100, ssl=_ssl() if url.startswith("https") else False)
    async with aiohttp.ClientSession(connector=conn) as s:
        if workload.startswith("download"):
            t0, c0 = time.perf_counter(), time.process_time()
            total = 0
            async with s.get(url) as r:
                async for chunk in r.content.iter_any():
                    total += len(chunk)
            return time.perf_counter() - t0, time.process_time() - c0, total

        async def one() -> int:
            async with s.get(url) as r:
                return len(await r.read())

        return await _timed_async(one, workload, n)


def main() -> None:
    client, workload, url, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    if client.startswith("reusecheck"):
        wall, cpu, total = asyncio.run(reusecheck_run(client, workload, url, n))
    elif client == "httpx":
        wall, cpu, total = httpx_sync(workload, url, n)
    elif client == "httpx-async":
        wall, cpu, total = asyncio.run(httpx_async(workload, url, n))
    elif client == "aiohttp":
        wall, cpu, total = asyncio.run(aiohttp_run(workload, url, n))
    else:
        raise SystemExit(f"unknown client {client}")
    download = workload.startswith("download")
    if download and total != n:
        raise SystemExit(f"{client}: downloaded {total} bytes, expected {n}")
    line = {
        "client": client,
        "workload": workload,
        "rate": (total if download else n) / wall,
        "wall_s": wall,
        "cpu_s": cpu,
        "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    }
    print(json.dumps(line))


if __name__ == "__main__":
    main()
