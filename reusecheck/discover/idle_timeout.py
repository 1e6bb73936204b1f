"""The server's idle timeout: watch idle connections until the server closes them.

No bisection and no guessing: ``--samples`` fresh connections each carry one request and
then sit idle in their pools, whose own idle timeout is set beyond ``--max-wait`` so the
client never closes first.  The pool already watches idle connections through their
sockets and emits ``idle_closed`` with the idle time the moment the server closes one
(EOF, RST, or an HTTP/2 GOAWAY), so one pass gives the timeout to within the event
loop's latency, a millisecond or two on loopback.

The idle time counts from the moment the client put the connection idle (the end of the
response body), which is what a client's own idle timeout must stay below.  A server
whose timer starts at the end of the request rather than the response closes earlier
by the response's duration; with ``/`` that is well under the 50 ms resolution.
"""

from __future__ import annotations

import asyncio
import statistics
from collections import Counter
from typing import Final

from reusecheck.analysis.events import EventIndex, as_float, get
from reusecheck.analysis.requests import parse_error, parse_keep_alive
from reusecheck.analysis.server import CLOSE_AFTER_RESPONSE_S
from reusecheck.discover.model import IdleSample, IdleTimeoutResult, Status
from reusecheck.discover.session import Live, Session, Trail, Unreachable, is_open
from reusecheck.discover.settings import DiscoverSettings

NAME: Final = "idle-timeout"
# How far beyond --max-wait the pools' own idle timeout lies: the server must close first.
CLIENT_MARGIN_S: Final = 30.0


async def run(session: Session, trail: Trail) -> None:
    """Open the samples at once, each on a pool of its own, and watch them all."""
    s = session.settings
    live = session.live[NAME] = Live(f"idle timeout: 0/{s.samples} closed", 0.0, s.max_wait)
    started = session.tracer.now()
    answered = closed = 0

    def closed_one() -> None:
        nonlocal closed
        closed += 1
        live.text = f"idle timeout: {closed}/{s.samples} closed"

    async def sample() -> None:
        nonlocal answered
        pool = session.pool(idle_timeout=s.max_wait + CLIENT_MARGIN_S)
        try:
            try:
                got = await session.fetch(pool, trail, role="sample")
            finally:
                answered += 1
                if answered == s.samples:  # all idle now: the others may start
                    session.settled(NAME).set()
            if got.conn_id is None or got.error is not None:
                return
            conn = got.conn_id
            if not is_open(pool, conn):  # it closed with its response: nothing to watch
                closed_one()
                return
            ended = await session.watch.wait_for(
                lambda e: e.event == "conn_closed" and e.conn == conn, s.max_wait
            )
            if ended is not None:
                closed_one()
        finally:
            await pool.close()

    async def tick() -> None:
        while True:
            live.done = min(session.tracer.now() - started, s.max_wait)
            await asyncio.sleep(0.1)

    ticker = asyncio.get_running_loop().create_task(tick())
    try:
        results = await asyncio.gather(
            *(sample() for _ in range(s.samples)), return_exceptions=True
        )
    finally:
        ticker.cancel()
        await asyncio.gather(ticker, return_exceptions=True)
        live.finished = True
    errors = [r for r in results if isinstance(r, BaseException)]
    if errors:  # an unreachable target first: it names why the rest failed
        raise next((e for e in errors if isinstance(e, Unreachable)), errors[0])


def _sample(index: EventIndex, request: int) -> IdleSample:
    evs = index.by_request.get(request, [])
    done = next((e for e in reversed(evs) if e.event == "request_done"), None)
    error = parse_error(get(done, "error"))
    got = next((e for e in reversed(evs) if e.event == "got_conn"), None)
    conn = got.conn if got is not None else None
    put = next((e for e in reversed(evs) if e.event == "put_idle"), None)
    if conn is None or put is None:
        return IdleSample(request, conn, error=error)
    if get(put, "ok") is False:
        return IdleSample(request, conn, reason=get(put, "reason"), after_response=True)
    idle = index.conn_event(conn, "idle_closed")
    closed = index.conn_event(conn, "conn_closed", last=True)
    if idle is not None and get(idle, "closed_by") == "server":
        t = as_float(get(idle, "idle_time_s")) or 0.0
        return IdleSample(
            request,
            conn,
            idle_time_s=round(t, 6),
            reason=get(idle, "reason"),
            after_response=t < CLOSE_AFTER_RESPONSE_S,
        )
    end = closed.t if closed is not None else index.end_s
    if closed is not None and get(closed, "closed_by") == "server":
        t = end - put.t
        return IdleSample(
            request,
            conn,
            idle_time_s=round(t, 6),
            reason=get(closed, "reason"),
            after_response=t < CLOSE_AFTER_RESPONSE_S,
        )
    return IdleSample(request, conn, at_least_s=round(end - put.t, 6), error=error)


def result(trail: Trail, index: EventIndex, settings: DiscoverSettings) -> IdleTimeoutResult:
    """The samples, and the median and spread of those the server closed while idle."""
    samples = tuple(_sample(index, r) for r in trail.requests)
    protocols = Counter(
        get(e, "protocol")
        for r in trail.requests
        for e in index.by_request.get(r, [])
        if e.event == "got_conn"
    )
    protocol = protocols.most_common(1)[0][0] if protocols else None
    hint = next(
        (
            h
            for r in trail.requests
            for e in index.by_request.get(r, [])
            if e.event == "response_headers"
            and (h := parse_keep_alive(get(e, "keep_alive"))) is not None
            and h.timeout_s is not None
        ),
        None,
    )
    hint_s = hint.timeout_s if hint is not None else None
    measured = [
        s.idle_time_s for s in samples if s.idle_time_s is not None and not s.after_response
    ]
    waited = [s.at_least_s for s in samples if s.at_least_s is not None]
    status: Status
    median = low = high = at_least = delta = None
    if measured:
        status = "measured"
        median = round(statistics.median(measured), 3)
        low, high = round(min(measured), 3), round(max(measured), 3)
        delta = round(hint_s - median, 3) if hint_s is not None else None
    elif any(s.after_response for s in samples):
        status = "no-keepalive"
    elif waited:
        status = "at-least"
        at_least = round(min(waited), 3)
    else:
        status = "failed"
    error = trail.error
    if error is None and status == "failed":
        error = next((s.error for s in samples if s.error is not None), None)
    return IdleTimeoutResult(
        status=status,
        samples=samples,
        max_wait_s=settings.max_wait,
        protocol=protocol,
        median_s=median,
        min_s=low,
        max_s=high,
        at_least_s=at_least,
        hint_s=hint_s,
        hint_delta_s=delta,
        error=error,
    )
