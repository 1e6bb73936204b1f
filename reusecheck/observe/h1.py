"""A client's HTTP/1.1 connection, served with h11's server role and recorded.

One coroutine per connection, one request at a time (a pipelined request waits in h11
until the response before it ends).  The waits, each with its clock:

    idle      between requests      -> the keep-alive timeout (none: until the end)
    reading   a request under way   -> request_timeout
    writing   a response's bytes    -> request_timeout per write (a client not reading)

How the connection ends is recorded as the analysis needs it: the client's FIN or RST,
and whether a response was still being written then (bytes the client never read).
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Final

import h11

from reusecheck.analysis.observed.model import CloseKind, ObservedConnection, ObservedRequest
from reusecheck.observe.answer import (
    Answer,
    Header,
    Incoming,
    content_length,
    entity_headers,
    header_value,
)
from reusecheck.observe.book import Book
from reusecheck.observe.config import ObserveConfig
from reusecheck.observe.wire import ClientGone, Stalled, Wire
from reusecheck.server.policy import client_wants_close, decide

MAX_HEAD: Final = 64 * 1024


def _reason(status: int) -> bytes:
    """The status's standard phrase: an empty one is legal, but clients such as h2load
    count ``HTTP/1.1 200 `` as a failure."""
    try:
        return HTTPStatus(status).phrase.encode("ascii")
    except ValueError:
        return b""


class _Response:
    """The Responder for one HTTP/1.1 response: the connection's headers added here."""

    def __init__(self, session: H1Session, request: h11.Request, nth: int) -> None:
        self._s = session
        self._request = request
        self._nth = nth
        self.status: int | None = None
        self.expected: int | None = None
        self.sent = 0
        self.started = False
        self.ended = False
        self.close_reason: str | None = None
        self.last_write_s: float | None = None

    async def head(self, status: int, headers: list[Header]) -> None:
        s = self._s
        decision = decide(s.config.server, self._nth, client_wants_close(self._request))
        self.close_reason = decision.close_reason
        out = entity_headers(headers)
        self.expected = content_length(out)
        if self._request.method == b"HEAD" or status in (204, 304):
            self.expected = 0
        out += list(decision.headers)
        self.status = status
        response = h11.Response(status_code=status, headers=out, reason=_reason(status))
        data = s.h11.send(response) or b""
        self.started = True
        await s.wire.write(data, s.config.server.request_timeout)
        s.book.response_head(s.conn)

    async def body(self, data: bytes) -> None:
        if not data or self._request.method == b"HEAD":
            return
        s = self._s
        self.sent += len(data)
        self.last_write_s = s.book.clock.now()
        await s.wire.write(s.h11.send(h11.Data(data=data)) or b"", s.config.server.request_timeout)

    async def end(self) -> None:
        s = self._s
        last = s.h11.send(h11.EndOfMessage()) or b""
        if last or self.last_write_s is None:
            self.last_write_s = s.book.clock.now()
        await s.wire.write(last, s.config.server.request_timeout)
        self.ended = True

    def unsent(self) -> int:
        left = (self.expected - self.sent) if self.expected is not None else 0
        return max(0, left) + self._s.wire.unsent()


