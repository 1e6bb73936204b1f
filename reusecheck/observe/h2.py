"""A client's HTTP/2 connection (ALPN h2, or h2c with prior knowledge), served with h2's
server role and recorded: its streams, how many at once, and how it ended.

A reader loop feeds h2 and starts a task per complete request; the tasks answer under
flow control (RFC 9113 5.2: a DATA frame only as large as both windows allow).  Waits:
idle (no stream open) -> the keep-alive timeout, then GOAWAY; a window that does not
open -> request_timeout.  Streams over the announced SETTINGS_MAX_CONCURRENT_STREAMS are
refused (RST_STREAM REFUSED_STREAM, 5.1.2).
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

from h2.config import H2Configuration
from h2.connection import H2Connection
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
from h2.exceptions import H2Error

from reusecheck.analysis.observed.model import ObservedConnection, ObservedRequest
from reusecheck.observe.answer import Answer, Header, Incoming, content_length, entity_headers
from reusecheck.observe.book import Book
from reusecheck.observe.config import ObserveConfig
from reusecheck.observe.wire import ClientGone, Stalled, Wire
from reusecheck.server.config import DEFAULT_MAX_STREAMS
from reusecheck.server.h2send import start_server


@dataclass(slots=True)
class _Stream:
    id: int
    record: ObservedRequest
    headers: list[Header]
    body: bytearray = field(default_factory=bytearray)
    too_big: bool = False
    task: asyncio.Task[None] | None = None
    sent: int = 0
    expected: int | None = None
    status: int | None = None
    ended: bool = False
    last_write_s: float | None = None


class _StreamResponse:
    """The Responder for one stream."""

    def __init__(self, session: H2Session, stream: _Stream) -> None:
        self._s = session
        self._stream = stream

    async def head(self, status: int, headers: list[Header]) -> None:
        out = [(b":status", b"%d" % status)]
        out += [(n.lower(), v) for n, v in entity_headers(headers)]
        self._stream.status = status
        self._stream.expected = content_length(out)
        self._s.h2.send_headers(self._stream.id, out)
        await self._s.flush()
        self._s.book.response_head(self._s.conn)

    async def body(self, data: bytes) -> None:
        s, sid = self._s, self._stream.id
        view = memoryview(data)
        while view:
            window = min(s.h2.local_flow_control_window(sid), s.h2.max_outbound_frame_size)
            if window <= 0:
                await s.window_opens()
                continue
            chunk, view = view[:window], view[window:]
            s.h2.send_data(sid, bytes(chunk))
            self._stream.sent += len(chunk)
            self._stream.last_write_s = s.book.clock.now()
            await s.flush()

    async def end(self) -> None:
        self._s.h2.end_stream(self._stream.id)
        self._stream.ended = True
        self._stream.last_write_s = self._s.book.clock.now()
        await self._s.flush()


class H2Session:
    """Serves and records one HTTP/2 client connection until it ends."""

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
        self.h2 = H2Connection(H2Configuration(client_side=False, header_encoding=None))
        self.max_streams = config.server.max_streams or DEFAULT_MAX_STREAMS
        self._streams: dict[int, _Stream] = {}
        self._window = asyncio.Event()
        self._goaway_from_client = False

    async def run(self, initial: bytes) -> None:
        self.book.speaks(self.conn, "h2")
        self.conn.max_concurrent_streams = self.max_streams
        start_server(self.h2, self.max_streams)
        try:
            await self.flush()
            if initial:
                await self._feed(initial)
            while not self._goaway_from_client or self._streams:
                idle = not self._streams
                timeout = self.config.server.idle_timeout if idle else None
                data = await self.wire.read(timeout, "idle-timeout")
                await self._feed(data)
            self.book.closed(self.conn, "client", "goaway", "fin")
            await self.wire.close()
        except ClientGone as gone:
            self._cut_streams()
            self.book.closed(
                self.conn, "client", "eof" if gone.kind == "fin" else "reset", gone.kind
            )
        except Stalled as stalled:
            await self._goaway()
            self.book.closed(self.conn, "server", stalled.reason)
        except H2Error:
            self._cut_streams()
            self.book.closed(self.conn, "server", "bad-request")
        finally:
            for stream in list(self._streams.values()):
                if stream.task is not None:
                    stream.task.cancel()

    async def flush(self) -> None:
        data = self.h2.data_to_send()
        if data:
            await self.wire.write(data, self.config.server.request_timeout)

    async def window_opens(self) -> None:
        self._window.clear()
        try:
            await asyncio.wait_for(self._window.wait(), self.config.server.request_timeout)
        except TimeoutError:
            raise Stalled("write-timeout") from None

    async def _feed(self, data: bytes) -> None:
        for event in self.h2.receive_data(data):
            self._on_event(event)
        await self.flush()

    def _on_event(self, event: Event) -> None:
        if isinstance(event, RequestReceived):
            self._on_request(event)
        elif isinstance(event, DataReceived):
            stream = self._streams.get(event.stream_id)
            self.h2.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            if stream is not None:
                if len(stream.body) + len(event.data) > self.config.max_request_body:
                    stream.too_big = True
                else:
                    stream.body += event.data
        elif isinstance(event, StreamEnded):
            stream = self._streams.get(event.stream_id)
            if stream is not None and stream.task is None:
                stream.task = asyncio.get_running_loop().create_task(self._answer(stream))
        elif isinstance(event, StreamReset):
            stream = self._streams.pop(event.stream_id, None)
            if stream is not None:
                self.book.stream_reset(self.conn, stream.record)
                self._done(stream, "the client reset the stream")
                if stream.task is not None:
                    stream.task.cancel()
        elif isinstance(event, (WindowUpdated, RemoteSettingsChanged)):
            self._window.set()
        elif isinstance(event, ConnectionTerminated):
            self._goaway_from_client = True

    def _on_request(self, event: RequestReceived) -> None:
        headers = [(bytes(n), bytes(v)) for n, v in event.headers]
        pseudo = {n: v for n, v in headers if n.startswith(b":")}
        if len(self._streams) >= self.max_streams:
            self.h2.reset_stream(event.stream_id, ErrorCodes.REFUSED_STREAM)
            return
        agent = next((v for n, v in headers if n == b"user-agent"), None)
        record = self.book.request(
            self.conn,
            pseudo.get(b":method", b"GET").decode("ascii", "replace"),
            pseudo.get(b":path", b"/").decode("latin-1"),
            agent.decode("latin-1") if agent is not None else None,
            stream_id=event.stream_id,
        )
        regular = [(n, v) for n, v in headers if not n.startswith(b":")]
        if b":authority" in pseudo:
            regular.append((b"host", pseudo[b":authority"]))
        self._streams[event.stream_id] = _Stream(event.stream_id, record, regular)

    async def _answer(self, stream: _Stream) -> None:
        out = _StreamResponse(self, stream)
        try:
            if stream.too_big:
                text = b"request body over the observer's limit\n"
                await out.head(413, [(b"content-length", b"%d" % len(text))])
                await out.body(text)
                await out.end()
            else:
                rec = stream.record
                incoming = Incoming(
                    rec.index, rec.method, rec.target, stream.headers, bytes(stream.body)
                )
                await self.answer.answer(incoming, out)
        except (ClientGone, Stalled, H2Error, OSError):
            self._done(stream, "the response could not be sent")
            with contextlib.suppress(H2Error):
                self.h2.reset_stream(stream.id, ErrorCodes.INTERNAL_ERROR)
        else:
            self._done(stream, None)
        finally:
            self._streams.pop(stream.id, None)

    def _done(self, stream: _Stream, error: str | None) -> None:
        self.book.responded(
            self.conn,
            stream.record,
            status=stream.status,
            body_bytes=stream.sent,
            expected=stream.expected,
            complete=stream.ended and error is None,
            error=error,
            last_write_s=stream.last_write_s if stream.ended and error is None else None,
        )

    def _cut_streams(self) -> None:
        for stream in list(self._streams.values()):
            self._done(stream, "the client closed the connection")

    async def _goaway(self) -> None:
        with contextlib.suppress(H2Error, ClientGone, Stalled):
            self.h2.close_connection()
            await self.flush()
        await self.wire.close()
