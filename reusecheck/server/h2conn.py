"""One connection served as HTTP/2: h2's server role driven by asyncio Protocol callbacks.

``negotiate`` decides that a connection is HTTP/2 (ALPN ``h2``, or the h2c preface) and
hands it here.  Streams are served concurrently the way the HTTP/1.1 side serves requests,
with no task per stream: a /delay stream waits on a timer while others are answered, and
bodies leave under flow control as the windows open (``h2send``).

The HTTP/1.1 close rules take their HTTP/2 form, GOAWAY (RFC 9113 6.8):

    idle_timeout   no open stream for S seconds     -> GOAWAY NO_ERROR, close
    max_requests   the Nth stream arrives           -> GOAWAY NO_ERROR naming it, at once
                                                       (as nginx's keepalive_requests);
                                                       finish the streams up to it, close
    close_always   one stream per connection        -> GOAWAY after its response, close

Streams above a GOAWAY's last_stream_id are ignored, never answered: the GOAWAY tells the
client they were not processed, so it may retry them elsewhere.  With
``h2_streams_at_once`` only that many streams are worked on (from the request's end to
the response's END_STREAM, a /delay included) at a time; the others wait their turn in a
queue, although SETTINGS advertised more.  Every wait has a clock:
the idle timer, a per-stream deadline for the request body, the stall timer for body bytes
that cannot leave, and after our GOAWAY and FIN a linger for the client's own close.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Concatenate, Final, ParamSpec, cast

from h2.config import H2Configuration
from h2.connection import ConnectionState, H2Connection
from h2.errors import ErrorCodes
from h2.events import (
    ConnectionTerminated,
    DataReceived,
    Event,
    RemoteSettingsChanged,
    RequestReceived,
    StreamEnded,
    StreamReset,
    WindowUpdated,
)
from h2.exceptions import H2Error, ProtocolError

from reusecheck.server.config import ServerConfig
from reusecheck.server.h2send import (
    Outbox,
    goaway_frame,
    request_line,
    response_headers,
    start_server,
)
from reusecheck.server.policy import StreamGate, StreamQueue
from reusecheck.server.records import ClosedBy, ConnectionRegistry, ConnRecord, format_peer
from reusecheck.server.routes import Reply, reply_for

BATCH: Final = 256 * 1024  # body bytes queued in h2 per transport write
LINGER: Final = 1.0  # after GOAWAY and FIN, wait this long for the client's close (Go: 1 s)

_P = ParamSpec("_P")


def _guarded(
    method: Callable[Concatenate[H2Protocol, _P], None],
) -> Callable[Concatenate[H2Protocol, _P], None]:
    """For callbacks from the loop: nothing after the close, and an h2 error raised by our
    own sends becomes GOAWAY INTERNAL_ERROR and a close, never a traceback in the loop."""

    def guarded(self: H2Protocol, /, *args: _P.args, **kwargs: _P.kwargs) -> None:
        if self._closing:
            return
        try:
            method(self, *args, **kwargs)
        except H2Error:
            self._fail(ErrorCodes.INTERNAL_ERROR, goaway_queued=False)

    return guarded


@dataclass(slots=True)
class _Stream:
    """A request being served, from its HEADERS to the response's END_STREAM or a reset."""

    method: bytes
    path: bytes
    timer: asyncio.TimerHandle | None = None  # the request-body deadline, then the /delay


