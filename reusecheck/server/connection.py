"""One accepted connection: h11's server role driven by asyncio Protocol callbacks.

No reader task per connection: bytes arrive in ``data_received``, h11 turns them into
events, and a complete request is answered at once (or from a timer for /delay, or from
``resume_writing`` for bodies larger than the transport's buffer).  That keeps a keep-alive
connection at one parse, one write and one timer per request, so benchmarks can push
thousands of requests a second through a single connection.

A connection is always in one phase, and each phase has exactly one clock running:

    idle        no request in progress, last response written  -> idle timer (idle_timeout),
                                                                  or the server's periodic
                                                                  reaper (idle_reap_interval)
    reading     a request's first byte arrived                 -> request timer
    responding  the reply is delayed or being written          -> the delay, or the stall
                                                                  timer while writing is paused

The idle timer starts when the last byte of a response is handed to the transport and is
cancelled by the first byte of the next request, which is what a client measuring the
server's keep-alive timeout sees (nginx's keepalive_timeout behaves the same way).
"""

from __future__ import annotations

import asyncio
import time
from typing import Final, cast

import h11

from reusecheck.server.config import ServerConfig
from reusecheck.server.http10 import http10_head
from reusecheck.server.policy import Decision, client_wants_close, decide
from reusecheck.server.records import ClosedBy, ConnectionRegistry, ConnRecord, format_peer
from reusecheck.server.routes import Reply, reason_phrase, reply_for

CHUNK: Final = 64 * 1024  # one write per chunk of a /bytes body; the transport's high-water mark
_FILL: Final = b"x" * CHUNK

_IDLE: Final = "idle"
_READING: Final = "reading"
_RESPONDING: Final = "responding"


