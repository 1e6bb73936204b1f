"""HTTP/2 from discover's record: the server's SETTINGS, the streams one connection
carried at once, and the streams the server really worked on at once
(discover/h2limits.py opens them).

What a server advertises in SETTINGS_MAX_CONCURRENT_STREAMS is what it lets a client
open, not what it works on: a front end may take 100 streams and hand them to 12
workers, queueing the rest.  Every stream of the burst is open together either way
(``achieved``); the difference shows in when the responses come.  A server working on
all of them answers them together: their first bytes arrive one after another without a
pause.  One working on N at once answers N, and starts a queued stream only when one of
those has finished, so the responses arrive in waves of N, each a service time after
the last: a response's first byte comes only after earlier streams' bodies ended.  The
largest wave is the streams worked on at once (``at_once``).

Which pause ends a wave follows from the server's own service time (``service_s``: the
lone request that opened the connection, from its HEADERS written to its first byte,
less a round trip): a queued stream waits about one service time for its turn, so half
of it, at least ``WAVE_PAUSE_S`` and two round trips (so that TCP's flights on a far
server are no waves).  The event loop's own stalls reach about 20 ms (45 ms with the CPU
oversubscribed, measured with the built-in server in the same process), so a server
answering faster than ``WAVE_PAUSE_S`` has nothing queued that could be told from them:
its burst is one wave, and nothing is reported as queued.
"""

from __future__ import annotations

from typing import Final

from reusecheck.analysis.events import EventIndex, get
from reusecheck.analysis.h2 import h2_connection
from reusecheck.analysis.limits.model import (
    H2Result,
    Status,
    Trail,
)
from reusecheck.analysis.requests import parse_error
from reusecheck.trace import Event

# The shortest pause between two responses' first bytes that ends a wave, and the
# shortest service time whose queue can be seen (see above).
WAVE_PAUSE_S: Final = 0.05


def waves(first_bytes: list[float], pause: float) -> list[int]:
    """The sizes of the waves the responses arrived in: their first-byte times, split
    where one came ``pause`` or more after the one before it."""
    sizes: list[int] = []
    last: float | None = None
    for t in sorted(first_bytes):
        if last is None or t - last >= pause:
            sizes.append(0)
        sizes[-1] += 1
        last = t
    return sizes


def _rtt_s(index: EventIndex, conn: int) -> float:
    """One round trip to the server: the TCP handshake (connect_start -> connect_done)."""
    start = index.conn_event(conn, "connect_start")
    done = index.conn_event(conn, "connect_done")
    return max(done.t - start.t, 0.0) if start is not None and done is not None else 0.0


def _service_s(index: EventIndex, evs: list[Event], conn: int) -> float | None:
    """The lone first request's time from its request written to its first byte, less a
    round trip: how long the server works on one request."""
    wrote = next((e for e in reversed(evs) if e.event == "wrote_request"), None)
    byte = next((e for e in reversed(evs) if e.event == "got_first_byte"), None)
    if wrote is None or byte is None or byte.t < wrote.t:
        return None
    return round(max(byte.t - wrote.t - _rtt_s(index, conn), 0.0), 6)


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
    first_bytes: dict[int, list[float]] = {}
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
        byte = next((e for e in reversed(revs) if e.event == "got_first_byte"), None)
        if byte is not None and byte.conn == done.conn:
            first_bytes.setdefault(done.conn, []).append(byte.t)
    settings = h2_connection(index, conn)
    # The connection that answered most of the burst (all of it, unless a GOAWAY cut it).
    main = max(first_bytes, key=lambda c: len(first_bytes[c]), default=None)
    service = _service_s(index, evs, conn)
    pause = sizes = None
    if main is not None:
        arrivals = first_bytes[main]
        pause = round(max(WAVE_PAUSE_S, 2 * _rtt_s(index, main), (service or 0.0) / 2), 6)
        quick = service is not None and service < WAVE_PAUSE_S
        sizes = [len(arrivals)] if quick else waves(arrivals, pause)
    at_once = max(sizes) if sizes and sum(sizes) >= 2 else None
    advertised = settings.max_concurrent_streams if settings is not None else None
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
        advertised=advertised,
        at_once=at_once,
        wave_sizes=tuple(sizes or ()),
        wave_pause_s=pause,
        service_s=service,
        queued=at_once is not None and len(sizes or ()) >= 2 and at_once < len(burst),
    )
