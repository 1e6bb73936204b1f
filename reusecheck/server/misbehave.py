"""A deliberately broken target: each KIND is one way real servers go wrong.

reusecheck is pointed at staging hosts that are not yet known to be healthy, so it must
end every run within its timeouts with one clear sentence, whatever the server does.
``reusecheck serve --misbehave KIND`` lets a user see that for themselves, and the
tests run every kind against the client.  The responses are raw bytes written here,
not h11 or h2, because the point is to break the protocol in exact ways; the HTTP/2
kinds are ``misbehave_h2.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from reusecheck.server.certs import CertBundle, make_bundle, self_signed, server_context
from reusecheck.server.misbehave_h2 import H2Misbehaviour

_OK_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"

# kind -> what the server does (shown by `serve --misbehave list` and in the docs)
KINDS: Final[dict[str, str]] = {
    "never-answer": "accepts, reads the request, never answers",
    "stall-body": "sends the headers and 10 of 1000 body bytes, then stalls",
    "drip": "sends the body one byte per second",
    "bad-status": "answers with a malformed status line",
    "huge-headers": "sends more than 64 KiB of response headers",
    "extra-body": "sends more body bytes than its Content-Length",
    "short-body": "sends fewer body bytes than its Content-Length, then closes",
    "bad-chunked": "sends a chunked body with an invalid chunk size",
    "rst-mid-body": "resets the connection (RST) in the middle of the body",
    "close-on-accept": "closes every connection right after accepting it",
    "tls-wrong-name": "TLS certificate for another host name",
    "tls-expired": "TLS certificate that expired yesterday",
    "tls-self-signed": "self-signed TLS certificate",
    "tls-stall": "accepts TCP, never answers the TLS handshake",
    "h2-bad-frame": "h2c: answers the preface with a frame of an impossible size",
    "h2-bad-settings": "h2c: SETTINGS with an invalid INITIAL_WINDOW_SIZE",
    "h2-hpack-garbage": "h2c: HEADERS whose HPACK block is garbage",
    "h2-goaway-storm": "h2c: a GOAWAY on every connection as soon as it opens",
    "h2-rst-every-stream": "h2c: RST_STREAM (INTERNAL_ERROR) on every stream",
    "h2-zero-window": "h2c: a zero flow-control window that never opens; responses stall "
    "after their headers",
    "h2-refuse-stream": "h2c: refuses the second stream of every connection (RST_STREAM "
    "REFUSED_STREAM) although it announced 100",
    "h2-calm": "h2c: answers the first stream of every connection, then GOAWAY "
    "ENHANCE_YOUR_CALM ('too many resets')",
    "early-hints": "answers every request with 103 Early Hints, again and again, and "
    "never with the response",
    "many-headers": "answers with 10,000 response headers (under the 64 KiB limit)",
    "late-response": "answers, then 50 ms later sends a second response nobody asked for",
    "keepalive-inf": "answers with 'Keep-Alive: timeout=inf, max=nan'",
    "never-read": "accepts, never reads a byte (a request body stays unsent), never answers",
    "h2-settings-flood": "h2c: floods identical SETTINGS frames and never reads again",
    "h2-empty-data": "h2c: answers with headers, then empty DATA frames forever",
    "h2-no-streams": "h2c: announces SETTINGS_MAX_CONCURRENT_STREAMS 0 and refuses every stream",
}

_EARLY_HINTS: Final = b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"
# 10,000 one-letter headers: 60 KB, under the 64 KiB any client must accept.
_MANY_HEADERS: Final = b"x:1\r\n" * 10_000


class _Misbehaving(H2Misbehaviour, asyncio.Protocol):
    def __init__(self, kind: str, tasks: set[asyncio.Task[None]]) -> None:
        self.kind = kind
        self.tasks = tasks
        self.transport: asyncio.Transport | None = None
        self.buffer = b""
        self.answered = 0
        self.streams = 0  # h2: streams the client opened on this connection
        self._resumed = asyncio.Event()  # the transport takes more (flow control)
        self._resumed.set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        if self.kind == "close-on-accept":
            transport.close()
        elif self.kind == "never-read":
            transport.pause_reading()

    def pause_writing(self) -> None:
        self._resumed.clear()

    def resume_writing(self) -> None:
        self._resumed.set()

    def connection_lost(self, exc: Exception | None) -> None:
        self._resumed.set()

    async def _writable(self) -> bool:
        await self._resumed.wait()
        return self.transport is not None and not self.transport.is_closing()

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if self.kind.startswith("h2-"):
            self._h2()
            return
        while b"\r\n\r\n" in self.buffer:
            _, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
            self._answer()

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def _write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def _answer(self) -> None:
        k = self.kind
        self.answered += 1
        if k == "never-answer":
            return
        if k == "stall-body":
            self._write(_OK_HEAD + b"Content-Length: 1000\r\n\r\n" + b"x" * 10)
        elif k == "drip":
            self._write(_OK_HEAD + b"Content-Length: 100\r\n\r\n")
            self._spawn(self._drip())
        elif k == "bad-status":
            self._write(b"HTTP/1.1 TWO-HUNDRED Fine\r\nContent-Length: 0\r\n\r\n")
        elif k == "huge-headers":
            filler = b"".join(b"X-Filler-%d: %s\r\n" % (i, b"a" * 1000) for i in range(70))
            self._write(_OK_HEAD + filler + b"Content-Length: 2\r\n\r\nok")
        elif k == "extra-body":
            self._write(_OK_HEAD + b"Content-Length: 5\r\n\r\nhello, and then some")
        elif k == "short-body":
            self._write(_OK_HEAD + b"Content-Length: 100\r\n\r\n" + b"x" * 10)
            self._close()
        elif k == "bad-chunked":
            self._write(_OK_HEAD + b"Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n")
        elif k == "rst-mid-body":
            self._write(_OK_HEAD + b"Content-Length: 1000\r\n\r\n" + b"x" * 100)
            self._spawn(self._reset_soon())
        elif k == "early-hints":
            self._spawn(self._early_hints())
        elif k == "many-headers":
            self._write(_OK_HEAD + _MANY_HEADERS + b"Content-Length: 3\r\n\r\nok\n")
        elif k == "late-response":
            self._write(_OK_HEAD + b"Content-Length: 3\r\n\r\nok\n")
            self._spawn(self._late_response())
        elif k == "keepalive-inf":
            hint = b"Connection: keep-alive\r\nKeep-Alive: timeout=inf, max=nan\r\n"
            self._write(_OK_HEAD + hint + b"Content-Length: 3\r\n\r\nok\n")
        else:  # the TLS kinds: a healthy HTTP/1.1 answer behind the broken certificate
            self._write(_OK_HEAD + b"Content-Length: 3\r\n\r\nok\n")

    async def _drip(self) -> None:
        for _ in range(100):
            await asyncio.sleep(1.0)
            if self.transport is None or self.transport.is_closing():
                return
            self._write(b"x")

    async def _early_hints(self) -> None:
        while await self._writable():
            self._write(_EARLY_HINTS)
            await asyncio.sleep(0.02)

    async def _late_response(self) -> None:
        # A second response to one request: the next request on this connection, or
        # the pool watching it idle, reads it.
        await asyncio.sleep(0.05)
        self._write(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nstray\n")

    async def _reset_soon(self) -> None:
        await asyncio.sleep(0.05)
        if self.transport is not None and not self.transport.is_closing():
            sock = self.transport.get_extra_info("socket")
            if sock is not None:
                # SO_LINGER with a zero timeout turns close() into an RST.
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.transport.abort()

    def _close(self) -> None:
        if self.transport is not None:
            self.transport.close()


class _StallTLS(asyncio.Protocol):
    """Takes the TCP connection and the ClientHello, and never says anything back."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport


