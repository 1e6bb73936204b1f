"""An HTTP/1.1 client connection: h11's state machine fed straight from the Protocol.

Bytes reach h11 from ``Channel.data_received`` and the waiting request is woken with
one future; there is no reader task and no stream wrapper in between.  Whether the
connection may carry another request is h11's decision (``start_next_cycle`` when both
sides are DONE), with one exception mirrored from Go: an HTTP/1.0 response that says
``Connection: keep-alive`` and has a delimited body keeps the connection, which h11
alone would close.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from typing import Any

import h11

from reusecheck.net.conn import ACTIVE, CLOSED, DRAINING, IDLE, PooledConnection
from reusecheck.net.dial import ConnectionKey, Dialed, Timeouts
from reusecheck.net.errors import RequestError
from reusecheck.net.request import Request
from reusecheck.net.response import Response
from reusecheck.trace import Tracer
from reusecheck.trace.vocab import CloseReason, ErrorKind

_UNSOLICITED_KEEP = 200
# Response headers larger than this are refused, as browsers and Go (1 MiB, but nginx
# and most proxies cap at 8-64 KiB) do: a diagnostic must not buffer without bound.
MAX_HEADER_BYTES = 64 * 1024
_CLOSE = [(b"Connection", b"close")]
_END = h11.EndOfMessage()


def _h11_request(req: Request, close: bool) -> h11.Request:
    """The request's h11 event, built (and validated, which is costly) once per Request
    and reused for every attempt."""
    ev = req.wire_cache.get(close)
    if isinstance(ev, h11.Request):
        return ev
    headers = req.wire_headers + _CLOSE if close else req.wire_headers
    new = req.wire_cache[close] = h11.Request(method=req.method, target=req.target, headers=headers)
    return new


def _sent_headers(req: Request) -> list[list[str]]:
    """The headers as sent with the ``Connection: close`` the pool added, for the trace
    (never record a header that was not sent, nor leave out one that was)."""
    cached = req.wire_cache.get("trace-close")
    if isinstance(cached, list):
        return cached
    pairs = req.wire_cache["trace-close"] = [*req.header_pairs, ["Connection", "close"]]
    return pairs


def header_tokens(value: bytes | None) -> set[bytes]:
    if not value:
        return set()
    return {t.strip().lower() for t in value.split(b",")}


class HTTP1Connection(PooledConnection):
    """One keep-alive connection; the pool decides who uses it and when it closes."""

    protocol = "http/1.1"
    multiplexed = False

    def __init__(
        self,
        conn_id: int,
        key: ConnectionKey,
        dialed: Dialed,
        tracer: Tracer,
        timeouts: Timeouts,
    ) -> None:
        super().__init__(conn_id, key, dialed, tracer, timeouts)
        self.idle_since = 0.0  # when the pool last put it idle
        self.sent_close = False  # the last request said Connection: close (ours)
        self._head = False  # the request in flight is a HEAD (its response has no body)
        self._h11 = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_HEADER_BYTES)
        self._waiter: asyncio.Future[bool] | None = None
        self._deadline = 0.0  # of the current wait (see PooledConnection._arm_timer)
        self._first_byte_for: int | None = None
        self._cycle_bytes = 0
        self._response: h11.Response | None = None
        self._last_raw: list[tuple[bytes, bytes]] | None = None
        self._last_parsed: tuple[int, bytes | None, bytes | None, list[list[str]]] = (
            0,
            None,
            None,
            [],
        )
        self.channel.attach(self)

    # -- Receiver (called by the Channel) ------------------------------------------

    def on_data(self, data: bytes) -> None:
        if self.state is not ACTIVE:
            # Bytes nobody asked for (a 408 before the close): the connection is done.
            if len(self.unsolicited) < _UNSOLICITED_KEEP:
                self.unsolicited += data[: _UNSOLICITED_KEEP - len(self.unsolicited)]
            self._drain()
            if self.on_idle_event is not None:
                self.on_idle_event(self)
            return
        if self._first_byte_for is not None:
            self.tracer.emit("got_first_byte", self._first_byte_for, self.id)
            self._first_byte_for = None
        self._cycle_bytes += len(data)
        self._h11.receive_data(data)
        self._wake()

    def on_eof(self) -> None:
        if self.remote_closed is None:
            self.remote_closed = "eof"
        self._peer_gone()

    def on_lost(self, exc: BaseException | None) -> None:
        if exc is not None and self.remote_closed is None:
            self.remote_closed = "reset" if isinstance(exc, ConnectionError) else "eof"
        elif exc is None and self.remote_closed is None and not self.closed:
            self.remote_closed = "eof"
        self._peer_gone()

    def _peer_gone(self) -> None:
        if self.state is ACTIVE:
            if self._h11.their_state is not h11.CLOSED:
                with contextlib.suppress(RuntimeError):
                    self._h11.receive_data(b"")
            self._wake()
            return
        self._drain()
        if not self.closed and self.on_idle_event is not None:
            self.on_idle_event(self)

    def _wake(self) -> None:
        w = self._waiter
        if w is not None and not w.done():
            w.set_result(True)

    async def _wait(self, timeout: float, kind: ErrorKind, what: str) -> None:
        loop = self._loop
        fut: asyncio.Future[bool] = loop.create_future()
        self._waiter = fut
        self._deadline = loop.time() + timeout
        self._arm_timer(self._deadline)
        try:
            ok = await fut
        finally:
            self._waiter = None
        if not ok:
            raise RequestError(kind, f"no {what} from {self.key} within {timeout:g} s")

    def _on_timer(self) -> None:
        self._timer = None
        w = self._waiter
        if w is None or w.done():
            return
        if self._loop.time() < self._deadline:
            self._timer = self._loop.call_at(self._deadline, self._on_timer)
            return
        w.set_result(False)

    # -- pool interface ------------------------------------------------------------

    def is_available(self) -> bool:
        """Free to carry a request now (HTTP/1.1: idle, open, nothing unexpected seen)."""
        return self.state is IDLE

    def close(self) -> None:
        self.state = CLOSED
        self.channel.close()

    def abort(self) -> None:
        self.state = CLOSED
        self.channel.abort()

    # -- a request/response cycle --------------------------------------------------

    async def send(self, req: Request, index: int, close: bool = False) -> Response:
        """Write the request and read up to the response headers.

        ``close`` asks the server to end the connection after this response, as Go's
        ``DisableKeepAlives`` does with ``Connection: close``.
        """
        self.state = ACTIVE
        self.requests += 1
        self.sent_close = close
        self._head = req.method == "HEAD"
        self._cycle_bytes = 0
        h = self._h11
        tracer = self.tracer
        try:
            data = h.send(_h11_request(req, close))
            if req.body:
                data += h.send(h11.Data(data=req.body))
            data += h.send(_END)
        except h11.LocalProtocolError as exc:
            raise RequestError("protocol", f"cannot send this request: {exc}") from None
        self._first_byte_for = index
        try:
            self.channel.write(data)
        except OSError as exc:
            raise RequestError(
                "server-closed", f"write failed: {exc}", before_response=True
            ) from None
        tracer.emit(
            "wrote_headers",
            index,
            self.id,
            headers=_sent_headers(req) if close else req.header_pairs,
        )
        tracer.emit("wrote_request", index, self.id, bytes=len(data))
        if req.body and len(req.body) > 65536:
            await self.channel.drain()
        timeout = self.timeouts.first_byte
        while True:
            try:
                ev = h.next_event()
            except h11.RemoteProtocolError as exc:
                raise self._protocol_error(exc) from None
            if ev is h11.NEED_DATA:
                if self._cycle_bytes == 0 and self.remote_closed:
                    raise RequestError(
                        "server-closed",
                        f"server closed the connection ({self.remote_closed}) "
                        "before sending any response byte",
                        before_response=True,
                    )
                await self._wait(timeout, "first-byte-timeout", "response")
                timeout = self.timeouts.body if self._cycle_bytes else self.timeouts.first_byte
                continue
            if type(ev) is h11.Response:
                self._response = ev
                break
            if type(ev) is h11.InformationalResponse:
                continue
            # ConnectionClosed before a response.
            raise RequestError(
                "server-closed",
                "server closed the connection before sending a response",
                before_response=self._cycle_bytes == 0,
            )
        resp_headers = ev.headers
        raw_items = resp_headers.raw_items()
        if raw_items == self._last_raw:
            # The same headers as the previous response (the usual case in a sequence):
            # share its text pairs, as every wrote_headers shares the request's, so a
            # long run does not hold one copy of the same strings per response.
            size, conn_hdr, ka_hdr, pairs = self._last_parsed
        else:
            size, conn_hdr, ka_hdr, pairs = self._last_parsed = _parse_headers(raw_items)
            self._last_raw = raw_items
        if size > MAX_HEADER_BYTES:
            raise RequestError(
                "protocol",
                f"response headers are {size // 1024} KiB, over the "
                f"{MAX_HEADER_BYTES // 1024} KiB limit",
            )
        http_version = ev.http_version.decode()
        tracer.emit(
            "response_headers",
            index,
            self.id,
            status=ev.status_code,
            http_version=http_version,
            connection=conn_hdr.decode("latin-1") if conn_hdr is not None else None,
            keep_alive=ka_hdr.decode("latin-1") if ka_hdr is not None else None,
            headers=pairs,
        )
        return Response(self, index, ev.status_code, http_version, resp_headers, conn_hdr)

    def _protocol_error(self, exc: h11.RemoteProtocolError) -> RequestError:
        if self.remote_closed and "peer closed" in str(exc).lower():
            return RequestError(
                "server-closed", f"server closed the connection mid-response: {exc}"
            )
        if self.remote_closed and self._cycle_bytes == 0:
            return RequestError(
                "server-closed",
                f"server closed the connection ({self.remote_closed}) "
                "before sending any response byte",
                before_response=True,
            )
        # h11 quotes the offending bytes as bytearray(b'...'); show them as text.
        detail = re.sub(r"bytearray\(b(['\"])(.*?)\1\)", r"'\2'", str(exc))
        return RequestError("protocol", f"malformed response: {detail}")

    async def read_body(self, resp: Response, limit: int | None) -> bool:
        """Read the body (up to ``limit`` more bytes, counted in ``resp.bytes_read`` as
        they arrive); returns whether the whole body was read."""
        h = self._h11
        n = 0
        while True:
            try:
                ev = h.next_event()
            except h11.RemoteProtocolError as exc:
                raise self._protocol_error(exc) from None
            if ev is h11.NEED_DATA:
                await self._wait(self.timeouts.body, "body-timeout", "body bytes")
                continue
            if type(ev) is h11.Data:
                size = len(ev.data)
                n += size
                resp.bytes_read += size
                if limit is not None and n >= limit:
                    return False
            elif type(ev) is h11.EndOfMessage:
                extra = len(h.trailing_data[0])
                if extra:
                    # Nothing was pipelined, so these bytes belong to no response.
                    raise RequestError(
                        "protocol",
                        f"server sent {extra} bytes after the end of the response "
                        "(more body than its Content-Length?)",
                    )
                return True
            else:
                raise RequestError(
                    "server-closed",
                    f"server closed the connection after {resp.bytes_read} body bytes",
                )

    def finish_cycle(self) -> CloseReason | None:
        """After a complete response: None if reusable, else the close reason."""
        h = self._h11
        if h.our_state is h11.DONE and h.their_state is h11.DONE:
            # The usual end of a keep-alive cycle, kept to one call.
            h.start_next_cycle()
            self._response = None
            self.state = DRAINING if self.remote_closed or self.unsolicited else IDLE
            return None
        reason = self._cycle_end()
        reusable = reason is None and not self.remote_closed and not self.unsolicited
        self.state = IDLE if reusable else DRAINING
        return reason

    def _cycle_end(self) -> CloseReason | None:
        """Why a cycle h11 will not continue ends the connection (or None: it goes on)."""
        h = self._h11
        resp = self._response
        self._response = None
        conn_tokens = header_tokens(_get(resp.headers, b"connection")) if resp else set()
        if resp is not None and resp.http_version == b"1.0":
            bounded = _delimited(resp) or _bodiless(resp.status_code, self._head)
            if b"keep-alive" in conn_tokens and bounded and not self.remote_closed:
                # Go's shouldClose keeps an HTTP/1.0 keep-alive connection; h11 never
                # does, so continue on a fresh parser with whatever bytes are left.
                leftover = h.trailing_data[0]
                self._h11 = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_HEADER_BYTES)
                if leftover:
                    self._h11.receive_data(leftover)
                return None
            return "http10"
        if b"close" in conn_tokens or (self.sent_close and not self.remote_closed):
            # The server said close, or we did and h11 will not reuse it (MUST_CLOSE).
            return "connection-close-header"
        if self.remote_closed:
            return self.remote_closed
        return "error"


def _parse_headers(
    raw_items: list[tuple[bytes, bytes]],
) -> tuple[int, bytes | None, bytes | None, list[list[str]]]:
    """One pass over the response headers: their size, Connection, Keep-Alive (values
    of repeated headers comma-joined) and the trace's text pairs, names lower-cased as
    h11 gives them.  raw_items() is a plain list; iterating h11's Headers itself goes
    through the generic Sequence protocol, item by item."""
    size = 0
    conn_hdr = ka_hdr = None
    pairs: list[list[str]] = []
    for raw, value in raw_items:
        name = raw.lower()
        size += len(name) + len(value) + 4
        if name == b"connection":
            conn_hdr = value if conn_hdr is None else conn_hdr + b", " + value
        elif name == b"keep-alive":
            ka_hdr = value if ka_hdr is None else ka_hdr + b", " + value
        pairs.append([name.decode("latin-1"), value.decode("latin-1")])
    return size, conn_hdr, ka_hdr, pairs


def _get(headers: Any, name: bytes) -> bytes | None:
    """The (comma-joined) value of a response header, h11 lower-cases names for us."""
    found = [v for n, v in headers if n == name]
    if not found:
        return None
    return b", ".join(found)


def _bodiless(status: int, head: bool) -> bool:
    """A response that has no body by definition (RFC 9112 section 6.3), so its end is
    known without a length: Go's readTransfer keeps such an HTTP/1.0 keep-alive
    connection too."""
    return head or status in (204, 304) or 100 <= status < 200


def _delimited(resp: h11.Response) -> bool:
    return _get(resp.headers, b"content-length") is not None or b"chunked" in header_tokens(
        _get(resp.headers, b"transfer-encoding")
    )
