"""What each finished request leaves in the facts, and the sweeps over the requests'
intervals: in flight at once (overall, per pool scope, HTTP/2 per phase), streams per
connection, and what was in flight when each connection was dialled.

A request's (get_conn, request_done) interval enters the sweeps when it is done; its
interval on its connection (got_conn to release) when its row is final.  The sweeps
replay them below the earliest start of a request not yet done (``Requests.earliest``)
or, per connection, below the earliest got_conn not yet final on it.
"""

from __future__ import annotations

import heapq
from array import array
from typing import Any

from reusecheck.analysis.fold.conns import Conns
from reusecheck.analysis.fold.facts import ConnFacts, Counted, NotRetried, RunFacts, Spread
from reusecheck.analysis.fold.requests import Open
from reusecheck.analysis.fold.scopes import Scopes
from reusecheck.analysis.fold.sweep import Peak, Sweep
from reusecheck.analysis.model import RequestRow
from reusecheck.analysis.pools import Scope
from reusecheck.analysis.status import ERROR_STATUS, cause, said, server_header, status_class
from reusecheck.trace import Event

H2Item = tuple[int, int, str | None]  # request index, connection, phase
_NO_STREAMS = "SETTINGS_MAX_CONCURRENT_STREAMS 0"


def _server(events: list[Event]) -> str | None:
    for e in reversed(events):
        if e.event == "response_headers":
            return server_header(e.fields.get("headers"))
    return None


def spread_of(items: list[Any]) -> Spread:
    busy = sorted(items)
    return Spread(
        requests=tuple(i for i, _, _ in busy), conns=tuple(sorted({c for _, c, _ in busy}))
    )


class StreamPeak:
    """Streams at once on one connection, with what is not final on it yet."""

    __slots__ = ("peak", "waiting")

    def __init__(self) -> None:
        self.peak = Peak()
        self.waiting: list[tuple[float, int]] = []  # (got_conn time, request): a heap


