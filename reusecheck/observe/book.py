"""The observation's record as it is written: every client connection and request,
stamped on one clock, and the ``client_*`` lines of ``--events``.

The protocol handlers call in at each step (opened, request, response, closed); the
book keeps the counts and times the analysis needs (``analysis.observed.model``), with
the requests capped so a long observation's memory stays flat.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from reusecheck.analysis.observed.model import (
    MAX_GAPS_PER_CONN,
    MAX_REQUESTS_KEPT,
    ClosedBy,
    CloseKind,
    ObservedConnection,
    ObservedProtocol,
    ObservedRecord,
    ObservedRequest,
)
from reusecheck.trace import Clock, Event, Sink
from reusecheck.trace.redact import redact_target


class Book:
    """The record of one observation; single-threaded (the listener's loop)."""

    def __init__(
        self,
        clock: Clock,
        events: Sink | None = None,
        on_answered: Callable[[int], None] | None = None,
    ) -> None:
        self.clock = clock
        self._events = events
        self.on_answered = on_answered  # called with the count of responses ended
        self.connections: list[ObservedConnection] = []
        self.requests: list[ObservedRequest] = []
        self._in_flight: dict[int, int] = {}
        self._next_conn = 1
        self._next_request = 0
        self.total_requests = 0
        self.answered = 0
        self.dropped = 0

    @property
    def live(self) -> int:
        """Client connections not closed yet."""
        return sum(1 for c in self.connections if c.closed_s is None)

    def opened(self, remote: str, local: str, tls: bool, alpn: str | None) -> ObservedConnection:
        conn = ObservedConnection(
            self._next_conn, remote, local, self.clock.now(), tls=tls, alpn=alpn
        )
        self._next_conn += 1
        self.connections.append(conn)
        self._in_flight[conn.id] = 0
        self._emit("client_conn_open", conn.id, remote=remote, local=local, tls=tls, alpn=alpn)
        return conn

    def speaks(self, conn: ObservedConnection, protocol: ObservedProtocol) -> None:
        conn.protocol = protocol

    def request(
        self,
        conn: ObservedConnection,
        method: str,
        target: str,
        user_agent: str | None,
        *,
        client_close: bool = False,
        stream_id: int | None = None,
    ) -> ObservedRequest:
        now = self.clock.now()
        busy = self._in_flight.get(conn.id, 0)
        if busy == 0 and conn.last_response_s is not None:
            gap = max(0.0, now - conn.last_response_s)
            conn.gaps += 1
            conn.longest_gap_s = max(conn.longest_gap_s, gap)
            if len(conn.idle_gaps_s) < MAX_GAPS_PER_CONN:
                conn.idle_gaps_s.append(round(gap, 6))
        self._in_flight[conn.id] = busy + 1
        conn.peak_streams = max(conn.peak_streams, busy + 1)
        if conn.requests == 0:
            conn.user_agent = user_agent
        conn.requests += 1
        conn.last_request_s = now
        req = ObservedRequest(
            self._next_request,
            conn.id,
            method,
            redact_target(target),
            now,
            user_agent=user_agent,
            stream_id=stream_id,
            client_close=client_close,
        )
        self._next_request += 1
        self.total_requests += 1
        if len(self.requests) < MAX_REQUESTS_KEPT:
            self.requests.append(req)
        else:
            self.dropped += 1
        self._emit(
            "client_request",
            conn.id,
            request=req.index,
            method=method,
            target=req.target,
            user_agent=user_agent,
            connection_close=client_close,
            stream_id=stream_id,
        )
        return req

    def response_head(self, conn: ObservedConnection) -> None:
        conn.last_head_s = self.clock.now()

    def responded(
        self,
        conn: ObservedConnection,
        req: ObservedRequest,
        *,
        status: int | None,
        body_bytes: int,
        expected: int | None,
        complete: bool,
        error: str | None = None,
        last_write_s: float | None = None,
    ) -> None:
        """The response ended: whole, or cut short (``complete`` False).

        ``last_write_s``: when its last bytes were handed to the socket.  That is its
        end for the analysis, not the moment this is called: the handler resumes after
        the socket drained, by when the client may have read it all and sent its next
        request, which would look like two requests at once."""
        if req.ended_s is not None:
            return
        now = self.clock.now() if last_write_s is None else last_write_s
        req.ended_s = now
        req.status, req.body_bytes, req.body_expected = status, body_bytes, expected
        req.complete, req.error = complete, error
        self._in_flight[conn.id] = max(0, self._in_flight.get(conn.id, 0) - 1)
        if complete:
            conn.last_response_s = now
        self._emit(
            "client_response",
            conn.id,
            request=req.index,
            status=status,
            body_bytes=body_bytes,
            complete=complete,
            error=error,
        )
        # Every request whose response ended counts toward --requests N, whole or cut
        # short by the client: a client that leaves mid-body sends nothing more there,
        # and counting only whole ones would wait for requests that never come.
        self.answered += 1
        if self.on_answered is not None:
            self.on_answered(self.answered)

    def stream_reset(self, conn: ObservedConnection, req: ObservedRequest) -> None:
        req.client_reset = True
        conn.streams_reset += 1

    def closed(
        self,
        conn: ObservedConnection,
        by: ClosedBy,
        reason: str,
        kind: CloseKind | None = None,
        *,
        unsent: int | None = None,
        writing: bool = False,
    ) -> None:
        """The connection ended; the first call wins (a close has one cause)."""
        if conn.closed_s is not None:
            return
        now = self.clock.now()
        conn.closed_s, conn.closed_by, conn.close_reason = now, by, reason
        conn.close_kind = kind
        conn.writing_at_close = writing
        conn.unread_response_bytes = unsent
        if self._in_flight.get(conn.id, 0) == 0:
            since = conn.last_response_s if conn.last_response_s is not None else conn.opened_s
            conn.idle_at_close_s = round(max(0.0, now - since), 6)
        self._emit(
            "client_conn_closed",
            conn.id,
            closed_by=by,
            reason=reason,
            kind=kind,
            requests=conn.requests,
            unsent_response_bytes=unsent,
            writing=writing,
        )

    def record(self, **settings: Any) -> ObservedRecord:
        """The record so far, with the server side's settings for the analysis."""
        return ObservedRecord(
            connections=self.connections,
            requests=self.requests,
            duration_s=self.clock.now(),
            requests_dropped=self.dropped,
            total_requests=self.total_requests,
            **settings,
        )

    def _emit(self, name: str, conn: int, **fields: Any) -> None:
        if self._events is None:
            return
        fields = {"client_conn": conn, **fields}
        request = fields.pop("request", None)
        self._events.write(Event(self.clock.now(), name, request, None, fields))