class H1Session:
    """Serves and records one HTTP/1.1 client connection until it ends."""

    def __init__(
        self,
        wire: Wire,
        conn: ObservedConnection,
        book: Book,
        answer: Answer,
        config: ObserveConfig,
    ) -> None:
        self.wire = wire
        self.conn = conn
        self.book = book
        self.answer = answer
        self.config = config
        self.h11 = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD)

    async def run(self, initial: bytes) -> None:
        if initial:
            self.h11.receive_data(initial)
        try:
            while True:
                request = await self._next_request()
                if request is None:
                    return
                if not await self._serve(request):
                    return
                self.h11.start_next_cycle()
        except ClientGone as gone:
            self.book.closed(
                self.conn, "client", "eof" if gone.kind == "fin" else "reset", gone.kind
            )
        except Stalled as stalled:
            self.book.closed(self.conn, "server", stalled.reason)
        except h11.ProtocolError:
            self.book.closed(self.conn, "server", "bad-request")

    async def _event(self, idle: bool) -> object:
        """The next h11 event; the first wait of a request is the idle one."""
        while True:
            event = self.h11.next_event()
            if event is not h11.NEED_DATA:
                return event
            timeout = (
                self.config.server.idle_timeout if idle else self.config.server.request_timeout
            )
            data = await self.wire.read(timeout, "idle-timeout" if idle else "request-timeout")
            idle = False
            self.h11.receive_data(data)

    async def _next_request(self) -> h11.Request | None:
        idle = not self.h11.trailing_data[0]
        event = await self._event(idle)
        if isinstance(event, h11.ConnectionClosed):
            self.book.closed(self.conn, "client", "eof", "fin")
            return None
        if not isinstance(event, h11.Request):
            raise h11.RemoteProtocolError("expected a request", 400)
        return event

    async def _read_body(self) -> bytes | None:
        """The request body, or None when it is over the limit (answered 413)."""
        body = bytearray()
        too_big = False
        while True:
            event = await self._event(False)
            if isinstance(event, h11.Data):
                if len(body) + len(event.data) > self.config.max_request_body:
                    too_big = True
                else:
                    body += event.data
            elif isinstance(event, h11.EndOfMessage):
                return None if too_big else bytes(body)
            elif isinstance(event, h11.ConnectionClosed):
                raise ClientGone("fin")

    async def _serve(self, request: h11.Request) -> bool:
        """Answer one request; False when the connection ends with it."""
        headers = list(request.headers)
        agent = header_value(headers, b"user-agent")
        record = self.book.request(
            self.conn,
            request.method.decode("ascii", "replace"),
            request.target.decode("latin-1"),
            agent.decode("latin-1") if agent is not None else None,
            client_close=client_wants_close(request),
        )
        if self.h11.client_is_waiting_for_100_continue:
            go_on = h11.InformationalResponse(status_code=100, headers=[])
            await self.wire.write(self.h11.send(go_on) or b"", self.config.server.request_timeout)
        body = await self._read_body()
        response = _Response(self, request, self.conn.requests)
        try:
            if body is None:
                await self._refuse(response)
            else:
                incoming = Incoming(record.index, record.method, record.target, headers, body)
                await self.answer.answer(incoming, response)
        except ClientGone as gone:
            self._cut(record, response, gone.kind)
            raise
        except Stalled:
            self._respond_done(record, response, "the client stopped reading the response")
            raise
        self._respond_done(record, response, None)
        if response.close_reason is not None:
            await self._close("server", response.close_reason)
            return False
        if self.h11.our_state is h11.MUST_CLOSE:
            await self._close("server", "client-close")
            return False
        return True

    async def _refuse(self, response: _Response) -> None:
        text = b"request body over the observer's limit\n"
        await response.head(
            413, [(b"content-type", b"text/plain"), (b"content-length", b"%d" % len(text))]
        )
        await response.body(text)
        await response.end()
        response.close_reason = "bad-request"

    def _respond_done(
        self, record: ObservedRequest, response: _Response, error: str | None
    ) -> None:
        self.book.responded(
            self.conn,
            record,
            status=response.status,
            body_bytes=response.sent,
            expected=response.expected,
            complete=response.ended,
            error=error,
            last_write_s=response.last_write_s if response.ended else None,
        )

    def _cut(self, record: ObservedRequest, response: _Response, kind: CloseKind) -> None:
        """The client left while its response was being written."""
        unsent = response.unsent() if response.started else None
        self._respond_done(record, response, "the client closed before the response's end")
        self.book.closed(
            self.conn,
            "client",
            "eof" if kind == "fin" else "reset",
            kind,
            unsent=unsent,
            writing=True,
        )

    async def _close(self, by: str, reason: str) -> None:
        self.book.closed(self.conn, "server", reason)
        await self.wire.close()
