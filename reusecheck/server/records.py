"""The server's own account of each connection: who closed it, why, after how many requests.

Tests compare it with what the client concluded, and ``serve`` logs it, so a person can see
both sides of a reuse failure.  Times are ``time.perf_counter()`` values, the clock
``reusecheck.trace.Clock`` reads, so an in-process demo can place them on the run's timeline.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Literal, Protocol

ClosedBy = Literal["server", "client"]

# Why a connection ended, as the server saw it.  Server side: the configured behaviour
# (idle-timeout, max-requests, close-always, http10, drop), the client's own
# Connection: close or HTTP/2 GOAWAY (client-close), a request it could not parse
# (bad-request; protocol-error when HTTP/2 framing broke, answered with GOAWAY), a client
# too slow to send a request or read a response (request-timeout, write-timeout), and
# shutdown.  Client side: eof (FIN or TLS close_notify) and reset.
SERVER_SIDE_REASONS: Final = (
    "idle-timeout",
    "max-requests",
    "close-always",
    "http10",
    "drop",
    "client-close",
    "bad-request",
    "protocol-error",
    "request-timeout",
    "write-timeout",
    "shutdown",
    "eof",
    "reset",
)

# Enough history for any test or demo; a long-running `serve` forgets the oldest.
MAX_RECORDS: Final = 10_000


@dataclass(slots=True)
class ConnRecord:
    """One accepted connection; mutated by its connection until it closes."""

    id: int
    peer: str
    opened_at: float
    closed_at: float | None = None
    requests: int = 0  # responses completed on this connection
    closed_by: ClosedBy | None = None
    reason: str | None = None
    bytes_out: int = 0  # bytes handed to the transport (head and body)
    # "http/1.1", "h2" (by ALPN, or h2c with prior knowledge), or "unknown" for a cleartext
    # connection to an h2 server that ended before its first bytes showed which.
    protocol: str = "http/1.1"
    # HTTP/2 only.  The GOAWAY the server sent (error code name, e.g. "NO_ERROR") and its
    # last_stream_id: streams above it were not processed and may be retried elsewhere.
    goaway: str | None = None
    last_stream_id: int | None = None
    refused: int = 0  # streams answered RST_STREAM REFUSED_STREAM (over max_streams)

    @property
    def duration(self) -> float | None:
        return None if self.closed_at is None else self.closed_at - self.opened_at


def format_peer(peername: object) -> str:
    """``ip:port``, IPv6 bracketed, as the client's report writes addresses."""
    if isinstance(peername, tuple) and len(peername) >= 2:
        host, port = peername[0], peername[1]
        return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
    return str(peername)


class LiveConnection(Protocol):
    """What the server needs of a connection to end it: HTTP/1.1 and HTTP/2 alike."""

    lost: asyncio.Future[None]  # done once the transport is gone

    def shutdown(self) -> None: ...

    def reap(self, now: float) -> None:
        """The periodic idle reaper's tick (``ServerConfig.idle_reap_interval``): close
        the connection if it has been idle for ``idle_timeout`` or more at loop time
        ``now``."""


class ConnectionRegistry:
    """The live connections (for shutdown) and the records (for tests and the log)."""

    def __init__(self, log: Callable[[str], None] | None = None) -> None:
        self._log = log
        self._next_id = 1
        self.live: set[LiveConnection] = set()
        self.records: deque[ConnRecord] = deque(maxlen=MAX_RECORDS)

    def opened(self, conn: LiveConnection, peer: str) -> ConnRecord:
        record = ConnRecord(self._next_id, peer, time.perf_counter())
        self._next_id += 1
        self.live.add(conn)
        self.records.append(record)
        if self._log is not None:
            self._log(f"conn {record.id} open {peer}")
        return record

    def handed_over(self, old: LiveConnection, new: LiveConnection) -> None:
        """The Negotiator passed its transport (and record) to the protocol it chose."""
        self.live.discard(old)
        self.live.add(new)

    def closed(self, conn: LiveConnection, record: ConnRecord) -> None:
        self.live.discard(conn)
        if self._log is not None:
            duration = record.duration or 0.0
            plural = "" if record.requests == 1 else "s"
            line = (
                f"conn {record.id} closed by {record.closed_by} ({record.reason}) "
                f"after {record.requests} request{plural}, {duration:.3f} s"
            )
            if record.protocol != "http/1.1":
                line += f", {record.protocol}"
            if record.goaway is not None:
                line += f", GOAWAY {record.goaway} last_stream_id={record.last_stream_id}"
            if record.refused:
                line += f", {record.refused} refused"
            self._log(line)
