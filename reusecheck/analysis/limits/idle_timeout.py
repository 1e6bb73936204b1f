"""The server's idle timeout from discover's record: each watched connection's idle time at
the server's close, their median and spread (discover/idle_timeout.py watches them)."""

from __future__ import annotations

import statistics
from collections import Counter

from reusecheck.analysis.events import EventIndex, as_float, get
from reusecheck.analysis.limits.model import (
    IdleSample,
    IdleTimeoutResult,
    Status,
    Trail,
)
from reusecheck.analysis.requests import parse_error, parse_keep_alive
from reusecheck.analysis.server import CLOSE_AFTER_RESPONSE_S


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
        max_wait_s=max_wait,
        protocol=protocol,
        median_s=median,
        min_s=low,
        max_s=high,
        at_least_s=at_least,
        hint_s=hint_s,
        hint_delta_s=delta,
        error=error,
    )
