"""A TCP connection as an asyncio Protocol, with TLS done in-process over MemoryBIO.

asyncio's own TLS cannot take an ``ssl.SSLSession``, so a later connection could not
resume an earlier one's session; driving ``ssl.SSLObject`` over two ``MemoryBIO``s
gives that control and costs one layer less than a transport wrapped in a transport.

The channel hands plaintext to its ``receiver`` (the HTTP connection) as it arrives,
and tells it about EOF and loss at once.  That is what lets the pool notice a server
closing an idle connection the moment it happens, without a reader task per socket.
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Protocol


class Receiver(Protocol):
    def on_data(self, data: bytes) -> None: ...

    def on_eof(self) -> None: ...

    def on_lost(self, exc: BaseException | None) -> None: ...


class _Buffering:
    """Holds what arrives before the HTTP connection is attached."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.eof = False
        self.lost: tuple[BaseException | None] | None = None

    def on_data(self, data: bytes) -> None:
        self.chunks.append(data)

    def on_eof(self) -> None:
        self.eof = True

    def on_lost(self, exc: BaseException | None) -> None:
        self.lost = (exc,)


# Reads are at most 64 KiB, from the socket and from TLS: under glibc's mmap threshold
# (128 KiB), so each chunk comes from the heap.  asyncio's own 256 KiB reads (and a
# 256 KiB SSLObject.read) allocate fresh mapped pages per chunk and fault them in,
# which on a VM costs more than the copies: a 100 MiB download ran at a quarter of
# the speed.
_READ_SIZE = 64 * 1024
_NO_BUFFER = bytearray()  # what a lost connection holds instead


