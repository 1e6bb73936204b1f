"""The server's idle timeout from discover's record: each watched connection's idle time at
the server's close, their median and spread (discover/idle_timeout.py watches them).

A server with a timer per connection closes every sample at one idle time, to within a
few milliseconds.  One that closes idle connections from a periodic tick closes them
anywhere in a window as wide as the tick, and the staggered samples show it: a spread
of ``PERIODIC_SPREAD_S`` or more is reported as that window, and its minimum, not the
median, is the idle timeout a client must stay below.
"""

from __future__ import annotations

import statistics
from collections import Counter
from typing import Final

from reusecheck.analysis.events import EventIndex, as_float, get
from reusecheck.analysis.limits.model import (
    IdleSample,
    IdleTimeoutResult,
    Status,
    Trail,
)
from reusecheck.analysis.requests import parse_error, parse_keep_alive
from reusecheck.analysis.server import CLOSE_AFTER_RESPONSE_S

# Closes spread over this much or more are a window (a periodic closer), not one value:
# far above the few milliseconds a timer per connection scatters on loopback, and well
# below the tick of a reaper (a second, usually), whose window K samples spread over at
# least (K-1)/K of it.
PERIODIC_SPREAD_S: Final = 0.1


def _sample(index: EventIndex, request: int) -> IdleSample:
    evs = index.by_request.get(request, [])
    done = next((e for e in reversed(evs) if e.event == "request_done"), None)
    error = parse_error(get(done, "error"))
    got = next((e for e in reversed(evs) if e.event == "got_conn"), None)
    conn = got.conn if got is not None else None
    put = next((e for e in reversed(evs) if e.event == "put_idle"), None)
    if conn is None or put is None:
        return IdleSample(request, conn, error=error)
    idle_at = round(put.t, 6)
    if get(put, "ok") is False:
        return IdleSample(
            request, conn, reason=get(put, "reason"), after_response=True, idle_at_s=idle_at
        )
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
            idle_at_s=idle_at,
            closed_at_s=round(idle.t, 6),
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
            idle_at_s=idle_at,
            closed_at_s=round(end, 6),
        )
    return IdleSample(
        request, conn, at_least_s=round(end - put.t, 6), error=error, idle_at_s=idle_at
    )


def result(trail: Trail, index: EventIndex, max_wait: float) -> IdleTimeoutResult:
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
    median = low = high = at_least = delta = timeout = None
    periodic = False
    if measured:
        status = "measured"
        median = round(statistics.median(measured), 3)
        low, high = round(min(measured), 3), round(max(measured), 3)
        periodic = max(measured) - min(measured) >= PERIODIC_SPREAD_S
        timeout = low if periodic else median
        delta = round(hint_s - timeout, 3) if hint_s is not None else None
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
    went_idle = [s.idle_at_s for s in samples if s.idle_at_s is not None]
    stagger = round(max(went_idle) - min(went_idle), 3) if went_idle else None
    return IdleTimeoutResult(
        status=status,
        samples=samples,
        max_wait_s=max_wait,
        protocol=protocol,
        median_s=median,
        min_s=low,
        max_s=high,
        at_least_s=at_least,
        hint_s=hint_s,
        hint_delta_s=delta,
        error=error,
        periodic=periodic,
        timeout_s=timeout,
        stagger_s=stagger,
    )
