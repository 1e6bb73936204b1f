"""Each request's events, held while it runs, and its row once nothing can change it.

A request's events run from get_conn to request_done, with its release in between (the
pool put its connection back, or closed it) or after it: an HTTP/1.1 body never read
holds the connection until the pool closes it, so such a request's row is final only
then.  A dial the request started may report after the request is done, but a row does
not read those (its own dial is timed only when it served the request).  So a request
is *done* at request_done and *final* once released: on HTTP/2 at request_done, on
HTTP/1.1 at the put or close of its connection, or when that connection is gone.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable

from reusecheck.analysis.model import RequestRow
from reusecheck.analysis.requests import request_row
from reusecheck.trace import Event


class Open:
    """A request still running, or done and waiting for its connection's release."""

    __slots__ = ("conn", "done", "events", "h2", "released", "retried", "started")

    def __init__(self, started: float) -> None:
        self.events: list[Event] = []
        self.started = started
        self.conn: int | None = None  # the connection of its latest got_conn
        self.h2 = False
        self.released = False  # its connection was put back or closed after got_conn
        self.done = False
        self.retried = False


class Requests:
    """Open requests by index; calls ``on_done(row, open)`` at request_done (the row as
    it stands: its start, end, connection and protocol no longer change) and
    ``on_final(row, open)`` when nothing of the row can change (often both at once)."""

    __slots__ = ("_by_conn", "_on_done", "_on_final", "_starts", "open")

    def __init__(
        self,
        on_done: Callable[[RequestRow, Open], None],
        on_final: Callable[[RequestRow, Open], None],
    ) -> None:
        self.open: dict[int, Open] = {}
        self._starts: list[tuple[float, int]] = []  # (start, index), not yet done: a heap
        self._by_conn: dict[int, set[int]] = {}  # done, unreleased requests per connection
        self._on_done = on_done
        self._on_final = on_final

    def feed(self, e: Event) -> None:
        r = e.request
        if r is None:
            if e.event == "conn_closed" and e.conn is not None:
                self._gone(e.conn)
            return
        req = self.open.get(r)
        if req is None:
            if e.event != "get_conn":  # a final request's late dial: nothing its row reads
                if e.event == "conn_closed" and e.conn is not None:
                    self._gone(e.conn)
                return
            req = self.open[r] = Open(e.t)  # a request starts with get_conn
            heapq.heappush(self._starts, (e.t, r))
        req.events.append(e)
        name = e.event
        if name == "got_conn":
            req.conn = e.conn
            req.h2 = e.fields.get("protocol") == "h2"
            req.released = False
        elif name == "retry":
            req.retried = True
            req.conn = None
        elif name in ("put_idle", "conn_closed"):
            if req.conn is not None and e.conn == req.conn:
                req.released = True
        elif name == "request_done":
            req.done = True
            row = self._row(r, req)
            self._on_done(row, req)
            if req.conn is None or req.h2 or req.released:
                self._final(r, req, row)
            else:
                self._by_conn.setdefault(req.conn, set()).add(r)
        if name == "conn_closed" and e.conn is not None:
            self._gone(e.conn)

    def _gone(self, conn: int) -> None:
        """The connection closed: the done requests it held are final."""
        for r in sorted(self._by_conn.pop(conn, ())):
            req = self.open.get(r)
            if req is not None:
                self._final(r, req)

    @staticmethod
    def _row(r: int, req: Open) -> RequestRow:
        return request_row(r, req.events)

    def _final(self, r: int, req: Open, row: RequestRow | None = None) -> None:
        del self.open[r]
        if req.conn is not None:
            waiting = self._by_conn.get(req.conn)
            if waiting is not None:
                waiting.discard(r)
        self._on_final(row if row is not None else self._row(r, req), req)

    def finish(self) -> None:
        """The end of the record: every request still open is as final as it gets."""
        for r in sorted(self.open):
            req = self.open[r]
            row = self._row(r, req)
            if not req.done:
                req.done = True
                self._on_done(row, req)
            self._final(r, req, row)
        self._by_conn.clear()

    def earliest(self) -> float:
        """The earliest start of a request not yet done (inf when none): no interval
        still to come starts before it."""
        starts = self._starts
        while starts:
            t, r = starts[0]
            req = self.open.get(r)
            if req is not None and not req.done:
                return t
            heapq.heappop(starts)
        return float("inf")