class RowFacts:
    def __init__(self, facts: RunFacts, conns: Conns, scopes: Scopes) -> None:
        self.facts = facts
        self._conns = conns
        self._scopes = scopes
        self.load = Load()  # requests in flight: overall, per scope and pool, HTTP/2
        self._active: dict[int, int] = {}  # h2 streams held per connection (shared sweep)
        self.shared = Sweep(self._share_start, self._share_end, self._share_query)
        self.streams: dict[int, StreamPeak] = {}
        self._open: dict[int, Open] = {}  # set by the fold: the requests not final

    # -- as the events arrive -------------------------------------------------------------

    def dialled(self, conn: int, t: float) -> None:
        """A connection's first dial: what was in flight then, looked at once known."""
        self.load.sweep.query(t, conn)
        self.shared.query(t, conn)

    def got(self, conn: int, t: float, request: int) -> None:
        sp = self.streams.get(conn)
        if sp is None:
            sp = self.streams[conn] = StreamPeak()
        heapq.heappush(sp.waiting, (t, request))

    def software(self, e: Event) -> None:
        self.facts.software = server_header(e.fields.get("headers"))

    # -- a request done: its interval in flight -------------------------------------------

    def started(self, row: RequestRow, scope: Scope) -> None:
        h2: H2Item | None = None
        if row.protocol == "h2" and row.conn_id is not None:
            h2 = (row.index, row.conn_id, row.phase)
        self.load.sweep.interval(row.started_at_s, row.ended_at_s, (scope, h2))

    def advance(self, watermark: float) -> None:
        self.load.sweep.advance(watermark)
        self.shared.advance(watermark)

    # -- a request final: its row's facts --------------------------------------------------

    def final(self, row: RequestRow, req: Open) -> None:
        f = self.facts
        i = row.index
        f.requests += 1
        f.reused += row.reused
        f.retried += row.retried
        if row.error is not None:
            f.failed += 1
            if _NO_STREAMS in row.error.message:
                f.no_streams.append(i)
            if row.not_retried is not None:
                f.not_retried.append(
                    NotRetried(i, row.method, row.conn_id, row.idle_time_s, row.error.message)
                )
        status = row.status
        if row.conn_id is not None:
            f.served += 1
            f.served_reused = f.served_reused or row.reused
        if row.protocol is not None:
            f.protocols.setdefault(row.protocol, Counted()).add(i)
        if row.keep_alive is not None:
            hint = row.keep_alive
            if hint.timeout_s is not None and (f.hint_timeout is None or i < f.hint_timeout[0]):
                f.hint_timeout = (i, hint.timeout_s)
            if hint.max is not None and (f.hint_max is None or hint.max > f.hint_max):
                f.hint_max = hint.max
        if status is not None:
            f.answered += 1
            cls = status_class(status)
            f.status_classes[cls] = f.status_classes.get(cls, 0) + 1
            if status >= ERROR_STATUS:
                self._error(row, req)
        if req.conn is not None and row.not_retried is None:
            # A request that met a stale connection is not among those it carried (as a
            # retried one is not): the server had closed it, and answered nothing.
            self._carried(req.conn, row)
        if row.conn_id is not None:
            self._served(row.conn_id, row)

    def _error(self, row: RequestRow, req: Open) -> None:
        f = self.facts
        i = row.index
        f.errors.setdefault(row.status or 0, Counted()).add(i)
        f.error_indexes.append(i)
        server = _server(req.events)
        track = self._conns.by_id.get(row.conn_id) if row.conn_id is not None else None
        found = cause(row, server, track is not None and track.cert_unanswered)
        if found is not None:
            known = f.causes.get(found.key)
            if known is None or i < known[1]:
                f.causes[found.key] = (found, i)
        quote = said(row.body_head, row.status, server)
        if quote is not None and (f.quote is None or i < f.quote[0]):
            f.quote = (i, quote)

    def _carried(self, conn: int, row: RequestRow) -> None:
        cf = self.facts.conns.get(conn)
        if cf is None:
            cf = self.facts.conns[conn] = ConnFacts()
        i = row.index
        if cf.carried and i < cf.carried[-1]:
            cf.shuffled = True
        cf.carried.append(i)
        if row.status is not None:
            cf.answered += 1
            if i > cf.last_status_at:
                cf.last_status_at, cf.last_status = i, row.status
        if i > cf.last:
            cf.last, cf.last_connection = i, row.response_connection

    def _served(self, conn: int, row: RequestRow) -> None:
        cf = self.facts.conns.get(conn)
        if cf is None:
            cf = self.facts.conns[conn] = ConnFacts()
        if row.protocol == "h2" and (cf.h2_first < 0 or row.index < cf.h2_first):
            cf.h2_first, cf.h2_phase = row.index, row.phase
        if row.got_conn_at_s is None:
            return
        end = row.released_at_s if row.released_at_s is not None else row.ended_at_s
        sp = self.streams.get(conn)
        if sp is None:
            sp = self.streams[conn] = StreamPeak()
        sp.peak.sweep.interval(row.got_conn_at_s, end, None)
        waiting = sp.waiting
        while waiting:
            _, r = waiting[0]
            req = self._open.get(r)
            if req is not None and req.conn == conn:
                break
            heapq.heappop(waiting)
        sp.peak.sweep.advance(waiting[0][0] if waiting else float("inf"))
        if row.protocol == "h2":
            start = row.got_conn_at_s
            track = self._conns.by_id.get(conn)
            if row.timings_s.connect is not None and track is not None:
                start = min(start, track.opened_at)  # it held a stream from its own dial
            self.shared.interval(start, end, conn)

    # -- the HTTP/2 shared sweep ------------------------------------------------------------

    def _share_start(self, t: float, conn: Any) -> None:
        n = self._active.get(conn, 0) + 1
        if n:
            self._active[conn] = n
        else:
            del self._active[conn]

    def _share_end(self, t: float, conn: Any) -> None:
        # A span that ends where it starts meets its end first: counts may dip below 0.
        n = self._active.get(conn, 0) - 1
        if n:
            self._active[conn] = n
        else:
            del self._active[conn]

    def _share_query(self, t: float, conn: Any) -> None:
        if self._active:
            self.facts.shared_at[conn] = dict(self._active)

    # -- the end ----------------------------------------------------------------------------

    def finish(self) -> None:
        self.advance(float("inf"))
        f, load = self.facts, self.load
        f.peak = load.peak
        f.scope_peaks = dict(load.scope_peak)
        f.epoch_peaks = dict(load.epoch_peak)
        if load.h2_at_peak:
            f.h2_spread = spread_of(load.h2_at_peak)
        for conn, items in load.answers:
            for phase in {p for _, _, p in items}:
                f.phase_at[(phase, conn)] = spread_of([x for x in items if x[2] == phase])
        for phase, items in load.phase_at_peak.items():
            if items:
                f.phase_spread[phase] = spread_of(items)
        for conn, track in self._conns.by_id.items():
            cf = f.conns.get(conn)
            if cf is None:
                cf = f.conns[conn] = ConnFacts()
            cf.hint_max, cf.said_close = track.hint_max, track.said_close
        for conn, sp in self.streams.items():
            sp.peak.sweep.advance()
            cf = f.conns.get(conn)
            if cf is None:
                cf = f.conns[conn] = ConnFacts()
            cf.peak_streams = sp.peak.peak
        for cf in f.conns.values():
            if cf.shuffled:  # rows finish out of order; usually each connection's do not
                cf.carried = array("q", sorted(cf.carried))
        f.error_indexes = array("q", sorted(f.error_indexes))
        f.no_streams.sort()


