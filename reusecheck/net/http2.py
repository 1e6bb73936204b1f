"""An HTTP/2 client connection: many streams on one connection, on the ``h2`` library.

Reuse here is multiplexing, not keep-alive: every stream after the first on a
connection is ``reused`` (Go's http2 ``cc.reused``), and the connection is idle when
it has no active streams.  Bytes reach ``h2`` from the Channel through a
``FrameSplitter`` (``h2wire``), which takes out GOAWAY frames and the DATA frames of
bodies being read (counted by their stream: h2's cost per frame held a large download
to a third of curl's rate).  Each stream has its own waiter.

Flow control: response bytes are counted, not kept, and the window given back as they
arrive (h2's ``acknowledge_received_data`` once per stream per read for what h2 saw,
the splitter's WINDOW_UPDATEs for what it took out, both at half the window), with a
4 MiB stream window and a 1 GiB connection window as Go's Transport uses, so a large
body streams at full speed.  Request bodies are sent only as far as the peer's window
allows.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import h2.settings

from reusecheck.net import client_certs
from reusecheck.net.conn import ACTIVE, CLOSED, IDLE, PooledConnection
from reusecheck.net.dial import ConnectionKey, Dialed, Timeouts
from reusecheck.net.errors import RequestError
from reusecheck.net.h2stream import MAX_INFORMATIONAL as MAX_INFORMATIONAL  # tests use it
from reusecheck.net.h2stream import Stream, expire_due, no_stream_message, wait_future
from reusecheck.net.h2wire import (
    SETTING_NAMES,
    FrameSplitter,
    code_name,
    end_of_stream,
    parse_goaway,
    request_headers,
    sent_pairs,
)
from reusecheck.net.request import Request
from reusecheck.net.response import Response, keep_head, recorded_pairs
from reusecheck.trace import Tracer
from reusecheck.trace.vocab import CloseReason, ErrorKind

STREAM_WINDOW = 4 * 1024 * 1024
CONNECTION_WINDOW = 1 << 30
# Assumed until the server's SETTINGS arrive (RFC 9113 6.5.2 recommends >= 100; Go
# starts from 100 too).
INITIAL_MAX_STREAMS = 100
# What h2 queues for the server on its own (SETTINGS and PING ACKs) must leave: past
# this many unsent bytes the server has stopped reading while it keeps sending frames,
# and every frame it sends would grow our buffer.  Request bodies are written in
# chunks (h2stream.BODY_CHUNK) and wait for the buffer to drain, so they stay far below.
MAX_UNSENT = 1024 * 1024


class HTTP2Connection(PooledConnection):
    protocol = "h2"
    multiplexed = True

    def __init__(
        self, conn_id: int, key: ConnectionKey, dialed: Dialed, tracer: Tracer, timeouts: Timeouts
    ) -> None:
        super().__init__(conn_id, key, dialed, tracer, timeouts)
        self.active = 0  # streams reserved or open
        self.last_active = tracer.now()
        self.max_streams = INITIAL_MAX_STREAMS
        self.on_stream_slot: Callable[[Any], None] | None = None
        self._streams: dict[int, Stream] = {}
        # Response headers in, no END_STREAM or RST_STREAM yet: their DATA is taken out.
        # One dropped after a failure stays until its end (h2 still expects its DATA).
        self._receiving: dict[int, Stream] = {}
        self._settings_recorded: dict[str, int | None] | None = None  # last h2_settings
        self.settings_repeated = 0  # SETTINGS frames that changed nothing: counted only
        self.settings_frames = 0
        self.pings = 0
        # A connection error while no stream was open (the pool closes it with this).
        self.fatal: str | None = None
        self._spoke_h2 = False  # the server's SETTINGS (its preface) arrived
        self._window_waiters: list[asyncio.Future[bool]] = []
        # Outbound headers are built (lower-cased, hop-by-hop dropped, secrets
        # never-indexed) once per Request by _request_headers, so h2's per-send
        # validation and normalisation, most of the cost of send_headers, is skipped.
        # What the server sends is still validated.
        config = h2.config.H2Configuration(
            client_side=True,
            header_encoding=None,
            validate_outbound_headers=False,
            normalize_outbound_headers=False,
        )
        self._flush_pending = False
        self._last_headers: list[tuple[bytes, bytes]] | None = None
        self._unacked: dict[int, int] = {}  # stream id -> bytes h2 received, not acknowledged
        self._window_out = b""  # WINDOW_UPDATEs for the DATA h2 did not see
        self._last_parsed: tuple[int, list[list[str]], int] = (0, [], 0)
        self.h2 = h2.connection.H2Connection(config=config)
        self.h2.local_settings = h2.settings.Settings(
            client=True,
            initial_values={
                h2.settings.SettingCodes.ENABLE_PUSH: 0,
                h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: STREAM_WINDOW,
                h2.settings.SettingCodes.MAX_HEADER_LIST_SIZE: 64 * 1024,
            },
        )
        self.h2.initiate_connection()
        self.h2.increment_flow_control_window(CONNECTION_WINDOW - 65535)
        frames = (self._receiving, self._feed, self._goaway_frame, self._body_ended)
        self._frames = FrameSplitter(*frames, self.h2.max_inbound_frame_size)
        self.channel.attach(self)
        self.flush()

    # -- pool interface ------------------------------------------------------------

    def is_available(self) -> bool:
        """May take another stream now (is_usable, inlined: every pick asks each)."""
        state = self.state
        return (state is IDLE or state is ACTIVE) and self.active < self.max_streams

    def reserve(self) -> None:
        """One more stream will be opened on it (the pool picked it for a request)."""
        self.active += 1
        if self.state is IDLE:
            self.state = ACTIVE

    def close(self) -> None:
        """Say goodbye with GOAWAY NO_ERROR, then close (RFC 9113 6.8)."""
        if not self.closed and self.remote_closed is None:
            try:
                self.h2.close_connection()
                self.flush()
            except h2.exceptions.ProtocolError:
                pass
        self.state = CLOSED
        self.channel.close()

    def abort(self) -> None:
        self.state = CLOSED
        self.channel.abort()

    # -- Receiver ------------------------------------------------------------------

    def on_data(self, data: bytes) -> None:
        """Feed h2 everything but GOAWAY frames, which are handled here (``h2wire``)."""
        if not self._spoke_h2 and data.startswith(b"HTTP/"):
            # An HTTP/1 answer to the HTTP/2 preface: nginx and most servers send a 400.
            line = data.split(b"\r\n", 1)[0].decode("latin-1")[:80]
            self._fatal(self._not_h2_kind(), f"the server answered HTTP/1 ({line!r}), not HTTP/2")
            return
        frames = self._frames
        frames.feed(data)
        self._window_out += frames.window_updates(self.h2.local_settings.initial_window_size // 2)
        self._flush_soon()

    def _feed(self, data: bytes) -> bool:
        if not data:
            return True
        try:
            events = self.h2.receive_data(data)
        except h2.exceptions.ProtocolError as exc:
            self._fatal("protocol", f"HTTP/2 protocol error from the server: {exc}")
            return False
        for ev in events:
            self._dispatch(ev)
        if self._unacked:
            self._acknowledge()
        return True

    def _acknowledge(self) -> None:
        """Give back the flow-control window for what this read brought, once per stream
        (not once per DATA frame: nginx sends 8 KiB frames, 12,800 per 100 MiB)."""
        unacked, self._unacked = self._unacked, {}
        try:
            for stream_id, size in unacked.items():
                self.h2.acknowledge_received_data(size, stream_id)
        except h2.exceptions.ProtocolError:
            pass  # the connection is closing: nothing more will be read on it

    def _goaway_frame(self, payload: bytes) -> None:
        parsed = parse_goaway(payload)
        if parsed is not None:
            return self._goaway(*parsed)
        self._fatal("protocol", "HTTP/2 protocol error from the server: short GOAWAY frame")

    def _body_ended(self, s: Stream) -> bool:
        """A stream whose DATA h2 did not see ended (or outgrew its Content-Length): the
        length check h2 makes at END_STREAM, as the connection error h2 raises, then
        the stream ends in h2 too.  False when the connection is dead."""
        error = s.length_error(True)
        if error is not None:
            self._fatal("protocol", f"HTTP/2 protocol error from the server: {error}")
            return False
        return self._feed(end_of_stream(s.id))

    def on_eof(self) -> None:
        self._peer_gone("eof")

    def on_lost(self, exc: BaseException | None) -> None:
        refused = self.refused_by_tls(exc)
        if refused is not None:
            self._fatal("tls", refused)
            return
        self._peer_gone("reset" if isinstance(exc, ConnectionError) else "eof")

    def _not_h2_kind(self) -> ErrorKind:
        """h2c is prior knowledge, so a server that does not speak it is a server that
        cannot do what was asked; after ALPN chose h2 it is a broken server."""
        return "h2-not-negotiated" if self.tls is None else "protocol"

    def _peer_gone(self, how: CloseReason) -> None:
        if self.remote_closed is None:
            self.remote_closed = how
        self._drain()
        if not self._spoke_h2 and self.refused_silently():
            self._fatal("tls", client_certs.CLOSED_WITHOUT_ONE)
            return
        if not self._spoke_h2:
            # RFC 9113 section 3.4: a server's preface is a SETTINGS frame, sent first.
            self._fatal(
                self._not_h2_kind(),
                f"the server closed the connection ({how}) without sending HTTP/2's SETTINGS",
            )
            return
        for s in self._streams.values():
            s.fail(
                RequestError(
                    "server-closed",
                    f"server closed the connection ({how}) during stream {s.id}",
                    before_response=s.headers is None,
                )
            )
        self._wake_windows()
        if self.active == 0 and not self.closed and self.on_idle_event is not None:
            self.on_idle_event(self)

    def _fatal(self, kind: ErrorKind, message: str) -> None:
        for s in self._streams.values():
            s.fail(RequestError(kind, message))
        self.remote_closed = self.remote_closed or "error"
        self.fatal = message
        was_open = not self.closed
        self.abort()
        if was_open and self.active == 0 and self.on_idle_event is not None:
            self.on_idle_event(self)  # no stream to fail: the pool must hear it

    def _dispatch(self, ev: Any) -> None:
        t = type(ev)
        if t is h2.events.DataReceived:
            s = self._streams.get(ev.stream_id)
            if ev.flow_controlled_length:
                unacked = self._unacked
                unacked[ev.stream_id] = unacked.get(ev.stream_id, 0) + ev.flow_controlled_length
            if s is not None:
                s.unread += len(ev.data)
                s.received += len(ev.data)
                if s.head is not None:
                    keep_head(s.head, ev.data)
                s.wake()
        elif t is h2.events.ResponseReceived:
            s = self._streams.get(ev.stream_id)
            if s is not None:
                self.tracer.emit("got_first_byte", s.index, self.id, stream_id=s.id)
                s.headers = ev.headers
                self._receiving[s.id] = s
                if ev.headers and ev.headers[0][1][:1] in (b"4", b"5"):
                    s.head = bytearray()  # an error: keep what its body says
                s.wake()
        elif t is h2.events.StreamEnded:
            self._receiving.pop(ev.stream_id, None)
            s = self._streams.get(ev.stream_id)
            if s is not None:
                s.ended = True
                s.wake()
            if self._window_waiters:
                self._wake_windows()  # a stream slot may be free for one waiting to open
        elif t is h2.events.StreamReset:
            self._receiving.pop(ev.stream_id, None)
            s = self._streams.get(ev.stream_id)
            if s is not None and not s.ended:
                s.reset_by_server(ev.error_code)
                self._wake_windows()
        elif t is h2.events.WindowUpdated:
            self._wake_windows()
        elif t is h2.events.RemoteSettingsChanged:
            self._settings(ev)
        elif t is h2.events.ConnectionTerminated:
            self._goaway(ev.error_code, ev.last_stream_id, ev.additional_data)
        elif t is h2.events.PingReceived:
            self.pings += 1  # h2 queues the ACK; MAX_UNSENT bounds a flood of them
        elif t is h2.events.InformationalResponseReceived:
            s = self._streams.get(ev.stream_id)
            if s is not None:
                s.informational_response()

    def _settings(self, ev: Any) -> None:
        # The record says only what the server said (null for what it never sent, across
        # frames), as of this frame: each event's own values, not h2's remote_settings,
        # which already holds the last of the frames one read brought.
        self._spoke_h2 = True
        self.settings_frames += 1
        fields = dict(self._settings_recorded or dict.fromkeys(SETTING_NAMES.values()))
        for code, change in ev.changed_settings.items():
            name = SETTING_NAMES.get(code)
            if name is not None:
                fields[name] = int(change.new_value)
        if fields == self._settings_recorded:
            # Nothing changed (a server flooding SETTINGS repeats itself): one event per
            # change is what the record keeps; the rest are counted (conn_closed).
            self.settings_repeated += 1
            return
        self._settings_recorded = fields
        streams = fields["max_concurrent_streams"]
        if streams is not None:
            self.max_streams = streams
        self.tracer.emit("h2_settings", None, self.id, **fields)
        self._wake_windows()
        if self.on_stream_slot is not None:
            self.on_stream_slot(self)

    def _goaway(self, error_code: int, last_stream_id: int | None, data: bytes | None) -> None:
        name = code_name(error_code)
        last = int(last_stream_id or 0)
        if self.goaway is not None and self.goaway[1] <= last:
            return  # a repeated GOAWAY may only lower last_stream_id (RFC 9113 6.8)
        self.goaway = (name, last)
        self._drain()
        unprocessed = [s.index for sid, s in self._streams.items() if sid > last]
        extra = data.decode("utf-8", "replace") if data else None
        self.tracer.emit(
            "h2_goaway",
            None,
            self.id,
            error_code=name,
            last_stream_id=last,
            additional_data=extra,
            unprocessed=unprocessed,
        )
        for sid, s in self._streams.items():
            if s.ended or s.error is not None:
                continue
            if sid > last:
                s.error = RequestError(
                    "goaway",
                    f"server sent GOAWAY ({name}) before processing stream {sid}",
                    before_response=True,
                )
                s.error.unprocessed = True  # RFC 9113 6.8: safe to retry elsewhere
                s.wake()
            elif name != "NO_ERROR":
                s.error = RequestError("goaway", f"server sent GOAWAY ({name}) on stream {sid}")
                s.wake()
        self._wake_windows()
        if self.active == 0 and self.on_idle_event is not None:
            self.on_idle_event(self)

    def flush(self) -> None:
        self._flush_pending = False
        out = self.h2.data_to_send()
        if self._window_out:
            out, self._window_out = out + self._window_out, b""
        if out and not self.channel.lost and self.state is not CLOSED:
            self.channel.write(out)
            if self.channel.unsent() > MAX_UNSENT:
                self._stopped_reading()

    def _stopped_reading(self) -> None:
        """The server sends frames h2 must answer (SETTINGS, PING) and reads none of
        the answers: end it before our buffer grows with every frame."""
        self._fatal(
            "protocol",
            f"the server stopped reading while sending frames: "
            f"{self.channel.unsent() // 1024} KiB of our replies unsent (it sent "
            f"{self.settings_frames} SETTINGS and {self.pings} PING frames)",
        )

    def _flush_soon(self) -> None:
        """Write what h2 has queued once this turn of the loop ends: the streams that
        one read woke all start their next request in the same turn, and share one
        TLS record and one send instead of one each."""
        if not self._flush_pending:
            self._flush_pending = True
            self._loop.call_soon(self.flush)

    def _wake_windows(self) -> None:
        waiters, self._window_waiters = self._window_waiters, []
        for w in waiters:
            if not w.done():
                w.set_result(True)

    # -- a stream ------------------------------------------------------------------

    async def send(self, req: Request, index: int, close: bool = False) -> Response:
        """Open a stream, send the request, wait for the response headers."""
        h = self.h2
        headers = request_headers(req, self.key.scheme)
        if h.open_outbound_streams >= self.max_streams:
            await self._stream_slot()
        try:
            sid = h.get_next_available_stream_id()
            h.send_headers(sid, headers, end_stream=not req.body)
        except (h2.exceptions.ProtocolError, h2.exceptions.NoAvailableStreamIDError) as exc:
            raise RequestError("protocol", f"cannot open a stream: {exc}") from None
        self.requests += 1
        self.last_active = self.tracer.now()
        stream = Stream(self, sid, index)
        if req.method == "HEAD":
            stream.expected = 0  # as h2 counts a response to HEAD
        self._streams[sid] = stream
        if req.body:
            self.flush()
        else:
            self._flush_soon()
        self.tracer.emit(
            "wrote_headers", index, self.id, stream_id=sid, headers=sent_pairs(req, self.key.scheme)
        )
        try:
            # Inline rather than a helper coroutine: a coroutine frame per stream is
            # measurable at 10,000 streams a second.
            if req.body:
                await stream.send_body(req.body)
            self.tracer.emit("wrote_request", index, self.id, bytes=len(req.body or b""))
            # One deadline from the request written: frames that are not this stream's
            # response (PINGs, WINDOW_UPDATEs, 1xx) do not extend it.
            timeout = self.timeouts.first_byte
            deadline = self._loop.time() + timeout
            while stream.headers is None:
                if stream.error is not None:
                    raise stream.error
                await stream.wait(deadline, "first-byte-timeout", "response", timeout)
        except BaseException:
            self._abandon(stream)
            raise
        hdrs = stream.headers
        assert hdrs is not None
        if hdrs == self._last_headers:
            # As on HTTP/1.1: the same headers as the previous response share its text.
            status, pairs, omitted = self._last_parsed
        else:
            status = 0
            for n, v in hdrs:
                if n == b":status":
                    status = int(v)
                    break
            pairs, omitted = recorded_pairs(hdrs, skip_pseudo=True)
            self._last_headers, self._last_parsed = hdrs, (status, pairs, omitted)
        self.tracer.emit(
            "response_headers",
            index,
            self.id,
            status=status,
            http_version="2",
            connection=None,
            keep_alive=None,
            headers=pairs,
            **({"headers_omitted": omitted} if omitted else {}),
        )
        resp = Response(self, index, status, "2", hdrs, None, sid)
        resp.head = stream.head
        return resp

    def _abandon(self, stream: Stream) -> None:
        """A stream that failed before its response: forget it, and tell the server to
        stop working on it unless it already ended it (RST_STREAM CANCEL)."""
        self._streams.pop(stream.id, None)
        if stream.ended or stream.error is not None or self.closed:
            return
        self._receiving.pop(stream.id, None)
        try:
            self.h2.reset_stream(stream.id, h2.errors.ErrorCodes.CANCEL)
            self.flush()
        except h2.exceptions.ProtocolError:
            pass

    async def _stream_slot(self) -> None:
        """Wait, at most the first-byte timeout, until the server's stream limit lets
        one more stream open: its SETTINGS lowered the limit (to 0: a server shedding
        load) after the pool picked this connection."""
        timeout = self.timeouts.first_byte
        deadline = self._loop.time() + timeout
        while self.h2.open_outbound_streams >= self.max_streams:
            if self.goaway is not None:
                err = RequestError(
                    "goaway", f"server sent GOAWAY ({self.goaway[0]}) before a stream could open"
                )
                err.unprocessed = err.before_response = True
                raise err
            if self.state is CLOSED or self.remote_closed:
                raise RequestError(
                    "server-closed",
                    f"server closed the connection ({self.remote_closed or 'closed'}) before "
                    "a stream could open",
                    before_response=True,
                )
            await wait_future(
                self.window_waiter(),
                deadline,
                RequestError("first-byte-timeout", self.no_stream(timeout)),
            )

    def no_stream(self, timeout: float) -> str:
        """Why a request waited its first-byte timeout for a stream on this connection."""
        return no_stream_message(self.key, self.max_streams, timeout)

    def read_body(self, resp: Response, limit: int | None) -> Coroutine[Any, Any, bool]:
        """As HTTP1Connection.read_body (the stream's own ``read``: returned, not awaited
        here, so a read costs one coroutine frame)."""
        stream = self._streams.get(resp.stream_id or 0)
        return stream.read(resp, limit) if stream is not None else _read_nothing()

    def on_timer(self) -> None:
        """Time out the streams whose wait is over; re-arm for the next deadline."""
        self._timer = None
        upcoming = expire_due(self._streams.values(), self._loop.time())
        if upcoming is not None:
            self._timer = self._loop.call_at(upcoming, self.on_timer)

    def window_waiter(self) -> asyncio.Future[bool]:
        """A future woken when the flow-control window or the stream limit may have
        moved (WINDOW_UPDATE, SETTINGS, a stream ending)."""
        w: asyncio.Future[bool] = self._loop.create_future()
        self._window_waiters.append(w)
        return w

    def finish_stream(self, resp: Response, complete: bool) -> CloseReason | None:
        """The caller is done with a stream; returns a close reason when the connection
        is finished too (GOAWAY received and no stream left)."""
        stream = self._streams.pop(resp.stream_id or 0, None)
        if stream is not None and not complete and not stream.ended and not self.closed:
            self._receiving.pop(stream.id, None)
            try:
                self.h2.reset_stream(stream.id, h2.errors.ErrorCodes.CANCEL)
                self.flush()
            except h2.exceptions.ProtocolError:
                pass
        return self.release()

    def release(self) -> CloseReason | None:
        """One reserved stream slot is free again; returns a close reason when that was
        the last stream of a connection the server ended."""
        self.active -= 1
        self.last_active = self.tracer.now()
        if self.active:
            return None
        if self.state is ACTIVE:
            self.state = IDLE
        if self.goaway is not None or self.remote_closed:
            return "goaway" if self.goaway is not None else self.remote_closed
        return None

    def drop_stream(self, resp_stream_id: int | None) -> None:
        if resp_stream_id is not None:
            self._streams.pop(resp_stream_id, None)


async def _read_nothing() -> bool:
    return True
