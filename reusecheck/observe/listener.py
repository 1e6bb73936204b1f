"""The observer: listens, tells each connection's protocol, serves and records it, and
ends the observation (``--duration``, ``--requests N`` then a linger, or ``stop()``).

Protocol per connection (RFC 9113 3): with TLS, ALPN decides (h2 or HTTP/1.1); in
cleartext, the first bytes: the h2c connection preface, or an HTTP/1.1 request.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Callable
from typing import Final

from reusecheck.observe.answer import Answer
from reusecheck.observe.book import Book
from reusecheck.observe.config import ObserveConfig
from reusecheck.observe.h1 import H1Session
from reusecheck.observe.h2 import H2Session
from reusecheck.observe.wire import ClientGone, Stalled, Wire
from reusecheck.server.certs import make_bundle, server_context, write_ca
from reusecheck.server.config import DEFAULT_MAX_STREAMS
from reusecheck.server.records import format_peer

PREFACE: Final = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
ALPN: Final = ("h2", "http/1.1")
CLOSE_TIMEOUT: Final = 5.0  # bound on the connections' ends after the observation
TLS_HANDSHAKE_TIMEOUT: Final = 10.0
SETTLE_S: Final = 0.1  # at the end, for closes already on the wire


def tls_context(config: ObserveConfig) -> ssl.SSLContext:
    """The given certificate and key, or a CA and leaf made now (the CA written to
    ``config.ca_out`` when asked, for the client to trust)."""
    if config.tls_cert is not None:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(config.tls_cert, config.tls_key)
        ctx.set_alpn_protocols(list(ALPN))
        return ctx
    bundle = make_bundle(config.server.cert_names)
    if config.ca_out is not None:
        write_ca(bundle, config.ca_out)
    return server_context(bundle, alpn=ALPN)


class Observer:
    """One observation on the running loop: ``start``, then ``wait``, then ``close``."""

    def __init__(self, config: ObserveConfig, book: Book, answer: Answer) -> None:
        self.config = config
        self.book = book
        self.answer = answer
        self.done = asyncio.Event()  # the observation should end
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._wires: dict[int, Wire] = {}
        self._answered_all = asyncio.Event()
        self.port = 0
        self.stopped_by = ""
        self.max_streams = config.server.max_streams or DEFAULT_MAX_STREAMS
        book.on_answered = self.on_answered

    @property
    def url(self) -> str:
        host = self.config.host
        if ":" in host:
            host = f"[{host}]"
        return f"{self.config.scheme}://{host}:{self.port}/"

    def on_answered(self, count: int) -> None:
        """The book's callback: ``--requests N`` reached starts the end."""
        wanted = self.config.requests
        if wanted is not None and count >= wanted:
            self._answered_all.set()

    async def start(self) -> None:
        """Bind and listen; OSError (port in use, address not local) propagates."""
        ctx = None
        if self.config.tls:
            ctx = await asyncio.to_thread(tls_context, self.config)
        self._server = await asyncio.start_server(
            self._accept,
            self.config.host,
            self.config.port,
            ssl=ctx,
            ssl_handshake_timeout=TLS_HANDSHAKE_TIMEOUT if ctx is not None else None,
            backlog=1024,
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def wait(self, stop: asyncio.Event) -> None:
        """Until ``stop`` is set (a signal), ``--duration`` passes, or ``--requests N``
        were answered and the client's connections closed (at most the linger)."""
        waits = [
            asyncio.ensure_future(stop.wait()),
            asyncio.ensure_future(self._answered_all.wait()),
        ]
        try:
            done, _ = await asyncio.wait(
                waits, timeout=self.config.duration, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            for w in waits:
                w.cancel()
        if not done:
            self.stopped_by = "duration"
        elif stop.is_set():
            self.stopped_by = "signal"
        else:
            self.stopped_by = "requests"
            await self._linger(stop)

    async def _linger(self, stop: asyncio.Event) -> None:
        """After the last answer, let the client close (its closing is evidence)."""
        loop = asyncio.get_running_loop()
        end = loop.time() + self.config.linger
        while self.book.live and loop.time() < end and not stop.is_set():
            await asyncio.sleep(0.02)

    async def close(self) -> None:
        """Stop listening, end every connection (end-of-run), close the answer."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
        # A client that closed just before the end (its process exiting as a CI job
        # stops the observer) has its FIN or RST waiting in the selector: let the loop
        # read it, so its close is the client's and not end-of-run.
        await asyncio.sleep(SETTLE_S)
        for conn in self.book.connections:
            if conn.closed_s is None:
                self.book.closed(conn, "server", "end-of-run")
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=CLOSE_TIMEOUT)
        for wire in self._wires.values():
            wire.abort()
        if server is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(server.wait_closed(), CLOSE_TIMEOUT)
        await self.answer.close()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        wire = Wire(reader, writer)
        ssl_object = writer.get_extra_info("ssl_object")
        alpn = ssl_object.selected_alpn_protocol() if ssl_object is not None else None
        conn = self.book.opened(
            format_peer(writer.get_extra_info("peername")),
            format_peer(writer.get_extra_info("sockname")),
            ssl_object is not None,
            alpn,
        )
        self._wires[conn.id] = wire
        try:
            if ssl_object is not None:
                h2 = alpn == "h2"
                initial = b""
            else:
                h2, initial = await self._sniff(wire)
            session = H2Session if h2 else H1Session
            await session(wire, conn, self.book, self.answer, self.config).run(initial)
        except ClientGone as gone:
            self.book.closed(conn, "client", "eof" if gone.kind == "fin" else "reset", gone.kind)
        except Stalled as stalled:
            self.book.closed(conn, "server", stalled.reason)
        except asyncio.CancelledError:
            self.book.closed(conn, "server", "end-of-run")
        finally:
            self._wires.pop(conn.id, None)
            if conn.close_reason == "end-of-run":
                wire.abort()  # the observation is over: no lingering TLS close
            with contextlib.suppress(Exception):
                writer.close()
            self._tasks.discard(task)

    async def _sniff(self, wire: Wire) -> tuple[bool, bytes]:
        """h2c prior knowledge or HTTP/1.1, from the first bytes (held and replayed)."""
        held = b""
        timeout = self.config.server.idle_timeout
        while True:
            held += await wire.read(timeout, "idle-timeout")
            timeout = self.config.server.request_timeout
            if not PREFACE.startswith(held[: len(PREFACE)]):
                return False, held
            if len(held) >= len(PREFACE):
                return True, held


async def observe(
    config: ObserveConfig,
    book: Book,
    answer: Answer,
    stop: asyncio.Event,
    on_listening: Callable[[str], None],
) -> Observer:
    """One whole observation: listen, announce, wait for the end, close."""
    observer = Observer(config, book, answer)
    await observer.start()
    try:
        on_listening(observer.url)
        await observer.wait(stop)
    finally:
        await observer.close()
    return observer
