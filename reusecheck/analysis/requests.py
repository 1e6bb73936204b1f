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

from reusecheck.analysis.events import Attempt, EventIndex, as_float, as_int, as_str, get
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


def _span(attempt: Attempt, start: str, done: str) -> float | None:
    a, b = attempt.first(start), attempt.last(done)
    if a is None or b is None:
        return None
    return max(0.0, b.t - a.t)


def _stream_id(attempt: Attempt) -> int | None:
    # HTTP/2 only: wrote_headers carries the stream id the request went out on.
    for e in attempt.events:
        if e.event == "wrote_headers":
            sid = as_int(e.fields.get("stream_id"))
            if sid is not None:
                return sid
    return None


def _released(attempt: Attempt, got: Event | None) -> Event | None:
    """When the connection was free of the request: put back (HTTP/2: the stream
    ended) or closed, else the request done, whichever came first after got_conn.

    An HTTP/1.1 body never read keeps its connection past request_done: the pool puts
    it back (refused, ``body-not-drained``) only when it closes, at a fresh pool or at
    the end of the run.  That put is the release.
    """
    if got is None:
        return None
    h2 = get(got, "protocol") == "h2"
    after = attempt.events[attempt.events.index(got) + 1 :]
    done: Event | None = None
    for e in after:
        if e.conn not in (got.conn, None):
            continue
        if e.event in ("put_idle", "conn_closed"):
            return e
        if e.event == "request_done" and done is None:
            done = e
            if h2:
                break
    return done or (after[-1] if after else got)


def request_row(index: int, events: Sequence[Event], attempts: Sequence[Attempt]) -> RequestRow:
    final = attempts[-1]
    started = next((e.t for e in events if e.event == "get_conn"), events[0].t)
    done = next((e for e in reversed(events) if e.event == "request_done"), None)
    get_conn = next((e for e in events if e.event == "get_conn"), None)
    got = final.first("got_conn")
    resp = final.first("response_headers")
    released = _released(final, got)
    written = final.first("wrote_request") or final.first("wrote_headers")
    first_byte = final.first("got_first_byte")
    wait = None
    if written is not None and first_byte is not None:
        wait = max(0.0, first_byte.t - written.t)
    # A dial this request started may have gone to the idle list while another request
    # handed it a connection (Go's Transport does the same): then it paid no dial.
    own_dial = got is None or any(
        e.conn == got.conn for e in final.events if e.event == "connect_start"
    )
    timings = Timings(
        dns=_span(final, "dns_start", "dns_done") if own_dial else None,
        connect=_span(final, "connect_start", "connect_done") if own_dial else None,
        tls=_span(final, "tls_start", "tls_done") if own_dial else None,
        wait=wait,
        total=max(0.0, done.t - started) if done is not None else None,
    )
    conn_id = got.conn if got is not None else (done.conn if done is not None else None)
    retried = bool(get(done, "retried", False)) or len(attempts) > 1
    status = as_int(get(done, "status")) if done is not None else None
    if status is None:
        status = as_int(get(resp, "status"))
    return RequestRow(
        index=index,
        phase=as_str(get(done, "phase")),
        method=as_str(get(get_conn, "method")),
        url=as_str(get(get_conn, "url")),
        status=status,
        protocol=as_str(get(got, "protocol")),
        conn_id=conn_id,
        stream_id=_stream_id(final),
        reused=bool(get(got, "reused", False)),
        was_idle=bool(get(got, "was_idle", False)),
        idle_time_s=as_float(get(got, "idle_time_s")) or 0.0,
        retried=retried,
        timings_s=timings,
        response_connection=as_str(get(resp, "connection")),
        keep_alive=parse_keep_alive(as_str(get(resp, "keep_alive"))),
        error=parse_error(get(done, "error")),
        http_version=as_str(get(resp, "http_version")),
        started_at_s=started,
        ended_at_s=done.t if done is not None else events[-1].t,
        got_conn_at_s=got.t if got is not None else None,
        released_at_s=released.t if released is not None else None,
        body_head=as_str(get(final.first("body_done"), "body_head")),
    )


def request_rows(index: EventIndex) -> tuple[RequestRow, ...]:
    return tuple(
        request_row(r, index.by_request[r], index.attempts[r]) for r in sorted(index.by_request)
    )


def carried_by_conn(index: EventIndex) -> dict[int, list[int]]:
    """Connection id -> request indexes it carried, in order.

    An attempt that ended in ``retry`` did not carry its request: the connection failed
    before any response byte (a stale connection).
    """
    carried: dict[int, list[int]] = {}
    for r in sorted(index.attempts):
        for attempt in index.attempts[r]:
            if attempt.retry is not None:
                continue
            got = attempt.first("got_conn")
            if got is not None and got.conn is not None:
                carried.setdefault(got.conn, []).append(r)
    return carried


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
