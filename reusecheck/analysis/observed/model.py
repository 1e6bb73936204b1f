"""What ``reusecheck observe`` records about a client's connections, and what the
analysis makes of it.

The record is the server's side of the client's sockets: when each connection opened,
the requests it carried (head received to response written), the gaps it sat idle, who
closed it and how (FIN or RST), and how much of a response was still unsent.  The
listener fills it in (``reusecheck.observe``); the analysis here reads it and never a
socket, so it is tested with records built by hand.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final, Literal

from reusecheck.analysis.findings.catalogue import Finding

CloseKind = Literal["fin", "rst"]
ClosedBy = Literal["client", "server"]
ObservedProtocol = Literal["http/1.1", "h2"]

# Bounds that keep a long observation's memory flat: the idle gaps kept per connection
# (the count and the longest are kept beyond it) and the request intervals kept in all.
MAX_GAPS_PER_CONN: Final = 64
MAX_REQUESTS_KEPT: Final = 100_000

# Why the server side ended a client connection (closed_by "server"): the built-in
# answer's behaviour options, the client's own Connection: close honoured, a client too
# slow to send a request or read a response, and the end of the observation.
SERVER_CLOSE_REASONS: Final = (
    "idle-timeout",
    "max-requests",
    "close-always",
    "client-close",
    "bad-request",
    "request-timeout",
    "write-timeout",
    "goaway",
    "upstream-error",
    "end-of-run",
)
# The server's close reasons that are the server's own policy (not the client's doing).
POLICY_CLOSES: Final = frozenset({"max-requests", "close-always", "bad-request"})


@dataclass(slots=True)
class ObservedRequest:
    """One request as the server side saw it: from its head to its response's last byte."""

    index: int
    conn: int
    method: str
    target: str  # path and query, credentials redacted
    started_s: float
    user_agent: str | None = None
    stream_id: int | None = None
    client_close: bool = False  # the client asked for Connection: close (or HTTP/1.0)
    ended_s: float | None = None  # the response's last byte handed to the socket
    status: int | None = None
    body_bytes: int = 0  # response body bytes handed to the socket
    body_expected: int | None = None  # the response's Content-Length, when known
    complete: bool = False  # the whole response was written
    client_reset: bool = False  # HTTP/2: the client reset the stream (RST_STREAM)
    error: str | None = None


@dataclass(slots=True)
class ObservedConnection:
    """One client connection, from accept to close."""

    id: int
    remote: str  # the client's address, ip:port
    local: str
    opened_s: float
    tls: bool = False
    alpn: str | None = None  # what ALPN chose; None: none offered (or no TLS)
    protocol: ObservedProtocol = "http/1.1"
    user_agent: str | None = None  # of its first request
    requests: int = 0
    closed_s: float | None = None
    closed_by: ClosedBy | None = None
    close_kind: CloseKind | None = None  # how the client's side ended: FIN or RST
    close_reason: str | None = None
    peak_streams: int = 0  # requests on it at once (HTTP/1.1: 1)
    max_concurrent_streams: int | None = None  # HTTP/2: what the server announced
    idle_gaps_s: list[float] = field(default_factory=list)  # response end -> next request
    gaps: int = 0  # idle gaps seen (past MAX_GAPS_PER_CONN only counted)
    longest_gap_s: float = 0.0
    last_request_s: float | None = None  # the last request's head arrived
    last_response_s: float | None = None  # the last response's last byte written
    # The last response's head written: from here the client could have moved on (a
    # client that leaves the body unread opens its next connection before the body's
    # last byte has left, when the socket buffers take it all).
    last_head_s: float | None = None
    # Response bytes still unsent when the client closed (reusecheck's buffer plus what
    # the response had left); None when nothing was being sent.
    unread_response_bytes: int | None = None
    writing_at_close: bool = False  # the client closed while a response was being sent
    streams_reset: int = 0  # HTTP/2 streams the client reset before their end
    idle_at_close_s: float | None = None  # idle time when it closed, if it was idle

    @property
    def client_ip(self) -> str:
        host, _, _ = self.remote.rpartition(":")
        return host.strip("[]") or self.remote


@dataclass(slots=True)
class ObservedRecord:
    """Everything one observation recorded, and the server side's own settings."""

    connections: list[ObservedConnection]
    requests: list[ObservedRequest]
    duration_s: float
    # The idle timeout the client should stay under: the built-in answer's keep-alive
    # timeout, or the upstream's (measured or announced); None: unknown or none.
    server_idle_timeout_s: float | None = None
    server_idle_timeout_source: str | None = None  # "built-in", "upstream-measured", ...
    tls: bool = False
    h2_offered: bool = True  # ALPN h2 with TLS; h2c prior knowledge without
    max_concurrent_streams: int = 100
    requests_dropped: int = 0  # requests past MAX_REQUESTS_KEPT (counted only)
    total_requests: int = 0


@dataclass(frozen=True, slots=True)
class ClientGroup:
    """One client: a source address and a User-Agent, with its own numbers."""

    ip: str
    user_agent: str | None
    connections: tuple[int, ...]
    requests: int
    reused: int  # requests on a connection that had carried one already
    reuse_ratio: float
    peak_concurrency: int
    minimum_connections: int  # what its peak concurrency needed
    requests_per_connection: float
    max_requests_per_connection: int
    protocols: tuple[str, ...]
    findings: tuple[Finding, ...] = ()
    # Opened and closed without a request (Go's HTTP/2 dial race opens some): counted in
    # connections, not in requests_per_connection, which is over those that carried one.
    unused_connections: int = 0


@dataclass(frozen=True, slots=True)
class ObservedSummary:
    requests: int
    connections_opened: int
    reused: int
    reuse_ratio: float
    peak_concurrency: int
    minimum_connections: int
    clients: int
    duration_s: float
    closed_by_client: int
    closed_by_server: int
    reset_by_client: int


@dataclass(frozen=True, slots=True)
class ObservedExpectation:
    name: str
    ok: bool
    detail: str


@dataclass(frozen=True, slots=True)
class ObservedVerdict:
    ok: bool
    reuse: Literal["yes", "partial", "no"]
    detail: str
    expectations: tuple[ObservedExpectation, ...]


@dataclass(frozen=True, slots=True)
class ObservedAnalysis:
    record: ObservedRecord
    clients: tuple[ClientGroup, ...]
    findings: tuple[Finding, ...]
    summary: ObservedSummary
    verdict: ObservedVerdict
