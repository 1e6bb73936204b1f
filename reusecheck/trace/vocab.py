"""The words of the event stream, each vocabulary declared once, as a type and a tuple.

The ``Literal`` types let mypy check every emitting call (a misspelt close reason is a
type error, not a silent new word in the JSON); the tuples are what the schema, the
analysis and the tests read.  docs/design.md ("Event fields", "JSON report") lists the
same words: tests/schema/test_schema.py keeps the two in step.
"""

from __future__ import annotations

from typing import Final, Literal, get_args

# Every event name, in the order a request meets them.
EventName = Literal[
    "get_conn",
    "dns_start",
    "dns_done",
    "connect_start",
    "connect_done",
    "tls_start",
    "tls_done",
    "got_conn",
    "wrote_headers",
    "wrote_request",
    "got_first_byte",
    "response_headers",
    "body_done",
    "put_idle",
    "idle_closed",
    "conn_closed",
    "retry",
    "h2_settings",
    "h2_goaway",
    "request_done",
]
EVENT_NAMES: Final[tuple[EventName, ...]] = get_args(EventName)

# The spans a dial is made of: ``<name>_start`` always has its ``<name>_done``.
SpanName = Literal["dns", "connect", "tls"]

# Why a connection ended (conn_closed.reason, put_idle.reason, a report's close_reason).
CloseReason = Literal[
    "connection-close-header",
    "http10",
    "idle-timeout",
    "max-requests",
    "goaway",
    "eof",
    "reset",
    # The server sent bytes nobody asked for (a response to no request): the client
    # closes the connection, as Go's Transport does ("Unsolicited response received on
    # idle HTTP channel").  Not the server's idle timeout.
    "unsolicited-response",
    "pool-full",
    "client-idle-timeout",
    "body-not-drained",
    "end-of-run",
    "error",
]
CLOSE_REASONS: Final[tuple[CloseReason, ...]] = get_args(CloseReason)

# The close reasons that are the server's doing; the rest are the client's (the pool's).
SERVER_CLOSE_REASONS: Final[frozenset[CloseReason]] = frozenset(
    {"connection-close-header", "http10", "idle-timeout", "max-requests", "goaway", "eof", "reset"}
)

# How an idle connection ended (idle_closed.reason).
IdleCloseReason = Literal[
    "eof", "reset", "unsolicited-response", "goaway", "client-idle-timeout", "pool-full"
]
IDLE_CLOSE_REASONS: Final[tuple[IdleCloseReason, ...]] = get_args(IdleCloseReason)

ClosedBy = Literal["server", "client"]
CLOSED_BY: Final[tuple[ClosedBy, ...]] = get_args(ClosedBy)

# Why a failed attempt was sent again (retry.reason).
RetryReason = Literal["stale", "connection-lost", "goaway", "refused-stream"]
RETRY_REASONS: Final[tuple[RetryReason, ...]] = get_args(RetryReason)

# How a request failed (request_done.error.kind, a run's error.kind).
ErrorKind = Literal[
    "dns",
    "connect",
    "connect-timeout",
    "tls",
    "tls-timeout",
    "first-byte-timeout",
    "body-timeout",
    "deadline",
    "protocol",
    "server-closed",
    "stream-reset",
    "goaway",
    "h2-not-negotiated",
    "cancelled",
    # The server stopped reading the request: nothing of it left for the body timeout.
    "write-timeout",
    # reusecheck's own process hit a limit (too many open files): not the target's doing.
    "local-limit",
]
ERROR_KINDS: Final[tuple[ErrorKind, ...]] = get_args(ErrorKind)

Protocol = Literal["http/1.1", "h2"]
PROTOCOLS: Final[tuple[Protocol, ...]] = get_args(Protocol)

# What the record keeps of one response's headers (``response_headers.headers``): at most
# this many pairs and bytes (names and values), the rest counted in ``headers_omitted``.
# A server can send thousands of headers per response; the record of a long run (and
# its HAR) must not grow with them.  The analysis names the caps in ``record-capped``.
RECORD_HEADER_PAIRS: Final = 100
RECORD_HEADER_BYTES: Final = 16 * 1024
