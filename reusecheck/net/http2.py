"""An HTTP/2 client connection: many streams on one connection, on the ``h2`` library.

Reuse here is multiplexing, not keep-alive: every stream after the first on a
connection is ``reused`` (Go's http2 ``cc.reused``), and the connection is idle when
it has no active streams.  Bytes reach ``h2`` straight from the Channel, and each
stream has its own waiter, so one slow stream never blocks another.

Flow control: response bytes are counted, not kept, and acknowledged as they arrive
(``acknowledge_received_data``), with a 4 MiB stream window and a 1 GiB connection
window as Go's Transport uses, so a large body streams at full speed.  Request bodies
are sent only as far as the peer's window allows.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import h2.settings

from reusecheck.net.conn import ACTIVE, CLOSED, IDLE, PooledConnection
from reusecheck.net.dial import ConnectionKey, Dialed, Timeouts
from reusecheck.net.errors import RequestError
from reusecheck.net.h2wire import (
    SETTING_NAMES,
    FrameSplitter,
    code_name,
    request_headers,
    sent_pairs,
)
from reusecheck.net.request import Request
from reusecheck.net.response import Response
from reusecheck.trace import Tracer
from reusecheck.trace.vocab import CloseReason, ErrorKind

STREAM_WINDOW = 4 * 1024 * 1024
CONNECTION_WINDOW = 1 << 30
# Assumed until the server's SETTINGS arrive (RFC 9113 6.5.2 recommends >= 100; Go
# starts from 100 too).
INITIAL_MAX_STREAMS = 100


class _Stream:
    __slots__ = ("deadline", "ended", "error", "headers", "id", "index", "unread", "waiter")

    def __init__(self, stream_id: int, index: int) -> None:
        self.id = stream_id
        self.index = index
        self.headers: list[tuple[bytes, bytes]] | None = None
        self.unread = 0
        self.ended = False
        self.error: RequestError | None = None
        self.waiter: asyncio.Future[bool] | None = None
        self.deadline = 0.0  # loop time at which the current wait times out

    def wake(self) -> None:
        w = self.waiter
        if w is not None and not w.done():
            w.set_result(True)


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
        self._streams: dict[int, _Stream] = {}
        self._frames = FrameSplitter()
        self._settings_sent: set[int] = set()  # setting codes the server ever sent
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
        self._unacked: dict[int, int] = {}  # stream id -> bytes received, not yet acknowledged
        self._last_parsed: tuple[int, list[list[str]]] = (0, [])
        self._h2 = h2.connection.H2Connection(config=config)
        self._h2.local_settings = h2.settings.Settings(
            client=True,
            initial_values={
                h2.settings.SettingCodes.ENABLE_PUSH: 0,
                h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: STREAM_WINDOW,
                h2.settings.SettingCodes.MAX_HEADER_LIST_SIZE: 64 * 1024,
            },
        )
        self._h2.initiate_connection()
        self._h2.increment_flow_control_window(CONNECTION_WINDOW - 65535)
        self.channel.attach(self)
        self._flush()

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
                self._h2.close_connection()
                self._flush()
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
        self._frames.feed(data, self._feed, self._goaway_frame)
        self._flush_soon()

    def _feed(self, data: bytes) -> bool:
        if not data:
            return True
        try:
            events = self._h2.receive_data(data)
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
                self._h2.acknowledge_received_data(size, stream_id)
        except h2.exceptions.ProtocolError:
            pass  # the connection is closing: nothing more will be read on it

    def _goaway_frame(self, payload: bytes) -> None:
        if len(payload) < 8:
            self._fatal("protocol", "HTTP/2 protocol error from the server: short GOAWAY frame")
            return
        self._goaway(
            int.from_bytes(payload[4:8], "big"),
            int.from_bytes(payload[0:4], "big") & 0x7FFFFFFF,
            bytes(payload[8:]) or None,
        )

    def on_eof(self) -> None:
        self._peer_gone("eof")

    def on_lost(self, exc: BaseException | None) -> None:
        self._peer_gone("reset" if isinstance(exc, ConnectionError) else "eof")

    def _not_h2_kind(self) -> ErrorKind:
        """h2c is prior knowledge, so a server that does not speak it is a server that
        cannot do what was asked; after ALPN chose h2 it is a broken server."""
        return "h2-not-negotiated" if self.tls is None else "protocol"

    def _peer_gone(self, how: CloseReason) -> None:
        if self.remote_closed is None:
            self.remote_closed = how
        self._drain()
        if not self._spoke_h2:
            # RFC 9113 section 3.4: a server's preface is a SETTINGS frame, sent first.
            self._fatal(
                self._not_h2_kind(),
                f"the server closed the connection ({how}) without sending HTTP/2's SETTINGS",
            )
            return
        for s in self._streams.values():
            if not s.ended and s.error is None:
                s.error = RequestError(
                    "server-closed",
                    f"server closed the connection ({how}) during stream {s.id}",
                    before_response=s.headers is None,
                )
                s.wake()
        self._wake_windows()
        if self.active == 0 and not self.closed and self.on_idle_event is not None:
            self.on_idle_event(self)

    def _fatal(self, kind: ErrorKind, message: str) -> None:
        for s in self._streams.values():
            if not s.ended and s.error is None:
                s.error = RequestError(kind, message)
                s.wake()
        self.remote_closed = self.remote_closed or "error"
        self.abort()

    def _dispatch(self, ev: Any) -> None:
        t = type(ev)
        if t is h2.events.DataReceived:
            s = self._streams.get(ev.stream_id)
            if ev.flow_controlled_length:
                unacked = self._unacked
                unacked[ev.stream_id] = unacked.get(ev.stream_id, 0) + ev.flow_controlled_length
            if s is not None:
                s.unread += len(ev.data)
                s.wake()
        elif t is h2.events.ResponseReceived:
            s = self._streams.get(ev.stream_id)
            if s is not None:
                self.tracer.emit("got_first_byte", s.index, self.id, stream_id=s.id)
                s.headers = ev.headers
                s.wake()
        elif t is h2.events.StreamEnded:
            s = self._streams.get(ev.stream_id)
            if s is not None:
                s.ended = True
                s.wake()
        elif t is h2.events.StreamReset:
            self._stream_reset(ev)
        elif t is h2.events.WindowUpdated:
            self._wake_windows()
        elif t is h2.events.RemoteSettingsChanged:
            self._settings(ev)
        elif t is h2.events.ConnectionTerminated:
            self._goaway(ev.error_code, ev.last_stream_id, ev.additional_data)

    def _stream_reset(self, ev: Any) -> None:
        s = self._streams.get(ev.stream_id)
        if s is None or s.ended:
            return
        name = code_name(ev.error_code)
        refused = ev.error_code == h2.errors.ErrorCodes.REFUSED_STREAM
        s.error = RequestError(
            "stream-reset",
            f"server reset stream {s.id}: {name}",
            before_response=refused and s.headers is None,
        )
        s.error.unprocessed = refused  # RFC 9113 8.7: a refused stream is safe to retry
        s.wake()
        self._wake_windows()

    def _settings(self, ev: Any) -> None:
        # h2's remote_settings holds its defaults for what the server never sent; the
        # record says only what the server said (null for the rest), across frames.
        self._spoke_h2 = True
        self._settings_sent.update(ev.changed_settings)
        fields: dict[str, int | None] = dict.fromkeys(SETTING_NAMES.values())
        remote = self._h2.remote_settings
        for code, name in SETTING_NAMES.items():
            fields[name] = remote.get(code) if code in self._settings_sent else None
        changed = ev.changed_settings.get(h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS)
        if changed is not None:
            self.max_streams = int(changed.new_value)
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
        if self.active == 0 and self.on_idle_event is not None:
            self.on_idle_event(self)

    def _flush(self) -> None:
        self._flush_pending = False
        out = self._h2.data_to_send()
        if out and not self.channel.lost:
            self.channel.write(out)

    def _flush_soon(self) -> None:
        """Write what h2 has queued once this turn of the loop ends: the streams that
        one read woke all start their next request in the same turn, and share one
        TLS record and one send instead of one each."""
        if not self._flush_pending:
            self._flush_pending = True
            self._loop.call_soon(self._flush)

    def _wake_windows(self) -> None:
        waiters, self._window_waiters = self._window_waiters, []
        for w in waiters:
            if not w.done():
                w.set_result(True)

    # -- a stream ------------------------------------------------------------------

    async def send(self, req: Request, index: int, close: bool = False) -> Response:
        """Open a stream, send the request, wait for the response headers."""
        h = self._h2
        headers = request_headers(req, self.key.scheme)
        try:
            sid = h.get_next_available_stream_id()
            h.send_headers(sid, headers, end_stream=not req.body)
        except (h2.exceptions.ProtocolError, h2.exceptions.NoAvailableStreamIDError) as exc:
            raise RequestError("protocol", f"cannot open a stream: {exc}") from None
        self.requests += 1
        self.last_active = self.tracer.now()
        stream = _Stream(sid, index)
        self._streams[sid] = stream
        if req.body:
            self._flush()
        else:
            self._flush_soon()
        self.tracer.emit(
            "wrote_headers", index, self.id, stream_id=sid, headers=sent_pairs(req, self.key.scheme)
        )
        try:
            # Inline rather than a helper coroutine: a coroutine frame per stream is
            # measurable at 10,000 streams a second.
            if req.body:
                await self._send_body(stream, req.body)
            self.tracer.emit("wrote_request", index, self.id, bytes=len(req.body or b""))
            timeout = self.timeouts.first_byte
            while stream.headers is None:
                if stream.error is not None:
                    raise stream.error
                await self._wait(stream, timeout, "first-byte-timeout", "response")
        except BaseException:
            self._abandon(stream)
            raise
        hdrs = stream.headers
        assert hdrs is not None
        if hdrs == self._last_headers:
            # As on HTTP/1.1: the same headers as the previous response share its text.
            status, pairs = self._last_parsed
        else:
            status = 0
            for n, v in hdrs:
                if n == b":status":
                    status = int(v)
                    break
            pairs = [
                [n.decode("latin-1"), v.decode("latin-1")]
                for n, v in hdrs
                if not n.startswith(b":")
            ]
            self._last_headers, self._last_parsed = hdrs, (status, pairs)
        self.tracer.emit(
            "response_headers",
            index,
            self.id,
            status=status,
            http_version="2",
            connection=None,
            keep_alive=None,
            headers=pairs,
        )
        return Response(self, index, status, "2", hdrs, None, sid)

    def _abandon(self, stream: _Stream) -> None:
        """A stream that failed before its response: forget it, and tell the server to
        stop working on it unless it already ended it (RST_STREAM CANCEL)."""
        self._streams.pop(stream.id, None)
        if stream.ended or stream.error is not None or self.closed:
            return
        try:
            self._h2.reset_stream(stream.id, h2.errors.ErrorCodes.CANCEL)
            self._flush()
        except h2.exceptions.ProtocolError:
            pass

    async def _send_body(self, stream: _Stream, body: bytes) -> None:
        h = self._h2
        view = memoryview(body)
        while view:
            if stream.error is not None:
                raise stream.error
            window = min(h.local_flow_control_window(stream.id), h.max_outbound_frame_size)
            if window <= 0:
                w: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
                self._window_waiters.append(w)
                await self._wait_future(w, self.timeouts.body, "body-timeout", "window update")
                continue
            chunk, view = view[:window], view[window:]
            h.send_data(stream.id, bytes(chunk), end_stream=not view)
            self._flush()
            await self.channel.drain()

    async def _wait(self, stream: _Stream, timeout: float, kind: ErrorKind, what: str) -> None:
        """Wait for the stream to be woken, at most ``timeout`` seconds.

        The streams share one timer per connection, armed for the earliest deadline
        and re-armed lazily when it fires (as HTTP1Connection does), so a wait costs a
        future and no TimerHandle of its own.
        """
        loop = self._loop
        fut: asyncio.Future[bool] = loop.create_future()
        stream.waiter = fut
        stream.deadline = loop.time() + timeout
        self._arm_timer(stream.deadline)
        try:
            ok = await fut
        finally:
            stream.waiter = None
        if not ok:
            raise RequestError(kind, f"no {what} from {self.key} within {timeout:g} s")

    def _on_timer(self) -> None:
        """Time out the streams whose wait is over; re-arm for the next deadline."""
        self._timer = None
        now = self._loop.time()
        upcoming: float | None = None
        for s in list(self._streams.values()):
            w = s.waiter
            if w is None or w.done():
                continue
            if s.deadline <= now:
                w.set_result(False)
            elif upcoming is None or s.deadline < upcoming:
                upcoming = s.deadline
        if upcoming is not None:
            self._timer = self._loop.call_at(upcoming, self._on_timer)

    async def _wait_future(
        self, fut: asyncio.Future[bool], timeout: float, kind: ErrorKind, what: str
    ) -> None:
        handle = asyncio.get_running_loop().call_later(timeout, _expire, fut)
        try:
            ok = await fut
        finally:
            handle.cancel()
        if not ok:
            raise RequestError(kind, f"no {what} from {self.key} within {timeout:g} s")

    async def read_body(self, resp: Response, limit: int | None) -> bool:
        """As HTTP1Connection.read_body: bytes counted in ``resp.bytes_read`` as they
        arrive; returns whether the whole body was read."""
        stream = self._streams.get(resp.stream_id or 0)
        if stream is None:
            return True
        n = 0
        while True:
            if stream.unread:
                n += stream.unread
                resp.bytes_read += stream.unread
                stream.unread = 0
                if limit is not None and n >= limit and not stream.ended:
                    return False
            if stream.ended:
                return True
            if stream.error is not None:
                raise stream.error
            await self._wait(stream, self.timeouts.body, "body-timeout", "body bytes")

    def finish_stream(self, resp: Response, complete: bool) -> CloseReason | None:
        """The caller is done with a stream; returns a close reason when the connection
        is finished too (GOAWAY received and no stream left)."""
        stream = self._streams.pop(resp.stream_id or 0, None)
        if stream is not None and not complete and not stream.ended and not self.closed:
            try:
                self._h2.reset_stream(stream.id, h2.errors.ErrorCodes.CANCEL)
                self._flush()
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


def _expire(fut: asyncio.Future[bool]) -> None:
    if not fut.done():
        fut.set_result(False)
