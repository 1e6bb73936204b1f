"""HTTP/2 from discover's record: the server's SETTINGS and the streams one connection
really carried at once (discover/h2limits.py opens them)."""

from __future__ import annotations

from reusecheck.analysis.events import EventIndex, get
from reusecheck.analysis.h2 import h2_connection
from reusecheck.analysis.limits.model import (
    H2Result,
    Status,
    Trail,
)
from reusecheck.analysis.requests import parse_error


def _peak(intervals: list[tuple[float, float]]) -> int:
    """Most intervals open at one instant (an end at the same time as a start is first)."""
    points = sorted([(a, 1) for a, _ in intervals] + [(b, -1) for _, b in intervals])
    peak = now = 0
    for _, step in points:
        now += step
        peak = max(peak, now)
    return peak


def result(trail: Trail, index: EventIndex) -> H2Result:
    first = next((r for r in trail.requests if trail.roles.get(r) == "first"), None)
    evs = index.by_request.get(first, []) if first is not None else []
    got = next((e for e in reversed(evs) if e.event == "got_conn"), None)
    conn = got.conn if got is not None else None
    tls = index.conn_event(conn, "tls_done") if conn is not None else None
    protocol, alpn = get(got, "protocol"), get(tls, "alpn")
    if trail.skipped is not None:
        return H2Result(
            "not-applicable", protocol=protocol, alpn=alpn, note=trail.skipped, error=trail.error
        )
    if conn is None or protocol != "h2":
        done = next((e for e in reversed(evs) if e.event == "request_done"), None)
        error = trail.error or parse_error(get(done, "error"))
        return H2Result("failed", protocol=protocol, alpn=alpn, error=error)
    burst = [r for r in trail.requests if trail.roles.get(r) == "burst"]
    spans: dict[int, list[tuple[float, float]]] = {}
    answered = failed = refused = 0
    conns: set[int] = set()
    for r in burst:
        revs = index.by_request.get(r, [])
        refused += sum(
            1 for e in revs if e.event == "retry" and get(e, "reason") == "refused-stream"
        )
        done = next((e for e in reversed(revs) if e.event == "request_done"), None)
        error = parse_error(get(done, "error"))
        if error is not None and "REFUSED_STREAM" in error.message:
            refused += 1
        if done is None or done.conn is None or error is not None:
            failed += 1
            continue
        answered += 1
        conns.add(done.conn)
        wrote = next((e for e in reversed(revs) if e.event == "wrote_headers"), None)
        end = next((e for e in reversed(revs) if e.event == "body_done"), done)
        if wrote is not None:
            spans.setdefault(done.conn, []).append((wrote.t, end.t))
    settings = h2_connection(index, conn)
    goaways = [
        str(get(e, "error_code"))
        for c in {conn, *conns}
        for e in index.by_conn.get(c, [])
        if e.event == "h2_goaway"
    ]
    times = [e.t for r in burst for e in index.by_request.get(r, [])]
    status: Status = "measured" if burst else "failed"
    return H2Result(
        status=status,
        protocol=protocol,
        alpn=alpn,
        conn_id=conn,
        settings=settings,
        requested=len(burst),
        achieved=max((_peak(s) for s in spans.values()), default=0),
        answered=answered,
        refused=refused,
        failed=failed,
        connections=len(conns),
        goaway=goaways[0] if goaways else None,
        duration_s=round(max(times) - min(times), 6) if times else None,
        error=trail.error,
    )