class Channel(asyncio.BufferedProtocol):
    """One TCP connection; plaintext in and out, TLS inside when started.

    A BufferedProtocol, so the socket is read into one buffer allocated once per
    connection (``get_buffer``), each chunk then copied out once as ``bytes``.
    """

    def __init__(self) -> None:
        self._read_buffer = bytearray(_READ_SIZE)
        self._read_view = memoryview(self._read_buffer)
        self.transport: asyncio.Transport | None = None
        self._buffer = _Buffering()
        self.receiver: Receiver = self._buffer
        self._ssl: ssl.SSLObject | None = None
        self._in: ssl.MemoryBIO | None = None
        self._out: ssl.MemoryBIO | None = None
        self._handshake: asyncio.Future[None] | None = None
        # TLS to an https:// proxy when a tunnel's TLS runs inside it (TLS in TLS):
        # its SSLObject and BIOs, below the ones above.
        self._outer: tuple[ssl.SSLObject, ssl.MemoryBIO, ssl.MemoryBIO] | None = None
        self._drain: asyncio.Future[bool] | None = None
        self._paused = False
        self.eof = False
        self.lost = False

    # -- attaching ---------------------------------------------------------------

    def attach(self, receiver: Receiver) -> None:
        """Switch delivery to ``receiver``, replaying anything that arrived before."""
        buf = self._buffer
        self.receiver = receiver
        for chunk in buf.chunks:
            receiver.on_data(chunk)
        buf.chunks.clear()
        if buf.eof:
            receiver.on_eof()
        if buf.lost is not None:
            receiver.on_lost(buf.lost[0])

    def detach(self) -> None:
        """Buffer again what arrives (a proxy answered CONNECT: what follows belongs
        to the connection attached next)."""
        self._buffer = _Buffering()
        self.receiver = self._buffer

    # -- asyncio.Protocol --------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._read_view

    def buffer_updated(self, nbytes: int) -> None:
        self.data_received(bytes(self._read_view[:nbytes]))

    def data_received(self, data: bytes) -> None:
        if self._ssl is None:
            self.receiver.on_data(data)
            return
        assert self._in is not None
        eof = False
        if self._outer is not None:
            data, eof = self._unwrap(data)
        self._in.write(data)
        if self._handshake is not None and not self._handshake.done():
            self._step_handshake()
            if self._handshake is not None and not self._handshake.done():
                if eof and not self.eof:
                    self.eof_received()
                return
        self._read_tls()
        if eof and not self.eof:
            self.eof_received()

    def eof_received(self) -> bool:
        self.eof = True
        if self._handshake is not None and not self._handshake.done():
            self._handshake.set_exception(
                ConnectionResetError("server closed the connection during the TLS handshake")
            )
        self.receiver.on_eof()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        # Nothing more will be read: the 64 KiB read buffer goes now, not when the
        # cycle collector gets to this connection (a run of many targets would hold a
        # buffer per connection it ever made until then).
        self._read_view = memoryview(_NO_BUFFER)
        self._read_buffer = _NO_BUFFER
        if self._handshake is not None and not self._handshake.done():
            self._handshake.set_exception(
                exc or ConnectionResetError("connection closed during the TLS handshake")
            )
        if self._drain is not None and not self._drain.done():
            self._drain.set_result(True)
        self.receiver.on_lost(exc)

    def pause_writing(self) -> None:
        self._paused = True

    def resume_writing(self) -> None:
        self._paused = False
        if self._drain is not None and not self._drain.done():
            self._drain.set_result(True)

    # -- TLS ---------------------------------------------------------------------

    async def start_tls(
        self, context: ssl.SSLContext, server_hostname: str | None, session: ssl.SSLSession | None
    ) -> ssl.SSLObject:
        """Run the client handshake; the caller bounds it with its TLS timeout.

        Over a channel that already speaks TLS (to an https:// proxy) the new session
        runs inside the old one, which then only carries its records."""
        if self._ssl is not None and self._in is not None and self._out is not None:
            self._outer = (self._ssl, self._in, self._out)
        self._in = ssl.MemoryBIO()
        self._out = ssl.MemoryBIO()
        self._ssl = context.wrap_bio(
            self._in, self._out, server_side=False, server_hostname=server_hostname, session=session
        )
        self._handshake = asyncio.get_running_loop().create_future()
        self._step_handshake()
        await self._handshake
        return self._ssl

    def _step_handshake(self) -> None:
        assert self._ssl is not None and self._handshake is not None
        try:
            self._ssl.do_handshake()
        except ssl.SSLWantReadError:
            self._flush_tls()
            return
        except (ssl.SSLError, ssl.CertificateError) as exc:
            self._flush_tls()
            self._handshake.set_exception(exc)
            return
        self._flush_tls()
        self._handshake.set_result(None)

    def _read_tls(self) -> None:
        sslobj = self._ssl
        assert sslobj is not None
        receiver = self.receiver
        # What one socket read decrypts to (up to four 16 KiB records) goes to the
        # receiver at once: h2 then parses one buffer, not one per record.
        chunks: list[bytes] = []
        while True:
            try:
                chunk = sslobj.read(_READ_SIZE)
            except ssl.SSLWantReadError:
                break
            except ssl.SSLZeroReturnError:
                # close_notify: the TLS-level equivalent of EOF.
                self._deliver(chunks)
                self.eof = True
                receiver.on_eof()
                break
            except ssl.SSLError as exc:
                self._deliver(chunks)
                self.abort()
                receiver.on_lost(exc)
                break
            if not chunk:
                # CPython's SSLObject.read returns b"" rather than raising once the peer's
                # close_notify was read (SSL_ERROR_ZERO_RETURN): the TLS-level EOF.  A
                # server that then waits for our close_notify before its FIN (asyncio's
                # does, for ssl_shutdown_timeout) would otherwise look open for seconds.
                self._deliver(chunks)
                if not self.eof:
                    self.eof = True
                    receiver.on_eof()
                break
            chunks.append(chunk)
        self._deliver(chunks)
        # TLS 1.3 may want to answer (key update); session tickets need no reply.
        self._flush_tls()

    def _deliver(self, chunks: list[bytes]) -> None:
        if chunks:
            data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
            chunks.clear()
            self.receiver.on_data(data)

    def _flush_tls(self) -> None:
        assert self._out is not None
        if self._out.pending and self.transport is not None and not self.lost:
            data = self._out.read()
            if self._outer is not None:
                outer, _, outgoing = self._outer
                outer.write(data)
                data = outgoing.read()
            self.transport.write(data)

    def _unwrap(self, data: bytes) -> tuple[bytes, bool]:
        """The proxy's TLS records in ``data`` as the plaintext they carry (the inner
        session's records), and whether the proxy's TLS ended (close_notify)."""
        assert self._outer is not None
        outer, incoming, outgoing = self._outer
        incoming.write(data)
        chunks: list[bytes] = []
        eof = False
        while True:
            try:
                chunk = outer.read(_READ_SIZE)
            except ssl.SSLWantReadError:
                break
            except ssl.SSLZeroReturnError:
                eof = True
                break
            except ssl.SSLError as exc:
                self.abort()
                self.receiver.on_lost(exc)
                break
            if not chunk:
                eof = True
                break
            chunks.append(chunk)
        if outgoing.pending and self.transport is not None and not self.lost:
            self.transport.write(outgoing.read())
        return b"".join(chunks), eof

    # -- writing -----------------------------------------------------------------

    def write(self, data: bytes) -> None:
        if self.transport is None or self.lost:
            raise ConnectionResetError("connection already closed")
        if self._ssl is None:
            self.transport.write(data)
            return
        self._ssl.write(data)
        self._flush_tls()

    def unsent(self) -> int:
        """Bytes written here that the kernel has not taken yet (the transport's buffer;
        TLS records are moved there as they are made)."""
        t = self.transport
        return t.get_write_buffer_size() if t is not None and not self.lost else 0

    async def drain(self, timeout: float) -> bool:
        """Wait while the transport's write buffer is over its high-water mark; False when
        the peer took nothing of it for ``timeout`` seconds.

        Progress is bytes leaving the buffer (the server reading), not wake-ups: a
        server that reads slowly is waited for, one that stopped reading is not.
        """
        loop = asyncio.get_running_loop()
        while self._paused and not self.lost:
            before = self.unsent()
            fut = self._drain = loop.create_future()
            handle = loop.call_later(timeout, _expire, fut)
            try:
                ok = await fut
            finally:
                handle.cancel()
            if not ok and self._paused and not self.lost and self.unsent() >= before:
                return False
        return True

    @property
    def ssl_object(self) -> ssl.SSLObject | None:
        return self._ssl

    def close(self) -> None:
        """Close our side gracefully: pending writes are flushed, then FIN."""
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    def addresses(self) -> tuple[str, str]:
        """(local, remote) as ``ip:port`` (IPv6 bracketed), as a packet capture shows them."""
        assert self.transport is not None
        return (
            _fmt(self.transport.get_extra_info("sockname")),
            _fmt(self.transport.get_extra_info("peername")),
        )


def _expire(fut: asyncio.Future[bool]) -> None:
    if not fut.done():
        fut.set_result(False)


def _fmt(addr: object) -> str:
    if not isinstance(addr, tuple) or len(addr) < 2:
        return "?"
    host, port = addr[0], addr[1]
    return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
