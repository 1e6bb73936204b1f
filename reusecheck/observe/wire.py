"""The socket under a client connection: reads that say how the client ended (FIN or
RST), writes that say how much of a response never left, every wait bounded."""

from __future__ import annotations

import asyncio
import ssl
from typing import Final

from reusecheck.analysis.observed.model import CloseKind

READ_SIZE: Final = 64 * 1024


class ClientGone(Exception):
    """The client ended its side: ``kind`` is how (a FIN, or a reset)."""

    def __init__(self, kind: CloseKind) -> None:
        super().__init__(kind)
        self.kind: CloseKind = kind


class Stalled(Exception):
    """A wait ran out: ``reason`` names it (idle-timeout, request-timeout, write-timeout)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Wire:
    """A client connection's streams."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.eof = False

    async def read(self, timeout: float | None, reason: str) -> bytes:
        """The next bytes; raises ClientGone at the client's FIN or RST, Stalled when
        ``timeout`` passes first (None: no bound of its own; the observation's end
        cancels it)."""
        try:
            data = await asyncio.wait_for(self.reader.read(READ_SIZE), timeout)
        except TimeoutError:
            raise Stalled(reason) from None
        except (ConnectionError, ssl.SSLError, OSError):
            raise ClientGone("rst") from None
        if not data:
            self.eof = True
            raise ClientGone("fin")
        return data

    async def write(self, data: bytes, timeout: float) -> None:
        """Hand ``data`` to the socket and wait (bounded) until the transport's buffer
        drains below its mark; raises ClientGone when the client left before all of it
        reached the socket."""
        if self.writer.is_closing():
            if not data:
                return  # nothing to send: the next read says how the client left
            raise ClientGone("rst")
        self.writer.write(data)
        left = self.unsent()
        try:
            await asyncio.wait_for(self.writer.drain(), timeout)
        except TimeoutError:
            raise Stalled("write-timeout") from None
        except (ConnectionError, ssl.SSLError, OSError):
            if left:
                raise ClientGone("rst") from None
            # Every byte was in the socket before the client left: a client that read
            # the whole response and exited (over TLS the drain then fails with the
            # lost connection).  Not "closed while sending": the next read says how
            # it ended, a FIN, or a reset over bytes it never read.

    def unsent(self) -> int:
        """Bytes handed to the transport that have not reached the socket yet."""
        transport = self.writer.transport
        try:
            return transport.get_write_buffer_size()
        except (AttributeError, RuntimeError):
            return 0

    def abort(self) -> None:
        transport = self.writer.transport
        transport.abort()

    async def close(self, timeout: float = 1.0) -> None:
        """Close our side; bounded, because a TLS close waits for the client's."""
        self.writer.close()
        try:
            await asyncio.wait_for(self.writer.wait_closed(), timeout)
        except (TimeoutError, ConnectionError, ssl.SSLError, OSError):
            self.abort()
