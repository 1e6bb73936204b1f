"""Failures of a request, each with a ``kind`` from one vocabulary (``trace.vocab``).

The kind is what users read ("first-byte-timeout after 30.0 s") and what the analysis
keys on, so every layer raises these rather than letting socket or h11 errors escape.
"""

from __future__ import annotations

from typing import Final

from reusecheck.trace.vocab import ErrorKind, NotRetriedReason

# The target cannot be reached, does not speak what was asked for, answered with
# something that is not HTTP, or a wait timed out (going on would only repeat the
# wait; a request the server stopped reading is one).  Both the runner and discover
# stop on these; the runner also stops on what discover measures (a reset stream, a
# GOAWAY with an error).  ``local-limit`` is reusecheck's own process out of file
# descriptors: not the target's fault, but every further dial would fail the same way.
UNUSABLE_TARGET: Final[frozenset[ErrorKind]] = frozenset(
    {
        "dns",
        "connect",
        "connect-timeout",
        "tls",
        "tls-timeout",
        "first-byte-timeout",
        "body-timeout",
        "write-timeout",
        "h2-not-negotiated",
        "protocol",
        "local-limit",
        "proxy",
    }
)


class RequestError(Exception):
    """A request failed; ``kind`` says how, ``message`` says what the peer did."""

    def __init__(self, kind: ErrorKind, message: str, *, before_response: bool = False) -> None:
        super().__init__(f"{kind}: {message}")
        self.kind = kind
        self.message = message
        # True when the failure happened before any byte of the response arrived:
        # the condition under which Go's Transport may retry on a new connection.
        self.before_response = before_response
        self.retried = False  # set by the pool when this was the second attempt
        # HTTP/2: the server never processed the stream (GOAWAY above last_stream_id,
        # RST_STREAM REFUSED_STREAM), so any request may be retried (RFC 9113 8.7).
        self.unprocessed = False
        # Set by the pool: the failure happened on a connection that had carried a
        # request before (a keep-alive race is possible), not on a fresh one.
        self.on_reused = False
        # Set by the pool: the connection the failed attempt was on (None: it got none).
        self.conn_id: int | None = None
        # Set by the pool: why a failure Go would retry was not (a non-idempotent request).
        self.not_retried: NotRetriedReason | None = None

    def to_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "message": self.message}
