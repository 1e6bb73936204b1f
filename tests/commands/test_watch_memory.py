"""watch keeps one pool for hours, so nothing may stay behind per request: a closed
connection must become garbage once its timers have fired.  Driven as watch drives it
(cycles on one pool, ``Runner.run(keep_pool=True)``), then every connection object
still alive is counted."""

from __future__ import annotations

import asyncio
import gc

from reusecheck.net.dial import Timeouts
from reusecheck.net.http1 import HTTP1Connection
from reusecheck.pool import PoolOptions
from reusecheck.scenarios.model import probe_plan
from reusecheck.scenarios.runner import Runner
from reusecheck.server import ServerConfig, ServerThread
from reusecheck.trace import NullSink, Tracer

QUICK = Timeouts(connect=0.3, tls=0.3, first_byte=0.3, body=0.3)


async def _alive_after(url: str, cycles: int) -> int:
    """HTTP/1.1 connections still reachable after ``cycles`` cycles of 2 requests and a
    pause past every timer a connection arms (its waits are bounded by QUICK)."""
    plan = probe_plan(url, requests=2, idle=0, concurrency=0, pool=PoolOptions(timeouts=QUICK))
    runner = Runner(plan, Tracer(NullSink()))
    for _ in range(cycles):
        assert await runner.run(5.0, keep_pool=True) is None
    await asyncio.sleep(0.5)
    gc.collect()
    alive = sum(1 for o in gc.get_objects() if isinstance(o, HTTP1Connection))
    await runner.pool.close()
    return alive


def test_a_server_that_keeps_connections_leaves_one_behind() -> None:
    with ServerThread(ServerConfig()) as srv:
        assert asyncio.run(_alive_after(srv.url, 50)) == 1


def test_a_server_that_closes_every_connection_leaves_none_behind() -> None:
    # A request its own dial answered left its future queued until a connection was put
    # back idle, which never happens here: each held its connection (and 32 KiB buffer).
    with ServerThread(ServerConfig(close_always=True)) as srv:
        assert asyncio.run(_alive_after(srv.url, 50)) <= 2
