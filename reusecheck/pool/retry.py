"""When a failed attempt is sent again: Go's ``shouldRetryRequest``, and HTTP/2's
unprocessed streams (RFC 9113 section 8.7)."""

from __future__ import annotations

from typing import Final

from reusecheck.net.errors import RequestError
from reusecheck.trace.vocab import NotRetriedReason, RetryReason

# Retries allowed per reason: a stale HTTP/1.1 connection once (on a new connection);
# streams the server never processed up to 6 times, as Go's http2 RoundTripOpt does.
MAX_RETRIES: Final[dict[RetryReason, int]] = {
    "stale": 1,
    "connection-lost": 1,
    "goaway": 6,
    "refused-stream": 6,
}


def retry_reason(
    exc: RequestError, reused: bool, replayable: bool, multiplexed: bool = False
) -> RetryReason | None:
    """Why a failed attempt may be sent again, or None.

    Go's ``shouldRetryRequest``: a replayable request that failed on a reused connection
    before any response byte (the server closed it in the race window).  HTTP/2 adds
    streams the server never processed, which any request may retry.
    """
    if exc.unprocessed:
        return "goaway" if exc.kind == "goaway" else "refused-stream"
    if reused and exc.before_response and replayable and exc.kind == "server-closed":
        # On HTTP/2 a lost connection with streams in flight is not an idle race.
        return "connection-lost" if multiplexed else "stale"
    return None


def not_retried(exc: RequestError, reused: bool, replayable: bool) -> NotRetriedReason | None:
    """Why a failed attempt that ``retry_reason`` would have retried, had the request been
    replayable, is not: Go's ``shouldRetryRequest`` returns false for a request that is
    not ``isReplayable`` (a POST without an Idempotency-Key), so the caller gets the
    stale connection's error.  None when the request was not retryable anyway."""
    if replayable or exc.unprocessed:
        return None
    if reused and exc.before_response and exc.kind == "server-closed":
        return "non-idempotent"
    return None
