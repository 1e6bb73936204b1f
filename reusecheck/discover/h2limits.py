"""HTTP/2: the server's SETTINGS, and how many streams one connection really carries.

One request opens the connection and brings the server's SETTINGS (``h2_settings``).
Then as many streams as it announced in ``SETTINGS_MAX_CONCURRENT_STREAMS`` (at most
``--max-streams``; 100, Go's assumption, when it announced none) are opened at once on
that connection.  The pool runs with ``strict_max_streams`` so it never spills onto a
second connection at the announced limit: what one connection achieves is what is
measured.  A server that refuses streams below its announced limit answers with
``RST_STREAM REFUSED_STREAM`` (each refused stream is retried by the pool, and counted
here); one that ends the connection early sends GOAWAY.

``achieved`` is the most streams that were open together on one connection and were
answered: every HEADERS frame is written before any response is read, so a server that
honours its announcement achieves all of them.
"""

from __future__ import annotations

import asyncio
from typing import Final

from reusecheck.analysis.events import EventIndex, get
from reusecheck.analysis.h2 import h2_connection
from reusecheck.analysis.requests import parse_error
from reusecheck.discover.model import H2Result, Status
from reusecheck.discover.session import Live, Session, Trail, Unreachable
from reusecheck.net.http2 import INITIAL_MAX_STREAMS, HTTP2Connection

NAME: Final = "h2"


async def run(session: Session, trail: Trail) -> None:
    s = session.settings
    if s.http == "1.1":
        trail.skipped = "--http1 offers only HTTP/1.1"
        return
    if session.scheme == "http" and s.http != "h2c":
        trail.skipped = "http:// speaks HTTP/2 only with --h2c (prior knowledge)"
        return
    live = session.live[NAME] = Live("h2: SETTINGS")
    pool = session.pool(strict_max_streams=True)
    try:
        first = await session.fetch(pool, trail, role="first")
        conn = first.conn
        if first.error is not None or conn is None:
            return
        if not isinstance(conn, HTTP2Connection):
            trail.skipped = "the server did not negotiate HTTP/2"
            return
        # conn.max_streams is the server's SETTINGS value once received (they precede
        # any response), else the 100 assumed until then.
        n = min(conn.max_streams or INITIAL_MAX_STREAMS, s.max_streams)
        live.text = f"h2: {n} streams at once"
        results = await asyncio.gather(
            *(session.fetch(pool, trail, role="burst") for _ in range(n)),
            return_exceptions=True,
        )
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:  # an unreachable target first: it names why the rest failed
            raise next((e for e in errors if isinstance(e, Unreachable)), errors[0])
    finally:
        live.finished = True
        await pool.close()


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
