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
    # A scenario switched to a fresh pool (a [pool] step): the old one's connections
    # serve no later request (analysis.pools).
    "pool_start",
    # Through a proxy, the dial's steps after connect_done: TLS to an https:// proxy
    # (verified against the proxy's name), then an https:// target's CONNECT tunnel with
    # the proxy's status and reason phrase; the target's own TLS follows as tls_*.
    "proxy_tls_start",
    "proxy_tls_done",
    "proxy_connect_start",
    "proxy_connect_done",
]
EVENT_NAMES: Final[tuple[EventName, ...]] = get_args(EventName)

# The spans a dial is made of: ``<name>_start`` always has its ``<name>_done``.
SpanName = Literal["dns", "connect", "tls", "proxy_tls", "proxy_connect"]

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

# Why the pool dialled a connection (connect_start.dial_reason, a connection's
# dial_reason in the report): why no connection it had could carry the request, as the
# pool knew at that instant.  The first three are needed connections; every other one
# would not have been opened had keep-alive worked (the connection budget).
DialReason = Literal[
    "first",  # the first connection to this origin in this pool
    "all-busy",  # every connection of the origin was carrying a request
    "h2-stream-limit",  # every h2 connection of the origin was at the server's limit
    "server-closed",  # the connection that would have carried it, the server closed
    "client-idle-timeout",  # ... the client's idle timeout closed
    # ... the client's idle timeout closed, but the pause outlasted what the server
    # keeps idle (its Keep-Alive timeout, or an idle close seen earlier): the server's
    "server-idle-limit",
    "client-pool-full",  # ... the client dropped: its idle list was full
    "keepalives-disabled",  # ... the client closed after one request (Connection: close)
    "body-not-drained",  # ... a response body nobody read pinned or killed it
    "connection-error",  # ... failed (an error mid-response, the connection was given up)
    "retry",  # a retry after a request failed on a connection (retry_reason says why)
]
DIAL_REASONS: Final[tuple[DialReason, ...]] = get_args(DialReason)
NEEDED_DIALS: Final[frozenset[DialReason]] = frozenset({"first", "all-busy", "h2-stream-limit"})

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

# Why a failed attempt that Go's shouldRetryRequest would otherwise have sent again was
# not (request_done.not_retried): the request is not replayable (Go's isReplayable: a
# method other than GET, HEAD, OPTIONS, TRACE without an Idempotency-Key header).
NotRetriedReason = Literal["non-idempotent"]
NOT_RETRIED_REASONS: Final[tuple[NotRetriedReason, ...]] = get_args(NotRetriedReason)

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
    # Following redirects (-L) stopped: more than 10 (Go's http.Client), or a Location
    # that is not an http(s) URL.
    "redirect",
    # The proxy did not open the tunnel: it answered CONNECT with something other than
    # 2xx (403 from an ACL, 407 proxy authentication required, 503 the target refused
    # it), or with no HTTP at all.  The target was not reached.
    "proxy",
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

# An error response's body (status 400 and up): its first bytes are kept, and at most
# this many characters of them, whitespace collapsed, go into ``body_done.body_head``,
# so a finding can quote what the server said ("The plain HTTP request was sent to
# HTTPS port").  Bounded whatever the server sends; secrets in it are redacted.
BODY_HEAD_BYTES: Final = 512
BODY_HEAD_CHARS: Final = 300
