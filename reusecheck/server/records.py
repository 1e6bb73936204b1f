"""The server's own account of each connection: who closed it, why, after how many requests.

Tests compare it with what the client concluded, and ``serve`` logs it, so a person can see
both sides of a reuse failure.  Times are ``time.perf_counter()`` values, the clock
``reusecheck.trace.Clock`` reads, so an in-process demo can place them on the run's timeline.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Literal

if TYPE_CHECKING:
    from reusecheck.server.connection import TargetProtocol

ClosedBy = Literal["server", "client"]

# Why a connection ended, as the server saw it.  Server side: the configured behaviour
# (idle-timeout, max-requests, close-always, http10, drop), the client's own
# Connection: close (client-close), a request it could not parse (bad-request), a client
# too slow to send a request or read a response (request-timeout, write-timeout), and
# shutdown.  Client side: eof (FIN or TLS close_notify) and reset.
CLOSE_REASONS: Final = (
    "idle-timeout",
    "max-requests",
    "close-always",
    "http10",
    "drop",
    "client-close",
    "bad-request",
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

    @property
    def duration(self) -> float | None:
        return None if self.closed_at is None else self.closed_at - self.opened_at


def format_peer(peername: object) -> str:
    """``ip:port``, IPv6 bracketed, as the client's report writes addresses."""
    if isinstance(peername, tuple) and len(peername) >= 2:
        host, port = peername[0], peername[1]
        return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
    return str(peername)


class ConnectionRegistry:
    """The live connections (for shutdown) and the records (for tests and the log)."""

    def __init__(self, log: Callable[[str], None] | None = None) -> None:
        self._log = log
        self._next_id = 1
        self.live: set[TargetProtocol] = set()
        self.records: deque[ConnRecord] = deque(maxlen=MAX_RECORDS)

    def opened(self, conn: TargetProtocol, peer: str) -> ConnRecord:
        record = ConnRecord(self._next_id, peer, time.perf_counter())
        self._next_id += 1
        self.live.add(conn)
        self.records.append(record)
        if self._log is not None:
            self._log(f"conn {record.id} open {peer}")
        return record

    def closed(self, conn: TargetProtocol, record: ConnRecord) -> None:
        self.live.discard(conn)
        if self._log is not None:
            duration = record.duration or 0.0
            plural = "" if record.requests == 1 else "s"
            self._log(
                f"conn {record.id} closed by {record.closed_by} ({record.reason}) "
                f"after {record.requests} request{plural}, {duration:.3f} s"
            )
