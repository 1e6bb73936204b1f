"""An HTTP/1.1 client connection: h11's state machine fed straight from the Protocol.

Bytes reach h11 from ``Channel.data_received`` and the waiting request is woken with
one future; there is no reader task and no stream wrapper in between.  Whether the
connection may carry another request is h11's decision (``start_next_cycle`` when both
sides are DONE), with one exception mirrored from Go: an HTTP/1.0 response that says
``Connection: keep-alive`` and has a delimited body keeps the connection, which h11
alone would close.

Bytes that answer no request, left after a response's end or sent while the connection
is idle, end the connection as in Go's Transport ("Unsolicited response received on
idle HTTP channel"); an idle ``408`` is the server's idle close, as Go reads it.  What
h11 leaves to its caller (the request event, the head parsed for the trace, Go's
HTTP/1.0 and 408 rules) is ``h1wire.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import re

import h11

from reusecheck.net.conn import ACTIVE, CLOSED, DRAINING, IDLE, PooledConnection
from reusecheck.net.dial import ConnectionKey, Dialed, Timeouts
from reusecheck.net.errors import RequestError
from reusecheck.net.h1wire import (
    INFORMATIONAL_HEAD,
    MAX_HEADER_BYTES,
    MAX_INFORMATIONAL,
    bodiless,
    delimited,
    forwarded,
    forwarded_pairs,
    get,
    h11_request,
    header_tokens,
    parse_headers,
    said_408,
    sent_headers,
)
from reusecheck.net.request import Request
from reusecheck.net.response import Response, keep_head
from reusecheck.trace import Tracer
from reusecheck.trace.vocab import CloseReason, ErrorKind

# What is kept of bytes the server sent unasked (their first line is reported).
_UNSOLICITED_KEEP = 200
_END = h11.EndOfMessage()


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
        self.keep_alive: bytes | None = None  # the last response's Keep-Alive header
        self._head = False  # the request in flight is a HEAD (its response has no body)
        # Through an http:// target's proxy: requests go in absolute form, with its
        # credentials (Go's Transport for a connectMethod without a tunnel).
        self.forward = key.proxy if key.forward else None
        self._h11 = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_HEADER_BYTES)
        self._waiter: asyncio.Future[bool] | None = None
        self._deadline = 0.0  # of the current wait (see PooledConnection.arm_timer)
        self._first_byte_for: int | None = None
        self._cycle_bytes = 0
        self._response: h11.Response | None = None
        self._last_raw: list[tuple[bytes, bytes]] | None = None
        self._last_parsed: tuple[int, bytes | None, bytes | None, list[list[str]], int] = (
            0,
            None,
            None,
            [],
            0,
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
        self.refused_by_tls(exc)
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

    async def _wait(self, deadline: float, kind: ErrorKind, what: str, timeout: float) -> None:
        """Wait for bytes (or EOF) until ``deadline`` (loop time); when it passes, ``kind``:
        "no WHAT from KEY within TIMEOUT s" (built only then: this is the hot path).

        The caller's deadline moves only with progress on what it waits for (bytes of
        the response head, of the body): a wake-up that brought none does not extend
        it, so a server cannot hold a wait open with bytes that answer nothing.
        """
        fut: asyncio.Future[bool] = self._loop.create_future()
        self._waiter = fut
        self._deadline = deadline
        self.arm_timer(deadline)
        try:
            ok = await fut
        finally:
            self._waiter = None
        if not ok:
            raise RequestError(kind, f"no {what} from {self.key} within {timeout:g} s")

    def on_timer(self) -> None:
        self._timer = None
        w = self._waiter
        if w is None or w.done():
            return
        if self._loop.time() < self._deadline:
            self._timer = self._loop.call_at(self._deadline, self.on_timer)
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
            forward = self.forward
            data = h.send(
                h11_request(req, close) if forward is None else forwarded(req, close, forward)
            )
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
            headers=(sent_headers(req) if close else req.header_pairs)
            if forward is None
            else forwarded_pairs(req, close, forward),
        )
        if req.body and len(req.body) > 65536:
            await self._drain_request(index, len(data))
        tracer.emit("wrote_request", index, self.id, bytes=len(data))
        # The first-byte wait runs from the request written to the first byte of the
        # response: 1xx responses (and the bytes of one) do not extend it, so endless
        # ``103 Early Hints`` meet the first-byte timeout, or an error at the sixth as in
        # Go.  Once a final head has begun, each byte of it extends the wait by the body
        # timeout.  Inline, not a helper coroutine: one frame less per request.
        first_byte = self.timeouts.first_byte
        fixed = self._loop.time() + first_byte
        deadline, timeout = fixed, first_byte
        seen = informational = 0
        while True:
            try:
                ev = h.next_event()
            except h11.RemoteProtocolError as exc:
                raise self._protocol_error(exc) from None
            if ev is h11.NEED_DATA:
                if self._cycle_bytes == 0 and self.remote_closed:
                    raise self.server_closed(
                        f"server closed the connection ({self.remote_closed}) "
                        "before sending any response byte",
                        before_response=True,
                    )
                if self._cycle_bytes != seen:
                    seen = self._cycle_bytes
                    deadline, timeout = self._head_wait(fixed)
                await self._wait(deadline, "first-byte-timeout", "response", timeout)
                continue
            if type(ev) is h11.Response:
                self._response = ev
                break
            if type(ev) is h11.InformationalResponse:
                informational += 1
                if informational > MAX_INFORMATIONAL:
                    raise _too_many_informational(ev, informational)
                deadline, timeout = fixed, first_byte
                continue
            # ConnectionClosed before a response.
            raise self.server_closed(
                "server closed the connection before sending a response",
                before_response=self._cycle_bytes == 0,
            )
        resp_headers = ev.headers
        raw_items = resp_headers.raw_items()
        if raw_items == self._last_raw:
            # The same headers as the previous response (the usual case in a sequence):
            # share its text pairs, as every wrote_headers shares the request's, so a
            # long run does not hold one copy of the same strings per response.
            size, conn_hdr, ka_hdr, pairs, omitted = self._last_parsed
        else:
            parsed = self._last_parsed = parse_headers(raw_items)
            size, conn_hdr, ka_hdr, pairs, omitted = parsed
            self._last_raw = raw_items
        if size > MAX_HEADER_BYTES:
            raise RequestError(
                "protocol",
                f"response headers are {size // 1024} KiB, over the "
                f"{MAX_HEADER_BYTES // 1024} KiB limit",
            )
        http_version = ev.http_version.decode()
        self.keep_alive = ka_hdr
        tracer.emit(
            "response_headers",
            index,
            self.id,
            status=ev.status_code,
            http_version=http_version,
            connection=conn_hdr.decode("latin-1") if conn_hdr is not None else None,
            keep_alive=ka_hdr.decode("latin-1") if ka_hdr is not None else None,
            headers=pairs,
            **({"headers_omitted": omitted} if omitted else {}),
        )
        return Response(self, index, ev.status_code, http_version, resp_headers, conn_hdr)

    async def _drain_request(self, index: int, size: int) -> None:
        """Wait for the kernel to take the request, as long as the server reads it."""
        timeout = self.timeouts.body
        if await self.channel.drain(timeout):
            return
        unsent = self.channel.unsent()
        message = (
            f"{self.key} stopped reading the request: {unsent} of {size} bytes still "
            f"unsent after {timeout:g} s"
        )
        self.tracer.emit("wrote_request", index, self.id, bytes=size - unsent, error=message)
        raise RequestError("write-timeout", message)

    def _head_wait(self, fixed: float) -> tuple[float, float]:
        """(deadline, timeout) of the wait for more of a response head, after new bytes:
        the body timeout from now once a final head has begun, else the first-byte
        deadline, which an informational (1xx) response does not move."""
        if INFORMATIONAL_HEAD.match(self._h11.trailing_data[0][:10]) is None:
            return self._loop.time() + self.timeouts.body, self.timeouts.body
        return fixed, self.timeouts.first_byte

    def _protocol_error(self, exc: h11.RemoteProtocolError) -> RequestError:
        if self.remote_closed and "peer closed" in str(exc).lower():
            return RequestError(
                "server-closed", f"server closed the connection mid-response: {exc}"
            )
        if self.remote_closed and self._cycle_bytes == 0:
            return self.server_closed(
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
        # The body timeout runs from the last body byte, not the last wake-up (chunk
        # framing alone is no progress).
        deadline = 0.0
        while True:
            try:
                ev = h.next_event()
            except h11.RemoteProtocolError as exc:
                raise self._protocol_error(exc) from None
            if ev is h11.NEED_DATA:
                timeout = self.timeouts.body
                if not deadline:
                    deadline = self._loop.time() + timeout
                await self._wait(deadline, "body-timeout", "body bytes", timeout)
                continue
            if type(ev) is h11.Data:
                size = len(ev.data)
                if size:
                    deadline = 0.0
                n += size
                resp.bytes_read += size
                if resp.sink is not None:
                    resp.sink.append(ev.data)
                if resp.head is not None:
                    keep_head(resp.head, ev.data)
                if limit is not None and n >= limit:
                    return False
            elif type(ev) is h11.EndOfMessage:
                extra = h.trailing_data[0]
                if extra:
                    # Nothing was pipelined, so these bytes answer no request (a second
                    # response, more body than the Content-Length said): this response is
                    # whole, the connection is done (Go closes it too).
                    self.unsolicited = extra[:_UNSOLICITED_KEEP]
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
            if self.unsolicited:
                self.state = DRAINING
                return "unsolicited-response"
            self.state = DRAINING if self.remote_closed else IDLE
            return None
        reason = self._cycle_end()
        if reason is None and self.unsolicited:
            reason = "unsolicited-response"
        reusable = reason is None and not self.remote_closed
        self.state = IDLE if reusable else DRAINING
        return reason

    def stray_response(self) -> bool:
        """The server sent bytes nobody asked for that are not a 408 (its idle close):
        a response to no request, which the pool closes the connection over."""
        return bool(self.unsolicited) and not said_408(self.unsolicited)

    def _cycle_end(self) -> CloseReason | None:
        """Why a cycle h11 will not continue ends the connection (or None: it goes on)."""
        h = self._h11
        resp = self._response
        self._response = None
        conn_tokens = header_tokens(get(resp.headers, b"connection")) if resp else set()
        if resp is not None and resp.http_version == b"1.0":
            bounded = delimited(resp) or bodiless(resp.status_code, self._head)
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


def _too_many_informational(ev: h11.InformationalResponse, n: int) -> RequestError:
    what = f"{ev.status_code} {ev.reason.decode('latin-1')}".strip()
    return RequestError(
        "protocol",
        f"server sent {n} informational responses ({what}) and no response: Go's "
        f"Transport gives up after {MAX_INFORMATIONAL}",
    )
