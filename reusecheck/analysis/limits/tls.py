"""TLS handshakes in a record, and resumption from discover's record (full versus resumed
handshake times; discover/tls_resume.py makes the connections).

``handshakes`` works on any record, a probe's too: a session counts as offered when the
dial's ``tls_start.session_offered`` says so.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence

from reusecheck.analysis.events import EventIndex, get
from reusecheck.analysis.limits.model import (
    Status,
    TlsHandshake,
    TlsResult,
    Trail,
)
from reusecheck.analysis.requests import parse_error
from reusecheck.trace import Event


def handshakes(events: Sequence[Event]) -> list[TlsHandshake]:
    """Every completed TLS handshake in the record, in dial order."""
    starts: dict[int, Event] = {}
    found: list[TlsHandshake] = []
    for e in events:
        if e.conn is None:
            continue
        if e.event == "tls_start":
            starts[e.conn] = e
        elif e.event == "tls_done" and e.conn in starts and get(e, "error") is None:
            start = starts[e.conn]
            offered = get(start, "session_offered")
            found.append(
                TlsHandshake(
                    conn_id=e.conn,
                    offered=bool(offered),
                    resumed=bool(get(e, "resumed")),
                    handshake_s=round(e.t - start.t, 6),
                    version=get(e, "version"),
                )
            )
    return found


def result(trail: Trail, index: EventIndex) -> TlsResult:
    if trail.skipped is not None:
        return TlsResult("not-applicable", note=trail.skipped, error=trail.error)
    mine = set(trail.requests)
    conns = {e.conn for e in index.events if e.request in mine and e.conn is not None}
    shakes = tuple(h for h in handshakes(index.events) if h.conn_id in conns)
    offered = [h for h in shakes if h.offered]
    full = [h.handshake_s for h in shakes if not h.resumed and h.handshake_s is not None]
    again = [h.handshake_s for h in shakes if h.resumed and h.handshake_s is not None]
    status: Status = "measured" if offered else "failed"
    error = trail.error
    if status == "failed" and error is None:
        done = next(
            (e for e in index.named("request_done") if e.request in mine and get(e, "error")),
            None,
        )
        error = parse_error(get(done, "error"))
    return TlsResult(
        status=status,
        version=shakes[0].version if shakes else None,
        resumed=any(h.resumed for h in offered) if offered else None,
        full_handshake_s=full[0] if full else None,
        resumed_handshake_s=round(statistics.median(again), 6) if again else None,
        handshakes=shakes,
        error=error,
    )