class Load:
    """Requests in flight, from get_conn to request_done, in one sweep: the most at once
    overall, per pool scope and per pool; for HTTP/2 requests on a connection, the
    busiest moment overall and per phase, and what was in flight at each dial."""

    def __init__(self) -> None:
        self.current = 0
        self.peak = 0
        self.scope_now: dict[Scope, int] = {}
        self.scope_peak: dict[Scope, int] = {}
        self.epoch_now: dict[int, int] = {}
        self.epoch_peak: dict[int, int] = {}
        self.h2_open: dict[int, H2Item] = {}  # request index -> item
        self.h2_peak = 0
        self.h2_at_peak: list[H2Item] = []
        self.phase_open: dict[str | None, dict[int, H2Item]] = {}
        self.phase_peak: dict[str | None, int] = {}
        self.phase_at_peak: dict[str | None, list[H2Item]] = {}
        self._rose: set[str | None] = set()  # phases whose peak rose at this instant
        # An interval that ends where it starts meets its end first (ends come first at
        # an instant): it is never in flight, and its start must not open it.
        self._ended: set[int] = set()
        self._h2_rose = False
        self.answers: list[tuple[int, list[H2Item]]] = []  # (dialled conn, h2 in flight)
        self.sweep = Sweep(self._start, self._end, self._query, self._instant)

    def _start(self, t: float, item: Any) -> None:
        scope, h2 = item
        self.current += 1
        if self.current > self.peak:
            self.peak = self.current
        n = self.scope_now[scope] = self.scope_now.get(scope, 0) + 1
        if n > self.scope_peak.get(scope, 0):
            self.scope_peak[scope] = n
        epoch = scope[0]
        n = self.epoch_now[epoch] = self.epoch_now.get(epoch, 0) + 1
        if n > self.epoch_peak.get(epoch, 0):
            self.epoch_peak[epoch] = n
        if h2 is not None and h2[0] in self._ended:
            self._ended.discard(h2[0])
        elif h2 is not None:
            self.h2_open[h2[0]] = h2
            if len(self.h2_open) > self.h2_peak:
                self.h2_peak = len(self.h2_open)
                self._h2_rose = True
            phase = h2[2]
            inphase = self.phase_open.setdefault(phase, {})
            inphase[h2[0]] = h2
            if len(inphase) > self.phase_peak.get(phase, 0):
                self.phase_peak[phase] = len(inphase)
                self._rose.add(phase)

    def _end(self, t: float, item: Any) -> None:
        scope, h2 = item
        self.current -= 1
        self.scope_now[scope] = self.scope_now.get(scope, 0) - 1
        self.epoch_now[scope[0]] = self.epoch_now.get(scope[0], 0) - 1
        if h2 is not None:
            if self.h2_open.pop(h2[0], None) is None:
                self._ended.add(h2[0])
            self.phase_open.get(h2[2], {}).pop(h2[0], None)

    def _query(self, t: float, conn: Any) -> None:
        if self.h2_open:
            self.answers.append((conn, list(self.h2_open.values())))

    def _instant(self, t: float) -> None:
        if self._h2_rose:
            self.h2_at_peak = list(self.h2_open.values())
            self._h2_rose = False
        for phase in self._rose:
            self.phase_at_peak[phase] = list(self.phase_open[phase].values())
        self._rose.clear()