def _bundle(kind: str) -> CertBundle | None:
    """The broken certificate; its CA is trusted by the tests, so only the break shows."""
    if kind == "tls-wrong-name":
        return make_bundle(("wrong.example",))
    if kind == "tls-expired":
        now = datetime.now(UTC)
        return make_bundle(not_before=now - timedelta(days=30), not_after=now - timedelta(days=1))
    if kind == "tls-self-signed":
        return self_signed()
    return None


class MisbehavingServer:
    """Listens on loopback and misbehaves in one way; ``async with`` or start/close."""

    def __init__(self, kind: str, host: str = "127.0.0.1", port: int = 0) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown kind {kind!r}; known: {', '.join(KINDS)}")
        self.kind = kind
        self.host = host
        self.port = port
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._transports: list[asyncio.BaseTransport] = []
        self.bundle = _bundle(kind)
        # The CA to pass as --cacert for the TLS kinds (None for self-signed: trusting
        # the leaf itself would hide the break).
        self.ca_pem = self.bundle.ca_pem if self.bundle and kind != "tls-self-signed" else None

    @property
    def url(self) -> str:
        scheme = "https" if self.kind.startswith("tls-") else "http"
        return f"{scheme}://{self.host}:{self.port}/"

    async def start(self) -> MisbehavingServer:
        loop = asyncio.get_running_loop()
        factory: Callable[[], asyncio.Protocol]
        if self.kind == "tls-stall":
            factory = self._track(_StallTLS)
        else:
            kind, tasks = self.kind, self._tasks
            factory = self._track(lambda: _Misbehaving(kind, tasks))
        ctx = server_context(self.bundle) if self.bundle is not None else None
        self._server = await loop.create_server(factory, self.host, self.port, ssl=ctx)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def _track(self, make: Callable[[], asyncio.Protocol]) -> Callable[[], asyncio.Protocol]:
        def factory() -> asyncio.Protocol:
            proto = make()
            original = proto.connection_made

            def made(transport: asyncio.BaseTransport) -> None:
                self._transports.append(transport)
                original(transport)

            proto.connection_made = made  # type: ignore[method-assign]
            return proto

        return factory

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for t in self._transports:
            if isinstance(t, asyncio.Transport):
                t.abort()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), 2.0)

    async def __aenter__(self) -> MisbehavingServer:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


def serve_misbehaving(kind: str, host: str = "127.0.0.1", port: int = 0) -> int:
    """``reusecheck serve --misbehave KIND``: run until Ctrl-C; returns the exit code."""
    import sys

    if kind == "list":
        width = max(map(len, KINDS))
        for name, what in KINDS.items():
            print(f"{name:<{width}}  {what}")
        return 0
    if kind not in KINDS:
        print(f"reusecheck: unknown misbehaviour {kind!r}; see --misbehave list", file=sys.stderr)
        return 2

    async def main() -> None:
        server = MisbehavingServer(kind, host, port)
        try:
            await server.start()
        except OSError as exc:
            raise SystemExit(f"reusecheck: cannot listen on {host}:{port}: {exc}") from None
        hint = " --h2c" if kind.startswith("h2-") else ""
        print(f"reusecheck misbehaving target ({kind}: {KINDS[kind]}) on {server.url}")
        print(f"  try: reusecheck probe {server.url}{hint}", flush=True)
        try:
            await asyncio.Event().wait()
        finally:
            await server.close()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
    return 0
