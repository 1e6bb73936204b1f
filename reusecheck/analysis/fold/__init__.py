"""The analysis as a fold over the event stream: what a run costs in memory is its
connections and the requests in flight, not its requests.

``Fold`` is a trace sink.  It holds each running request's events until its row is
final (``fold.requests``), hands the row on (``on_row``: to a report being written, or
a list) and keeps of it only what the findings and the verdict read (``facts.RunFacts``:
counts, firsts, peaks through exact time sweeps, ``fold.sweep``).  Of the events it
keeps those that are per connection or rare (dials, closes, retries, SETTINGS, GOAWAY,
refused puts, unread bodies, error responses, capped headers): O(connections).
``finish`` builds the ``Analysis``, the same one, byte for byte in its JSON, as
analysing the whole record at once would.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from reusecheck.analysis.events import EventIndex, split_attempts
from reusecheck.analysis.fold.conns import Conns
from reusecheck.analysis.fold.facts import RunFacts
from reusecheck.analysis.fold.requests import Open, Requests
from reusecheck.analysis.fold.rows import RowFacts
from reusecheck.analysis.fold.scopes import Scopes
from reusecheck.analysis.model import RequestRow
from reusecheck.trace import Event

# Events kept whatever they say: per connection, or rare.
_KEPT = frozenset(
    {
        "dns_start",
        "dns_done",
        "connect_start",
        "connect_done",
        "tls_start",
        "tls_done",
        "conn_closed",
        "idle_closed",
        "retry",
        "h2_settings",
        "h2_goaway",
        "pool_start",
        "proxy_tls_start",
        "proxy_tls_done",
        "proxy_connect_start",
        "proxy_connect_done",
    }
)

RowSink = Callable[[RequestRow], None]

# Who reads which events (the rest pass by): the pool scopes, the connections' tracks.
_SCOPES = frozenset({"pool_start", "get_conn", "conn_closed", "connect_start", "got_conn"})
_CONNS = frozenset(
    {
        "connect_start",
        "response_headers",
        "wrote_headers",
        "put_idle",
        "retry",
        "conn_closed",
        "tls_start",
        "tls_done",
        "got_conn",
        "h2_settings",
        "h2_goaway",
    }
)


# Request events kept only when they say something out of the ordinary.
_SOMETIMES = frozenset({"got_conn", "put_idle", "body_done", "response_headers"})


def _kept(e: Event, first_got: set[int]) -> bool:
    """Whether the analysis reads this request event once its request is gone."""
    name = e.event
    f = e.fields
    if name == "got_conn":
        if e.conn is not None and e.conn not in first_got:
            first_got.add(e.conn)
            return True
        return False
    if name == "put_idle":
        return f.get("ok") is False
    if name == "body_done":
        return f.get("complete") is False
    if name == "response_headers":
        status = f.get("status")
        return bool(f.get("headers_omitted")) or (isinstance(status, int) and status >= 400)
    return False


class Fold:
    """A sink that analyses as the run goes; ``finish`` gives the analysis."""

    def __init__(self, on_row: RowSink | None = None) -> None:
        self._rows: list[RequestRow] = []
        self._on_row: RowSink = on_row if on_row is not None else self._rows.append
        self.facts = RunFacts()
        self._kept: list[Event] = []
        self._first_got: set[int] = set()
        self._retried: dict[int, list[Event]] = {}  # retried requests: all their events
        self.conns = Conns()
        self.requests = Requests(self._done, self._final)
        self.scopes = Scopes(self._is_done)
        self.rows = RowFacts(self.facts, self.conns, self.scopes)
        self.rows._open = self.requests.open
        self._finished = False

    # -- the sink -------------------------------------------------------------------------

    def write(self, e: Event) -> None:
        """One event: it runs about ten times a request, so it dispatches by name."""
        facts = self.facts
        if e.t > facts.end_s:
            facts.end_s = e.t
        name, conn = e.event, e.conn
        if name in _KEPT or e.request is None or (name in _SOMETIMES and _kept(e, self._first_got)):
            self._kept.append(e)
        if name in _SCOPES:
            self.scopes.feed(e)
        if self.conns.pending:
            self.conns.settle(e.t)
        if conn is not None and name in _CONNS:
            first_dial = name == "connect_start" and (
                conn not in self.conns.by_id or not self.conns.by_id[conn].dialled
            )
            self.conns.feed(e)
            if first_dial:
                self.rows.dialled(conn, e.t)
            elif name == "got_conn" and e.request is not None:
                self.rows.got(conn, e.t, e.request)
            elif name == "response_headers" and facts.software is None:
                self.rows.software(e)
        if e.request is not None or name == "conn_closed":
            self.requests.feed(e)
        if name == "request_done":
            self.rows.advance(self.requests.earliest())

    def close(self) -> None:
        return None

    # -- requests -------------------------------------------------------------------------

    def _is_done(self, request: int) -> bool:
        req = self.requests.open.get(request)
        return req is None or req.done

    def _done(self, row: RequestRow, req: Open) -> None:
        key = self.scopes.request_key.get(row.index)
        self.rows.started(row, self.scopes.scope(row.started_at_s, key))

    def _final(self, row: RequestRow, req: Open) -> None:
        if req.retried:
            self._retried[row.index] = req.events
        self.rows.final(row, req)
        self.scopes.forget(row.index)
        self._on_row(row)

    # -- the end --------------------------------------------------------------------------

    def finish(self) -> tuple[EventIndex, RunFacts, Sequence[RequestRow]]:
        """Every request final, every sweep run: the kept events indexed, the facts,
        and the rows when no ``on_row`` took them (in index order)."""
        if not self._finished:
            self._finished = True
            self.requests.finish()
            self.conns.settle()
            self.facts.refused = self.conns.refused
            self.rows.finish()
        index = EventIndex(self._kept)
        for r, events in self._retried.items():
            index.by_request[r] = events
            index.attempts[r] = split_attempts(events)
        index.end_s = self.facts.end_s
        rows = sorted(self._rows, key=lambda row: row.index)
        return index, self.facts, rows


def fold_events(events: Iterable[Event], on_row: RowSink | None = None) -> Fold:
    """A fold fed every event of a record."""
    fold = Fold(on_row)
    for e in events:
        fold.write(e)
    return fold


__all__ = ["Fold", "RowSink", "fold_events"]
