"""The catalogue's entries about the requests themselves: what a request's method and
body allow a client to do when its connection fails (``catalogue`` holds the server's
and the protocol's, ``client_entries`` the client's pool)."""

from __future__ import annotations

from typing import Final

from reusecheck.analysis.findings.entry import CatalogueEntry

REQUEST_ENTRIES: Final = (
    CatalogueEntry(
        code="not-retried-non-idempotent",
        title="A request failed on a stale connection and could not be retried",
        severity="error",
        explanation=(
            "A request went out on a reused idle connection just as the server closed it "
            "(the stale connection race: the server's keep-alive timeout fired while the "
            "request was on its way) and failed before any response byte. Go's Transport "
            "retries such a failure on a new connection only when the request is "
            "replayable (shouldRetryRequest, isReplayable): GET, HEAD, OPTIONS, TRACE, or "
            "any method with an Idempotency-Key or X-Idempotency-Key header. A POST "
            "without one may already have been acted on, so the client returns the error "
            "to the caller instead, as reusecheck did here. Other clients behave alike "
            "(urllib3 and httpx do not retry a POST either)."
        ),
        remedy=(
            "Keep the client's idle timeout below the server's keep-alive timeout, so the "
            "client closes an idle connection before the server does (Go "
            "Transport.IdleConnTimeout, httpx Limits(keepalive_expiry=...), aiohttp "
            "TCPConnector(keepalive_timeout=...); nginx keepalive_timeout, Node "
            "server.keepAliveTimeout on the server side). And make the request safe to "
            "retry: send an Idempotency-Key header (the server then deduplicates), which "
            "lets Go's Transport retry it."
        ),
    ),
)