class TargetProtocol(asyncio.Protocol):
    """Serves requests on one connection until the configured behaviour closes it."""

    # Set by connection_made; the registry only hands out connections that have one.
    _transport: asyncio.Transport
    record: ConnRecord

    def __init__(
        self, config: ServerConfig, registry: ConnectionRegistry, record: ConnRecord | None = None
    ) -> None:
        """``record``: the connection was accepted (and registered) by the h2c sniffer,
        which found HTTP/1.1 bytes and hands its transport over."""
        self._config = config
        self._registry = registry
        self._adopted = record
        self._loop = asyncio.get_running_loop()
        self._h11 = h11.Connection(h11.SERVER)
        self._raw10 = config.http10
        self._tls = False
        self.lost: asyncio.Future[None] = self._loop.create_future()
        self._phase: str = _IDLE
        self._timer: asyncio.TimerHandle | None = None  # idle or request timer
        self._idle_since: float | None = None  # loop time it went idle, for the reaper
        self._stall: asyncio.TimerHandle | None = None  # paused writes, or a close not flushing
        self._delay: asyncio.TimerHandle | None = None
        self._request: h11.Request | None = None
        self._close_after: str | None = None  # the current response's close reason
        self._filler = 0  # body bytes still to generate
        self._streaming = False
        self._advancing = False
        self._reading_paused = False
        self._writing_paused = False
        self._client_eof = False
        self._closing = False

    # --- asyncio callbacks --------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)
        self._tls = transport.get_extra_info("sslcontext") is not None
        if self._adopted is not None:
            self.record, self._adopted = self._adopted, None
        else:
            peer = format_peer(transport.get_extra_info("peername"))
            self.record = self._registry.opened(self, peer)
        self._go_idle()

    def data_received(self, data: bytes) -> None:
        if self._closing:
            return
        if self._phase == _IDLE:
            self._disarm()
            self._idle_since = None
            self._phase = _READING
        self._h11.receive_data(data)
        self._advance()

    def eof_received(self) -> bool:
        self._client_eof = True
        if self._closing:
            return False
        self._h11.receive_data(b"")
        self._advance()
        if self._closing:
            return False
        if self._tls:
            # TLS has no half-close: asyncio closes the transport whatever we return.
            self._close("client", "eof")
            return False
        # A complete request whose response is still being written (an HTTP/1.0-style
        # client half-closes after sending): finish it, then close.
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        self._closing = True
        self._cancel_timers()
        record = self.record
        if record.closed_by is None:
            self._mark("client", "eof" if exc is None else "reset")
        self._registry.closed(self, record)
        if not self.lost.done():
            self.lost.set_result(None)

    def pause_writing(self) -> None:
        self._writing_paused = True
        if self._stall is None and not self._closing:
            self._stall = self._loop.call_later(self._config.request_timeout, self._write_stalled)

    def resume_writing(self) -> None:
        self._writing_paused = False
        if self._closing:
            return  # the stall timer is now the close's deadline: keep it
        self._cancel_stall()
        if self._streaming:
            self._pump()

    def shutdown(self) -> None:
        """Server shutdown: drop the connection now, whatever it is doing."""
        if not self._closing:
            self._close("server", "shutdown", abort=True)
        else:
            self._transport.abort()

    def reap(self, now: float) -> None:
        since, timeout = self._idle_since, self._config.idle_timeout
        if since is None or timeout is None or self._closing or self._phase != _IDLE:
            return
        if now - since >= timeout:
            self._idle_since = None
            self._close("server", "idle-timeout")

    # --- requests -----------------------------------------------------------------------

    def _advance(self) -> None:
        """Act on every event h11 can parse from what has arrived.

        Re-entered when a synchronous response completes inside the loop; the outer call
        keeps going, so pipelined requests are served without recursion.
        """
        if self._advancing:
            return
        self._advancing = True
        try:
            self._handle_events()
        finally:
            self._advancing = False
        if self._phase == _READING and self._timer is None and not self._closing:
            self._arm(self._config.request_timeout, "request-timeout")

    def _handle_events(self) -> None:
        while not self._closing:
            try:
                event = self._h11.next_event()
            except h11.RemoteProtocolError as exc:
                self._reject(exc.error_status_hint)
                return
            if event is h11.NEED_DATA:
                return
            if event is h11.PAUSED:
                # h11 holds further requests until this response ends; stop reading so a
                # pipelining client cannot make it buffer without bound.
                self._pause_reading()
                return
            if isinstance(event, h11.Request):
                self._on_request(event)
            elif isinstance(event, h11.EndOfMessage):
                self._disarm()
                self._phase = _RESPONDING
                self._respond()
            elif isinstance(event, h11.ConnectionClosed):
                if self._phase == _RESPONDING:
                    return  # a half-close after the request: _finish closes once it is answered
                self._close("client", "eof")
            # h11.Data: request bodies are read and discarded.

    def _on_request(self, request: h11.Request) -> None:
        drop = self._config.drop_after
        if drop is not None and self.record.requests >= drop:
            # What a client sees when the server closes an idle connection just as the
            # client reuses it: the request is written, and the answer is EOF.
            self._close("server", "drop")
            return
        self._request = request
        if self._h11.client_is_waiting_for_100_continue and not self._raw10:
            # The body is wanted (to discard it); saves an Expect client its wait (curl: 1 s).
            go_on = h11.InformationalResponse(status_code=100, headers=[], reason=b"Continue")
            self._write(self._h11_bytes(go_on))

    def _respond(self) -> None:
        request = self._request
        assert request is not None  # h11 emits EndOfMessage only after a Request
        reply = reply_for(request.method, request.target)
        if reply.delay_s > 0:
            self._delay = self._loop.call_later(reply.delay_s, self._send, reply, None)
        else:
            self._send(reply, None)

    def _reject(self, status: int) -> None:
        """A request h11 cannot parse: answer 400 (or h11's hint) if a response can still
        be sent, then close."""
        if self._client_eof:
            self._close("client", "eof")  # a request cut short by the client's close
            return
        if self._phase == _RESPONDING or self._h11.our_state not in (h11.IDLE, h11.SEND_RESPONSE):
            self._close("server", "bad-request")
            return
        self._disarm()
        self._phase = _RESPONDING
        self._send(Reply(status, reason_phrase(status) + b"\n"), "bad-request")

    # --- responses ----------------------------------------------------------------------

    def _send(self, reply: Reply, forced_close: str | None) -> None:
        self._delay = None
        request = self._request
        if forced_close is not None:
            decision = Decision(forced_close, ((b"connection", b"close"),))
        else:
            client_close = request is not None and client_wants_close(request)
            decision = decide(self._config, self.record.requests + 1, client_close)
        self._close_after = decision.close_reason
        headers = [*reply.headers(), *decision.headers]
        if self._raw10:
            out = http10_head(reply.status, headers)
        else:
            response = h11.Response(
                status_code=reply.status, headers=headers, reason=reason_phrase(reply.status)
            )
            out = self._h11_bytes(response)
        if request is not None and request.method == b"HEAD":
            self._finish(out)
            return
        if reply.body:
            out += self._frame(reply.body)
        if reply.filler == 0:
            self._finish(out)
            return
        self._write(out)
        self._filler = reply.filler
        self._streaming = True
        self._pump()

    def _pump(self) -> None:
        """Write generated body chunks until the transport asks us to pause, or the end."""
        while self._filler > 0:
            if self._writing_paused or self._closing:
                return  # resume_writing calls back; connection_lost ends it
            n = min(self._filler, CHUNK)
            self._filler -= n
            self._write(self._frame(_FILL if n == CHUNK else _FILL[:n]))
        self._finish(b"")

    def _finish(self, out: bytes) -> None:
        """Write the response's last bytes, then close or start the next cycle."""
        self._streaming = False
        if not self._raw10:
            out += self._h11_bytes(h11.EndOfMessage())
        if out:
            self._write(out)
        self.record.requests += 1
        reason = self._close_after
        if reason is None and self._client_eof:
            self._close("client", "eof")  # it half-closed first; this completes the close
            return
        if reason is None and not self._raw10 and self._h11.our_state is h11.MUST_CLOSE:
            reason = "client-close"
        if reason is not None:
            self._close("server", reason)
            return
        self._h11.start_next_cycle()
        self._request = None
        self._resume_reading()
        if self._h11.trailing_data[0]:
            self._phase = _READING  # a pipelined request has already begun
        else:
            self._go_idle()
        self._advance()

    def _frame(self, data: bytes) -> bytes:
        # Content-Length framing passes body bytes through unchanged, so in the HTTP/1.0
        # mode (where h11 never sent a Response) they go out as they are.
        return data if self._raw10 else self._h11_bytes(h11.Data(data=data))

    def _h11_bytes(self, event: h11.Event) -> bytes:
        data = self._h11.send(event)
        return data if data is not None else b""  # None only for ConnectionClosed

    def _write(self, data: bytes) -> None:
        self._transport.write(data)
        self.record.bytes_out += len(data)

    # --- timers and closing -------------------------------------------------------------

    def _go_idle(self) -> None:
        self._phase = _IDLE
        if self._config.idle_reap_interval is not None:
            self._idle_since = self._loop.time()  # the server's reaper closes it
            return
        self._arm(self._config.idle_timeout, "idle-timeout")

    def _arm(self, delay: float | None, reason: str) -> None:
        self._disarm()
        if delay is not None:
            self._timer = self._loop.call_later(delay, self._expire, reason)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expire(self, reason: str) -> None:
        self._timer = None
        self._close("server", reason)

    def _write_stalled(self) -> None:
        self._stall = None
        self._close("server", "write-timeout", abort=True)

    def _cancel_stall(self) -> None:
        if self._stall is not None:
            self._stall.cancel()
            self._stall = None

    def _cancel_timers(self) -> None:
        self._disarm()
        self._cancel_stall()
        if self._delay is not None:
            self._delay.cancel()
            self._delay = None

    def _pause_reading(self) -> None:
        if not self._reading_paused:
            self._reading_paused = True
            self._transport.pause_reading()

    def _resume_reading(self) -> None:
        if self._reading_paused:
            self._reading_paused = False
            self._transport.resume_reading()

    def _mark(self, by: ClosedBy, reason: str) -> None:
        record = self.record
        record.closed_by, record.reason, record.closed_at = by, reason, time.perf_counter()

    def _close(self, by: ClosedBy, reason: str, *, abort: bool = False) -> None:
        if self._closing:
            return
        self._closing = True
        self._cancel_timers()
        self._mark(by, reason)
        transport = self._transport
        if abort:
            transport.abort()
            return
        transport.close()  # flushes what is buffered first, then FIN (or TLS close_notify)
        if transport.get_write_buffer_size() > 0:
            # A client that stops reading would keep the flush, and the socket, forever.
            self._stall = self._loop.call_later(self._config.request_timeout, transport.abort)
