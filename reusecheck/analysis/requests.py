"""Per-request rows, and the request intervals concurrency is computed from.

Timings follow Go's httptrace attribution: a phase belongs to the request whose index
its events carry (a dial started for one request may end up serving another, as in Go's
Transport), and only the final attempt of a retried request is timed, except ``total``,
which is what the caller waited: first get_conn to request_done.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Sequence

from reusecheck.analysis.events import as_float, as_int, as_str
from reusecheck.analysis.model import KeepAliveHint, RequestRow, RunError, Timings
from reusecheck.trace import Event


def parse_keep_alive(value: str | None) -> KeepAliveHint | None:
    """``Keep-Alive: timeout=5, max=100`` (RFC 2068 section 19.7.1.1), tolerant of junk.

    Only finite, non-negative numbers count: ``timeout=inf`` or ``nan`` is junk (and
    would make the JSON report invalid), as is a negative one.
    """
    if not value:
        return None
    timeout: float | None = None
    max_: int | None = None
    for part in value.split(","):
        name, _, raw = part.strip().partition("=")
        name = name.strip().lower()
        raw = raw.strip().strip('"')
        try:
            if name == "timeout":
                seconds = float(raw)
                if math.isfinite(seconds) and seconds >= 0:
                    timeout = seconds
            elif name == "max":
                count = int(raw)
                if count >= 0:
                    max_ = count
        except ValueError:
            continue
    if timeout is None and max_ is None:
        return None
    return KeepAliveHint(timeout, max_)


def connection_tokens(value: object) -> set[str]:
    """The tokens of a ``Connection`` header value, lower-cased (``close``, ``keep-alive``)."""
    if not isinstance(value, str):
        return set()
    return {t.strip().lower() for t in value.split(",") if t.strip()}


def parse_error(value: object) -> RunError | None:
    if value is None:
        return None
    if isinstance(value, dict):
        kind = value.get("kind")
        message = value.get("message")
        return RunError(str(kind or "error"), str(message or kind or "error"))
    return RunError("error", str(value))


def request_row(index: int, events: Sequence[Event]) -> RequestRow:
    """The row of one request from its events, in one pass (it runs once a request).

    Only the final attempt (the events after the last ``retry``) is timed and read,
    except ``total``, from the first get_conn.  The connection is free of the request
    (``released_at_s``) at the first put_idle or conn_closed of its connection after
    got_conn, else at request_done (HTTP/2: whichever comes first).
    """
    started = events[0].t
    get_conn: Event | None = None
    done: Event | None = None
    attempts = 1
    # the final attempt, from its start (reset at each retry)
    got = resp = written = wrote_headers = first_byte = body = released = None
    done_after_got: Event | None = None
    stream_id: int | None = None
    dials: set[int] = set()
    dns_start = dns_done = connect_start = connect_done = tls_start = tls_done = None
    hop_start = hop_done = None  # the proxy hop: proxy_tls and proxy_connect spans
    h2 = False
    for e in events:
        name = e.event
        if name == "retry":
            attempts += 1
            got = resp = written = wrote_headers = first_byte = body = released = None
            done_after_got = None
            stream_id = None
            dials = set()
            dns_start = dns_done = connect_start = connect_done = tls_start = tls_done = None
            hop_start = hop_done = None
            h2 = False
            continue
        if name == "get_conn":
            if get_conn is None:
                get_conn = e
                started = e.t
        elif name == "request_done":
            done = e
        if got is not None and released is None and (e.conn is None or e.conn == got.conn):
            if name in ("put_idle", "conn_closed") and (not h2 or done_after_got is None):
                released = e
            elif name == "request_done" and done_after_got is None:
                done_after_got = e
        if name == "got_conn":
            if got is None:
                got = e
                h2 = e.fields.get("protocol") == "h2"
        elif name == "response_headers":
            if resp is None:
                resp = e
        elif name == "wrote_request":
            if written is None:
                written = e
        elif name == "wrote_headers":
            if wrote_headers is None:
                wrote_headers = e
            if stream_id is None:
                stream_id = as_int(e.fields.get("stream_id"))
        elif name == "got_first_byte":
            if first_byte is None:
                first_byte = e
        elif name == "body_done":
            if body is None:
                body = e
        elif name == "connect_start":
            if e.conn is not None:
                dials.add(e.conn)
            if connect_start is None:
                connect_start = e
        elif name == "connect_done":
            connect_done = e
        elif name == "dns_start":
            if dns_start is None:
                dns_start = e
        elif name == "dns_done":
            dns_done = e
        elif name == "tls_start":
            if tls_start is None:
                tls_start = e
        elif name == "tls_done":
            tls_done = e
        elif name in ("proxy_tls_start", "proxy_connect_start"):
            if hop_start is None:
                hop_start = e
        elif name in ("proxy_tls_done", "proxy_connect_done"):
            hop_done = e
    if got is not None and released is None:
        released = done_after_got
        if released is None:
            # Nothing ended it: its last event (the record was cut), or got_conn itself.
            tail = events[-1]
            released = tail if tail is not got else got
    written = written or wrote_headers
    wait = None
    if written is not None and first_byte is not None:
        wait = max(0.0, first_byte.t - written.t)
    # A dial this request started may have gone to the idle list while another request
    # handed it a connection (Go's Transport does the same): then it paid no dial.
    own_dial = got is None or got.conn in dials
    timings = Timings(
        dns=_span(dns_start, dns_done) if own_dial else None,
        connect=_span(connect_start, connect_done) if own_dial else None,
        tls=_span(tls_start, tls_done) if own_dial else None,
        proxy=_span(hop_start, hop_done) if own_dial else None,
        wait=wait,
        total=max(0.0, done.t - started) if done is not None else None,
    )
    f_got = got.fields if got is not None else _NONE
    f_done = done.fields if done is not None else _NONE
    f_resp = resp.fields if resp is not None else _NONE
    conn_id = got.conn if got is not None else (done.conn if done is not None else None)
    status = as_int(f_done.get("status")) if done is not None else None
    if status is None:
        status = as_int(f_resp.get("status"))
    return RequestRow(
        index=index,
        phase=as_str(f_done.get("phase")),
        method=as_str(get_conn.fields.get("method")) if get_conn is not None else None,
        url=as_str(get_conn.fields.get("url")) if get_conn is not None else None,
        status=status,
        protocol=as_str(f_got.get("protocol")),
        conn_id=conn_id,
        stream_id=stream_id,
        reused=bool(f_got.get("reused", False)),
        was_idle=bool(f_got.get("was_idle", False)),
        idle_time_s=as_float(f_got.get("idle_time_s")) or 0.0,
        retried=bool(f_done.get("retried", False)) or attempts > 1,
        timings_s=timings,
        response_connection=as_str(f_resp.get("connection")),
        keep_alive=parse_keep_alive(as_str(f_resp.get("keep_alive"))),
        error=parse_error(f_done.get("error")),
        http_version=as_str(f_resp.get("http_version")),
        started_at_s=started,
        ended_at_s=done.t if done is not None else events[-1].t,
        got_conn_at_s=got.t if got is not None else None,
        released_at_s=released.t if released is not None else None,
        body_head=as_str(body.fields.get("body_head")) if body is not None else None,
        not_retried=as_str(f_done.get("not_retried")),
        redirected_from=as_int(f_done.get("redirected_from")),
    )


_NONE: dict[str, object] = {}


def _span(a: Event | None, b: Event | None) -> float | None:
    if a is None or b is None:
        return None
    return max(0.0, b.t - a.t)


def held_until(row: RequestRow) -> float | None:
    """Until when the request kept a connection busy: its release (past request_done
    when an unread body pinned it), else its end; None: never ended."""
    return row.released_at_s if row.released_at_s is not None else row.ended_at_s


def pinned(row: RequestRow) -> bool:
    """Done, but its connection was released only later: a body never read."""
    return (
        row.ended_at_s is not None
        and row.released_at_s is not None
        and row.released_at_s > row.ended_at_s
    )


class InFlight:
    """How many requests wanted or held a connection at a time: from get_conn (waiting
    for one counts) until the connection was free of them (``held_until``)."""

    def __init__(self, rows: Iterable[RequestRow]) -> None:
        rows = list(rows)
        self._starts = sorted(r.started_at_s for r in rows)
        self._ends = sorted(t for t in map(held_until, rows) if t is not None)
        self._pinned = [(r.ended_at_s or 0.0, r.released_at_s or 0.0) for r in rows if pinned(r)]

    def at(self, t: float) -> int:
        # A request released by t also started by t, so the two counts subtract.
        return bisect.bisect_right(self._starts, t) - bisect.bisect_right(self._ends, t)

    def pinned_at(self, t: float) -> int:
        """Of those, the requests already done whose unread body still held the connection."""
        return sum(1 for done, released in self._pinned if done <= t < released)


Span = tuple[float, float | None]  # start, end (None: never ended)


def _points(spans: Iterable[Span]) -> list[tuple[float, int]]:
    points: list[tuple[float, int]] = []
    for start, end in spans:
        points.append((start, 1))
        if end is not None:
            points.append((end, -1))
    points.sort(key=lambda p: (p[0], p[1]))  # ends before starts at the same instant
    return points


def peak_overlap(spans: Iterable[Span]) -> int:
    """Most spans open at once; one ending at t does not overlap one starting at t."""
    peak = current = 0
    for _, delta in _points(spans):
        current += delta
        peak = max(peak, current)
    return peak


def peak_concurrency(rows: Iterable[RequestRow]) -> int:
    """Most requests in flight at once."""
    return peak_overlap((r.started_at_s, r.ended_at_s) for r in rows)


def stream_span(row: RequestRow) -> Span | None:
    """The request's time on its connection (see ``RequestRow.got_conn_at_s``)."""
    if row.got_conn_at_s is None:
        return None
    end = row.released_at_s if row.released_at_s is not None else row.ended_at_s
    return row.got_conn_at_s, end


def peak_streams(rows: Iterable[RequestRow]) -> int:
    """Most of these requests on their connection at the same time."""
    return peak_overlap(s for s in map(stream_span, rows) if s is not None)


def at_peak(rows: Sequence[RequestRow]) -> list[RequestRow]:
    """The requests in flight at the first moment the most of them were."""
    peak = current = 0
    when: float | None = None
    for t, delta in _points((r.started_at_s, r.ended_at_s) for r in rows):
        current += delta
        if current > peak:
            peak, when = current, t
    if when is None:
        return []
    return [
        r for r in rows if r.started_at_s <= when and (r.ended_at_s is None or r.ended_at_s > when)
    ]
