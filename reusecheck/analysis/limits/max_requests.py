"""Requests per connection from discover's record: how many one connection carried before
the server ended it, and how it said so (discover/max_requests.py sends them)."""

from __future__ import annotations

from dataclasses import replace

from reusecheck.analysis.events import EventIndex, as_float, get
from reusecheck.analysis.limits.model import (
    MaxRequestsResult,
    Signal,
    Status,
    Trail,
)
from reusecheck.analysis.requests import connection_tokens, parse_error, parse_keep_alive
from reusecheck.analysis.server import CLOSE_AFTER_RESPONSE_S


def _signal(index: EventIndex, conn: int, last: dict[str, object]) -> tuple[Signal | None, float]:
    """How the server ended ``conn`` (None: it did not), and the idle time of an idle close."""
    closed = index.conn_event(conn, "conn_closed", last=True)
    idle = index.conn_event(conn, "idle_closed")
    idle_s = as_float(get(idle, "idle_time_s")) or 0.0
    if idle is not None and get(idle, "closed_by") == "server" and idle_s >= CLOSE_AFTER_RESPONSE_S:
        return "idle-timeout", idle_s
    if index.conn_event(conn, "h2_goaway") is not None:
        return "goaway", 0.0
    tokens = connection_tokens(last.get("connection"))
    if "close" in tokens:
        return "connection-close-header", 0.0
    if last.get("http_version") == "1.0" and "keep-alive" not in tokens:
        return "http10", 0.0
    if closed is not None and get(closed, "closed_by") == "server":
        return "silent-close", 0.0
    return None, 0.0


def result(trail: Trail, index: EventIndex, limit: int, rate: float | None) -> MaxRequestsResult:
    mine = set(trail.requests)
    heads = [e for e in index.named("response_headers") if e.request in mine]
    base = MaxRequestsResult(
        status="failed",
        limit=limit,
        rate=rate,
        requests_sent=len(trail.requests),
    )
    if not heads or heads[0].conn is None:
        first_done = next(
            (e for e in index.named("request_done") if e.request in mine and get(e, "error")),
            None,
        )
        return replace(base, error=trail.error or parse_error(get(first_done, "error")))
    conn = heads[0].conn
    answered = [e for e in heads if e.conn == conn]
    count = len(answered)
    got = index.conn_event(conn, "got_conn")
    hint = parse_keep_alive(get(answered[0], "keep_alive"))
    hint_max = hint.max if hint is not None else None
    signal, idle_s = _signal(index, conn, answered[-1].fields)
    status: Status
    if signal is None or signal == "idle-timeout":
        status = "at-least"
    elif count == 1:
        status = "no-keepalive"
    else:
        status = "measured"
    measured = count if status in ("measured", "no-keepalive") else None
    times = [e.t for e in index.events if e.request in mine]
    return MaxRequestsResult(
        status=status,
        limit=limit,
        rate=rate,
        protocol=get(got, "protocol"),
        conn_id=conn,
        count=measured,
        at_least=count if status == "at-least" else None,
        signal=signal,
        requests_sent=len(trail.requests),
        duration_s=round(max(times) - min(times), 6) if times else None,
        idle_before_close_s=round(idle_s, 6) if signal == "idle-timeout" else None,
        hint_max=hint_max,
        hint_delta=hint_max - measured if hint_max is not None and measured is not None else None,
        error=trail.error,
    )
