"""Which protocol serves a connection when the server speaks both HTTP/1.1 and HTTP/2.

RFC 9113 3: over TLS, ALPN has decided before the first byte (``h2``, else HTTP/1.1); over
cleartext, an h2c client with prior knowledge opens with the connection preface, which
no HTTP/1.1 request can begin with.  So a cleartext connection's first bytes are held
until they match the preface or stop matching it, then the connection and those bytes
go to the chosen protocol (``transport.set_protocol``): one port serves both.

The Negotiator registers a cleartext connection at accept, as the HTTP/1.1 protocol
does, so the record's open time, the log and shutdown are right for a client that says
nothing; the record then passes to the chosen protocol.
"""

from __future__ import annotations

import asyncio
import time
from typing import Final, cast

from reusecheck.server.config import ServerConfig
from reusecheck.server.connection import TargetProtocol
from reusecheck.server.h2conn import H2Protocol
from reusecheck.server.records import ClosedBy, ConnectionRegistry, ConnRecord, format_peer

PREFACE: Final = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"  # RFC 9113 3.4


class Negotiator(asyncio.Protocol):
    """Accepts a connection, picks HTTP/2 or HTTP/1.1 for it, and steps aside."""

    _transport: asyncio.Transport
    record: ConnRecord | None = None  # cleartext only, until handed over

    def __init__(self, config: ServerConfig, registry: ConnectionRegistry) -> None:
        self._config = config
        self._registry = registry
        self._loop = asyncio.get_running_loop()
        self.lost: asyncio.Future[None] = self._loop.create_future()
        self._held = b""
        self._timer: asyncio.TimerHandle | None = None
        self._idle_since: float | None = None  # accepted, nothing received: the reaper's
        self._done = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)
        ssl_object = transport.get_extra_info("ssl_object")
        if ssl_object is not None:
            # The handshake is over (asyncio calls connection_made after it): not registered
            # here, the chosen protocol registers the connection itself.
            h2 = ssl_object.selected_alpn_protocol() == "h2"
            self._switch(self._h2() if h2 else self._h1(), b"")
            return
        self.record = self._registry.opened(self, format_peer(transport.get_extra_info("peername")))
        self.record.protocol = "unknown"  # until the first bytes tell
        # Until a request begins, the connection is idle, whichever protocol it will be.
        if self._config.idle_reap_interval is not None:
            self._idle_since = self._loop.time()
        else:
            self._arm(self._config.idle_timeout, "idle-timeout")

    def data_received(self, data: bytes) -> None:
        if self._done:
            return
        self._idle_since = None
        held = self._held + data
        if PREFACE.startswith(held[: len(PREFACE)]):
            if len(held) < len(PREFACE):
                if not self._held:
                    self._arm(self._config.request_timeout, "request-timeout")
                self._held = held
                return
            self._switch(self._h2(), held)
        else:
            self._switch(self._h1(), held)

    def eof_received(self) -> bool:
        if self._done:
            return False
        # EOF before a whole preface: not HTTP/2, so HTTP/1.1's to judge (and to record).
        h1 = self._h1()
        self._switch(h1, self._held)
        return h1.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self._done = True
        self._disarm()
        if self.record is not None:
            if self.record.closed_by is None:
                self._mark("client", "eof" if exc is None else "reset")
            self._registry.closed(self, self.record)
        if not self.lost.done():
            self.lost.set_result(None)

    def shutdown(self) -> None:
        """Server shutdown before the protocol was chosen."""
        if not self._done:
            self._done = True
            self._disarm()
            self._mark("server", "shutdown")
        self._transport.abort()

    def reap(self, now: float) -> None:
        since, timeout = self._idle_since, self._config.idle_timeout
        if not self._done and since is not None and timeout is not None and now - since >= timeout:
            self._expire("idle-timeout")

    def _h1(self) -> TargetProtocol:
        if self.record is not None:
            self.record.protocol = "http/1.1"
        return TargetProtocol(self._config, self._registry, self.record)

    def _h2(self) -> H2Protocol:
        return H2Protocol(self._config, self._registry, self.record)

    def _switch(self, chosen: TargetProtocol | H2Protocol, data: bytes) -> None:
        self._done = True
        self._disarm()
        if self.record is not None:
            self._registry.handed_over(self, chosen)
            self.lost.set_result(None)
        transport = self._transport
        transport.set_protocol(chosen)
        chosen.connection_made(transport)
        if data:
            chosen.data_received(data)

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
        self._done = True
        self._mark("server", reason)
        self._transport.close()  # nothing was written: the close is immediate

    def _mark(self, by: ClosedBy, reason: str) -> None:
        if self.record is not None:
            record = self.record
            record.closed_by, record.reason, record.closed_at = by, reason, time.perf_counter()