class H2Protocol(asyncio.Protocol):
    """Serves HTTP/2 streams on one connection until the configured behaviour ends it."""

    _transport: asyncio.Transport
    record: ConnRecord

    def __init__(
        self, config: ServerConfig, registry: ConnectionRegistry, record: ConnRecord | None = None
    ) -> None:
        """``record``: the connection was accepted (and registered) by the Negotiator."""
        self._config = config
        self._registry = registry
        self._adopted = record
        self._loop = asyncio.get_running_loop()
        self._h2 = H2Connection(H2Configuration(client_side=False, header_encoding=None))
        self._outbox = Outbox(self._h2)
        self._gate = StreamGate.for_config(config)
        self.lost: asyncio.Future[None] = self._loop.create_future()
        self._streams: dict[int, _Stream] = {}
        self._goaway_sent = False
        self._timer: asyncio.TimerHandle | None = None  # the idle timer
        self._idle_since: float | None = None  # loop time it went idle, for the reaper
        self._queue = StreamQueue(config.h2_streams_at_once)
        self._starting = False  # handing out turns (_next_turn)
        self._stall: asyncio.TimerHandle | None = None  # body stalled, or the close's linger
        self._writing_paused = False
        self._closing = False

    # --- asyncio callbacks --------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)
        if self._adopted is not None:
            self.record, self._adopted = self._adopted, None
        else:
            peer = format_peer(transport.get_extra_info("peername"))
            self.record = self._registry.opened(self, peer)
        self.record.protocol = "h2"
        start_server(self._h2, self._gate.max_streams)  # the gate enforces the limit
        self._flush()
        self._arm_idle()

    @_guarded
    def data_received(self, data: bytes) -> None:
        try:
            events = self._h2.receive_data(data)
        except ProtocolError as exc:
            # A connection error (RFC 9113 5.4.1).  h2 has queued GOAWAY with its code,
            # unless the preface itself was wrong (h2 then only raises; 3.4 lets the GOAWAY
            # be omitted, but a client that chose h2 by ALPN deserves one).
            queued = self._h2.state_machine.state is ConnectionState.CLOSED
            self._fail(exc.error_code, goaway_queued=queued)
            return
        self._handle(events)
        self._flush()

    def eof_received(self) -> bool:
        if not self._closing:
            self._end("client", "eof")
        return False  # nothing is owed to a client that is gone; our FIN answers theirs

    def connection_lost(self, exc: Exception | None) -> None:
        self._closing = True
        self._cancel_timers()
        if self.record.closed_by is None:
            self._mark("client", "eof" if exc is None else "reset")
        self._registry.closed(self, self.record)
        if not self.lost.done():
            self.lost.set_result(None)

    def pause_writing(self) -> None:
        self._writing_paused = True

    @_guarded
    def resume_writing(self) -> None:
        self._writing_paused = False
        self._pump()

    def shutdown(self) -> None:
        """Server shutdown: drop the connection now, whatever it is doing."""
        if not self._closing:
            self._end("server", "shutdown")
        self._transport.abort()

    def reap(self, now: float) -> None:
        since, timeout = self._idle_since, self._config.idle_timeout
        if since is not None and timeout is not None and now - since >= timeout:
            self._idle_expired()

    # --- streams ------------------------------------------------------------------------

    def _handle(self, events: list[Event]) -> None:
        pump = False
        for event in events:
            if self._closing:
                return
            if isinstance(event, RequestReceived):
                self._on_request(event)
            elif isinstance(event, DataReceived):
                # Request bodies are read and discarded; handing the window back at once
                # keeps the client sending (RFC 9113 6.9).  Ignored streams count too.
                self._h2.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            elif isinstance(event, StreamEnded):
                self._on_request_end(event.stream_id)
            elif isinstance(event, StreamReset):
                self._forget(event.stream_id)
            elif isinstance(event, WindowUpdated | RemoteSettingsChanged):
                pump = True
            elif isinstance(event, ConnectionTerminated):
                # The client's GOAWAY.  h2 then refuses to send anything more, so the
                # streams in flight cannot finish: end here.
                self._close("client", "client-close")
                return
        if pump:
            self._pump()

    def _on_request(self, event: RequestReceived) -> None:
        stream_id = event.stream_id
        admission = self._gate.admit(stream_id, len(self._streams))
        if admission == "ignore":
            return  # above our GOAWAY's last_stream_id; h2 still kept HPACK in step
        if admission == "refuse":
            self._h2.reset_stream(stream_id, ErrorCodes.REFUSED_STREAM)
            self.record.refused += 1
            return
        if admission == "drop":
            self._close("server", "drop")  # the server vanishes without a GOAWAY
            return
        method, path = request_line(event.headers or [])
        stream = _Stream(method, path)
        stream.timer = self._loop.call_later(
            self._config.request_timeout, self._request_expired, stream_id
        )
        self._streams[stream_id] = stream
        self._disarm()
        if self._gate.drain_reason == "max-requests" and not self._goaway_sent:
            self._send_goaway()  # at once; close_always's follows the response

    def _on_request_end(self, stream_id: int) -> None:
        stream = self._streams.get(stream_id)
        if stream is None:
            return  # refused or ignored
        if stream.timer is not None:
            stream.timer.cancel()
            stream.timer = None
        if self._queue.arrive(stream_id):  # else its turn comes when a response ends
            self._work_on(stream_id, stream)

    def _work_on(self, stream_id: int, stream: _Stream) -> None:
        reply = reply_for(stream.method, stream.path)
        if reply.delay_s > 0:
            stream.timer = self._loop.call_later(reply.delay_s, self._respond, stream_id, reply)
        else:
            stream.timer = None
            self._respond(stream_id, reply)

    @_guarded
    def _respond(self, stream_id: int, reply: Reply) -> None:
        stream = self._streams.get(stream_id)
        if stream is None:
            return
        stream.timer = None
        headers = response_headers(reply)
        if stream.method == b"HEAD" or reply.content_length == 0:
            self._h2.send_headers(stream_id, headers, end_stream=True)
            self._flush()
            self._finished(stream_id)
            return
        self._h2.send_headers(stream_id, headers)
        self._outbox.add(stream_id, reply.body, reply.filler)
        self._pump()
        self._flush()

    def _pump(self) -> None:
        """Send body frames while the transport takes them and some window is open."""
        progressed = False
        while self._outbox.pending and not self._writing_paused and not self._closing:
            sent, finished = self._outbox.send(BATCH)
            self._flush()
            for stream_id in finished:
                self._finished(stream_id)
            if sent == 0:
                break  # every body waits for a WINDOW_UPDATE
            progressed = True
        if progressed or not self._outbox.pending:
            self._cancel_stall()
        if self._outbox.pending and self._stall is None and not self._closing:
            # A client that neither reads nor opens its windows would hold the body forever.
            self._stall = self._loop.call_later(self._config.request_timeout, self._stalled)

    def _finished(self, stream_id: int) -> None:
        """The response's END_STREAM is queued: the stream is done."""
        if self._streams.pop(stream_id, None) is not None:
            self.record.requests += 1
            self._next_turn(stream_id)
            self._settle()

    def _forget(self, stream_id: int) -> None:
        """The stream was reset (by the client, or by us on a timeout)."""
        stream = self._streams.pop(stream_id, None)
        if stream is not None:
            if stream.timer is not None:
                stream.timer.cancel()
            self._outbox.discard(stream_id)
            self._next_turn(stream_id)
            self._settle()

    def _next_turn(self, ended: int) -> None:
        """A stream stopped being worked on: start the waiting ones whose turn it is.  An
        instant reply ends inside ``_work_on`` and lands here again; the outer call keeps
        going, so a long queue is no deep recursion."""
        self._queue.leave(ended)
        if self._starting:
            return
        self._starting = True
        try:
            while (stream_id := self._queue.next_turn()) is not None:
                stream = self._streams.get(stream_id)
                if stream is not None and not self._closing:
                    self._work_on(stream_id, stream)
        finally:
            self._starting = False

    def _settle(self) -> None:
        """After a stream ends: close if draining and done, start the idle clock if idle."""
        if self._streams or self._closing:
            return
        if self._gate.drain_reason is not None:
            if not self._goaway_sent:
                self._send_goaway()
            self._close("server", self._gate.drain_reason)
        else:
            self._arm_idle()

    # --- timers -------------------------------------------------------------------------

    def _arm_idle(self) -> None:
        self._disarm()
        if self._config.idle_reap_interval is not None:
            self._idle_since = self._loop.time()  # the server's reaper closes it
        elif self._config.idle_timeout is not None:
            self._timer = self._loop.call_later(self._config.idle_timeout, self._idle_expired)

    def _disarm(self) -> None:
        self._idle_since = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    @_guarded
    def _idle_expired(self) -> None:
        self._timer = None
        self._send_goaway()
        self._close("server", "idle-timeout")

    @_guarded
    def _request_expired(self, stream_id: int) -> None:
        """The request body did not finish in time: give up the stream, not the connection."""
        self._h2.reset_stream(stream_id, ErrorCodes.CANCEL)
        self._forget(stream_id)
        self._flush()

    @_guarded
    def _stalled(self) -> None:
        self._stall = None
        self._end("server", "write-timeout")
        self._transport.abort()

    def _cancel_stall(self) -> None:
        if self._stall is not None:
            self._stall.cancel()
            self._stall = None

    def _cancel_timers(self) -> None:
        self._disarm()
        self._cancel_stall()
        for stream in self._streams.values():
            if stream.timer is not None:
                stream.timer.cancel()
                stream.timer = None

    # --- writing and closing ------------------------------------------------------------

    def _flush(self) -> None:
        data = self._h2.data_to_send()
        if data:
            self._write(data)

    def _write(self, data: bytes) -> None:
        if self._closing:
            return  # after write_eof the transport refuses writes; nothing is owed by then
        self._transport.write(data)
        self.record.bytes_out += len(data)

    def _send_goaway(self, code: ErrorCodes = ErrorCodes.NO_ERROR) -> None:
        last = self._gate.close_at()
        self._flush()  # h2's pending frames go first
        self._write(goaway_frame(last, code))
        self._goaway_sent = True
        self.record.goaway, self.record.last_stream_id = code.name, last

    def _fail(self, code: ErrorCodes | int, *, goaway_queued: bool) -> None:
        """A connection error: GOAWAY with ``code`` (h2's own, if it queued one), close."""
        try:
            error = ErrorCodes(code)
        except ValueError:
            error = ErrorCodes.INTERNAL_ERROR
        if goaway_queued:
            self._flush()
            self.record.goaway = error.name
            self.record.last_stream_id = self._h2.highest_inbound_stream_id
            self._goaway_sent = True
        else:
            self._send_goaway(error)
        self._close("server", "protocol-error")

    def _mark(self, by: ClosedBy, reason: str) -> None:
        record = self.record
        record.closed_by, record.reason, record.closed_at = by, reason, time.perf_counter()

    def _end(self, by: ClosedBy, reason: str) -> None:
        self._closing = True
        self._cancel_timers()
        self._mark(by, reason)

    def _close(self, by: ClosedBy, reason: str) -> None:
        """Flush, then FIN; the transport closes on the client's own close or after LINGER."""
        if self._closing:
            return
        self._flush()
        self._end(by, reason)
        transport = self._transport
        if transport.can_write_eof():
            # Keep reading after our FIN: closing now would answer frames still in flight
            # with a RST, and the client could lose the end of the last response.
            transport.write_eof()
            self._stall = self._loop.call_later(LINGER, self._linger_over)
        else:
            self._close_transport()  # TLS: close_notify, then asyncio waits for the client's

    def _linger_over(self) -> None:
        self._stall = None
        self._close_transport()

    def _close_transport(self) -> None:
        transport = self._transport
        transport.close()  # flushes what is buffered first
        if transport.get_write_buffer_size() > 0:
            # A client that stops reading would keep the flush, and the socket, forever.
            self._stall = self._loop.call_later(self._config.request_timeout, transport.abort)
