"""Loopback servers that write exact bytes, and connections dialled to them.

For wire behaviour the built-in server never shows (an HTTP/1.0 keep-alive answer, a
408 on an idle connection, a GOAWAY sent before the last responses), a test writes the
bytes itself: ``ScriptedServer`` runs one handler coroutine per accepted connection.
HTTP/2 frames are written raw (RFC 9113 section 4.1), as ``server/misbehave.py`` does.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections.abc import Awaitable, Callable, Coroutine
from types import TracebackType
from typing import Any, Final, TypeVar

from reusecheck.net.dial import ConnectionKey, Timeouts, dial
from reusecheck.net.http1 import HTTP1Connection
from reusecheck.net.http2 import HTTP2Connection
from reusecheck.net.tls import TLSOptions
from reusecheck.trace import Event, Recorder, Tracer

T = TypeVar("T")

# Short enough that a test never waits long, long enough for a loaded machine.
FAST: Final = Timeouts(connect=2.0, tls=2.0, first_byte=2.0, body=2.0)

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def run(coro: Coroutine[Any, Any, T], timeout: float = 20.0) -> T:
    """Run one test's coroutine on a fresh loop; nothing may hang past ``timeout``."""
    return asyncio.run(asyncio.wait_for(coro, timeout))


# The smallest keep-alive response the scripted servers answer with.
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


class ScriptedServer:
    """Listens on 127.0.0.1; every connection is handed to ``handler``.

    The handler's errors from a client going away are swallowed; the connection is
    closed when the handler returns, and everything is torn down on exit.
    """

    def __init__(self, handler: Handler) -> None:
        self._handler = handler
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self.port = 0
        self.accepted = 0

    @property
    def key(self) -> ConnectionKey:
        return ConnectionKey("http", "127.0.0.1", self.port)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    async def __aenter__(self) -> ScriptedServer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._server is not None
        self._server.close()
        for w in self._writers:
            w.transport.abort()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._server.wait_closed(), 2.0)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        self._writers.append(writer)
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await self._handler(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        except asyncio.CancelledError:
            # Torn down on exit.  Ending normally keeps asyncio's stream callback from
            # logging the cancellation as an unhandled exception.
            pass
        finally:
            self._tasks.discard(task)
            writer.close()


async def read_head(reader: asyncio.StreamReader) -> bytes:
    """One request's head (these tests send no request bodies over HTTP/1.1)."""
    return await reader.readuntil(b"\r\n\r\n")


def reset(writer: asyncio.StreamWriter) -> None:
    """Close with an RST instead of a FIN (SO_LINGER with a zero timeout)."""
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


# -- HTTP/2 frames (RFC 9113 section 4.1) ---------------------------------------------

PREFACE: Final = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, RST_STREAM, SETTINGS, GOAWAY = 0x0, 0x1, 0x3, 0x4, 0x7
END_STREAM, ACK, END_HEADERS = 0x1, 0x1, 0x4
STATUS_200: Final = b"\x88"  # HPACK: ":status: 200" is static-table index 8


def frame(ftype: int, flags: int, stream: int, payload: bytes = b"") -> bytes:
    return (
        struct.pack(">I", len(payload))[1:]
        + bytes([ftype, flags])
        + struct.pack(">I", stream)
        + payload
    )


def settings_frame(values: dict[int, int]) -> bytes:
    return frame(SETTINGS, 0, 0, b"".join(struct.pack(">HI", k, v) for k, v in values.items()))


def goaway_frame(last_stream_id: int, code: int = 0, data: bytes = b"") -> bytes:
    return frame(GOAWAY, 0, 0, struct.pack(">II", last_stream_id, code) + data)


class H2Peer:
    """The server side of a raw h2c connection: reads frames, ACKs SETTINGS."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def start(self, settings: dict[int, int]) -> None:
        """Read the client's preface, send ours (a SETTINGS frame)."""
        assert await self.reader.readexactly(len(PREFACE)) == PREFACE
        self.writer.write(settings_frame(settings))

    async def frame(self) -> tuple[int, int, int, bytes]:
        """The next frame from the client (SETTINGS are ACKed on the way)."""
        while True:
            head = await self.reader.readexactly(9)
            length = int.from_bytes(head[:3], "big")
            ftype, flags = head[3], head[4]
            stream = int.from_bytes(head[5:9], "big") & 0x7FFFFFFF
            payload = await self.reader.readexactly(length)
            if ftype == SETTINGS and not flags & ACK:
                self.writer.write(frame(SETTINGS, ACK, 0))
                continue
            return ftype, flags, stream, payload

    async def streams_opened(self, n: int) -> list[int]:
        """Wait for ``n`` HEADERS frames (requests without bodies); their stream ids."""
        ids: list[int] = []
        while len(ids) < n:
            ftype, _, stream, _ = await self.frame()
            if ftype == HEADERS:
                ids.append(stream)
        return ids

    def respond(self, stream: int, body: bytes = b"") -> bytes:
        """A 200 for ``stream`` (HEADERS, then DATA when there is a body), as bytes."""
        if not body:
            return frame(HEADERS, END_HEADERS | END_STREAM, stream, STATUS_200)
        return frame(HEADERS, END_HEADERS, stream, STATUS_200) + frame(
            DATA, END_STREAM, stream, body
        )


# -- connections ----------------------------------------------------------------------


def recorder_tracer() -> tuple[Recorder, Tracer]:
    rec = Recorder()
    return rec, Tracer(rec)


async def open_h1(
    key: ConnectionKey,
    tracer: Tracer,
    timeouts: Timeouts = FAST,
    conn_id: int = 1,
    tls: TLSOptions | None = None,
) -> HTTP1Connection:
    dialed = await dial(key, conn_id, 0, tracer, timeouts, tls or TLSOptions())
    return HTTP1Connection(conn_id, key, dialed, tracer, timeouts)


async def open_h2(
    key: ConnectionKey, tracer: Tracer, timeouts: Timeouts = FAST, conn_id: int = 1
) -> HTTP2Connection:
    """h2c with prior knowledge (or h2 by ALPN when ``key`` is https)."""
    tls = TLSOptions(alpn=("h2",))
    dialed = await dial(key, conn_id, 0, tracer, timeouts, tls)
    return HTTP2Connection(conn_id, key, dialed, tracer, timeouts)


def fields(events: list[Event]) -> list[dict[str, Any]]:
    """Each event as its conn, request and fields: what a test compares."""
    return [{"request": e.request, "conn": e.conn, **e.fields} for e in events]


def spans_closed(events: list[Event]) -> bool:
    """Every ``*_start`` is followed by its ``*_done`` (per connection), none left open."""
    open_: dict[tuple[str, int | None], int] = {}
    for e in events:
        for name in ("dns", "connect", "tls"):
            k = (name, e.conn)
            if e.event == f"{name}_start":
                open_[k] = open_.get(k, 0) + 1
            elif e.event == f"{name}_done":
                if not open_.get(k):
                    return False
                open_[k] -= 1
    return not any(open_.values())


def loopback(port: int, scheme: str = "http") -> ConnectionKey:
    return ConnectionKey(scheme, "127.0.0.1", port)


def idle_then(action: str, go: asyncio.Event) -> ScriptedServer:
    """Answers one request, waits until the test sets ``go``, then ends the idle
    connection: ``eof`` (a FIN), ``reset`` (RST), or ``408`` (says why, then closes, as
    some servers do before closing an idle connection)."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_head(reader)
        writer.write(OK)
        await go.wait()
        if action == "408":
            writer.write(b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n")
            await writer.drain()
        elif action == "reset":
            reset(writer)

    return ScriptedServer(handler)
