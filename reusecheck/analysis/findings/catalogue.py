"""The findings catalogue: every code reusecheck can report, as data.

A finding is target (or client) behaviour that breaks or bounds connection reuse.  The
catalogue holds what does not depend on a run: the stable code, a title, the default
severity, what it means and how it is usually fixed.  A detected ``Finding`` adds what
was measured: a message with the numbers, the evidence (request indexes, connection
ids, times) and a remedy computed from the numbers where there are any (``remedies``).

The knobs named here are the ones people actually turn: Go's ``http.Transport``,
Python's httpx and aiohttp, nginx, Apache httpd and Node's ``http.Server``.  Their
defaults are quoted because the default is usually what is running.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final

from reusecheck.analysis.findings.client_entries import CLIENT_ENTRIES
from reusecheck.analysis.findings.entry import SEVERITIES, CatalogueEntry, Severity
from reusecheck.analysis.findings.observed_entries import OBSERVED_ENTRIES
from reusecheck.analysis.findings.request_entries import REQUEST_ENTRIES
from reusecheck.analysis.findings.route_entries import ROUTE_ENTRIES

__all__ = [
    "CATALOGUE",
    "KNOWN_CODES",
    "SEVERITIES",
    "CatalogueEntry",
    "Finding",
    "Severity",
    "UnknownCode",
    "entry",
    "explain",
    "finding",
]


@dataclass(frozen=True, slots=True)
class Finding:
    """One detected finding: what was measured, where, and what to change."""

    code: str
    severity: Severity
    message: str
    remedy: str
    evidence: Mapping[str, Any] = field(default_factory=dict)

    @property
    def title(self) -> str:
        return CATALOGUE[self.code].title


class UnknownCode(ValueError):
    """``explain`` was asked about a code that is not in the catalogue."""


_IDLE_KNOBS = (
    "Clients: Go http.Transport IdleConnTimeout (DefaultTransport: 90 s), httpx "
    "Limits(keepalive_expiry=...) (default 5 s), aiohttp TCPConnector(keepalive_timeout=...) "
    "(default 15 s). Servers: nginx keepalive_timeout (default 75 s), Apache KeepAliveTimeout "
    "(default 5 s), Node server.keepAliveTimeout (default 5 s)."
)


_ENTRIES: tuple[CatalogueEntry, ...] = (
    CatalogueEntry(
        code="no-keepalive",
        title="Server closes every connection after one response",
        severity="error",
        explanation=(
            "Every connection carried exactly one request: the server ended it after the "
            "response, by sending 'Connection: close' or by closing the socket. Each request "
            "pays DNS, TCP and TLS setup again and leaves a socket in TIME_WAIT, which under "
            "load exhausts ephemeral ports. HTTP/1.1 connections are persistent unless one "
            "side says otherwise (RFC 9112 section 9.3)."
        ),
        remedy=(
            "Enable keep-alive on the server and on anything in front of it: nginx "
            "keepalive_timeout must not be 0; Apache needs 'KeepAlive On'; Node must not set "
            "'Connection: close' and server.keepAliveTimeout must be above 0. A server "
            "echoes 'Connection: close' when the client sends it, so check the client too: "
            "Go DisableKeepAlives must be false and req.Close unset."
        ),
    ),
    CatalogueEntry(
        code="http10-server",
        title="Server answers with HTTP/1.0 and closes the connection",
        severity="error",
        explanation=(
            "The responses were HTTP/1.0 without 'Connection: keep-alive', so the "
            "connection ends after each response (RFC 9112 section 9.3). This is typical of "
            "small embedded servers, of Python's http.server (protocol_version defaults to "
            "HTTP/1.0) and of proxies that speak HTTP/1.0 upstream (nginx proxy_http_version "
            "defaults to 1.0)."
        ),
        remedy=(
            "Make the server speak HTTP/1.1: Python BaseHTTPRequestHandler.protocol_version = "
            "'HTTP/1.1' (and send Content-Length); nginx as a proxy: 'proxy_http_version 1.1; "
            "proxy_set_header Connection \"\";' with 'keepalive N' in the upstream block."
        ),
    ),
    CatalogueEntry(
        code="max-requests-per-conn",
        title="Server closes connections after a fixed number of requests",
        severity="warning",
        explanation=(
            "The server ended connections after exactly the same number of requests. This "
            "is a configured limit, not an accident: nginx keepalive_requests (default 1000, "
            "100 before 1.19.10), Apache MaxKeepAliveRequests (default 100), Node "
            "server.maxRequestsPerSocket. Every Nth request pays connection setup, and a "
            "client that sends a request just as the server closes must retry it."
        ),
        remedy=(
            "Raise the limit on the server (nginx keepalive_requests, Apache "
            "MaxKeepAliveRequests, 0 for unlimited; Node server.maxRequestsPerSocket). "
            "Clients recover by retrying idempotent requests on a new connection, as Go's "
            "Transport does."
        ),
    ),
    CatalogueEntry(
        code="server-idle-timeout",
        title="Server closes idle connections",
        severity="warning",
        explanation=(
            "The server closed keep-alive connections that sat idle in the client's pool. "
            "If the client's own idle timeout is longer than the server's, the client will "
            "sooner or later send a request on a connection the server is closing at that "
            "moment: the request fails with EOF or a reset and must be retried (only "
            "idempotent requests can be). Load balancers do the same (AWS ALB: 60 s)."
        ),
        remedy=(
            "Keep the client's idle timeout below the server's, with a margin of a second "
            "or more. " + _IDLE_KNOBS
        ),
    ),
    CatalogueEntry(
        code="stale-conn-retry",
        title="A reused connection was already closed by the server",
        severity="warning",
        explanation=(
            "A request was sent on an idle connection the server had closed (or was "
            "closing), failed before any response byte and was retried on a new connection. "
            "Retrying is only safe for idempotent requests (RFC 9112 section 9.3.1); a POST "
            "would have failed for the caller."
        ),
        remedy=(
            "Set the client's idle timeout below the server's keep-alive timeout. " + _IDLE_KNOBS
        ),
    ),
    CatalogueEntry(
        code="h2-not-negotiated",
        title="HTTP/2 was offered but not negotiated",
        severity="warning",
        explanation=(
            "The client offered 'h2' in TLS ALPN (RFC 7301) but the server chose "
            "http/1.1, or no protocol at all, so requests cannot share one connection as "
            "streams (RFC 9113 section 3.2): every concurrent request needs a connection of "
            "its own. Often the server is fine and something in front of it is not: a load "
            "balancer, CDN or TLS-terminating proxy that speaks only HTTP/1.1 to clients."
        ),
        remedy=(
            "Enable HTTP/2 on the TLS listener: nginx 'http2 on;' (1.25.1+) or 'listen 443 "
            "ssl http2;'; Apache 'Protocols h2 http/1.1' with mod_http2 loaded; Node "
            "http2.createSecureServer({allowHTTP1: true}); on a load balancer or CDN that "
            "terminates TLS, turn its HTTP/2 option on. Your own client must offer h2 too: "
            "Go needs Transport.ForceAttemptHTTP2 = true once it sets TLSClientConfig or a "
            "custom dialer; httpx needs Client(http2=True) and the h2 extra (pip install "
            "'httpx[http2]')."
        ),
    ),
    CatalogueEntry(
        code="h2-no-multiplexing",
        title="Concurrent HTTP/2 requests did not share a connection",
        severity="warning",
        explanation=(
            "Requests in flight at the same time used separate HTTP/2 connections although "
            "the server's SETTINGS_MAX_CONCURRENT_STREAMS (RFC 9113 section 6.5.2) let one "
            "connection carry them all as streams. Each extra connection pays TCP and TLS "
            "setup, its own congestion window and its own HPACK table. The usual cause is a "
            "client (or transport) per request, or a pool that dials for every waiting "
            "request before the first handshake has said h2."
        ),
        remedy=(
            "Share one client per host: Go's http2 Transport keeps one connection per host "
            "and multiplexes on it, so build one http.Client / Transport and reuse it, never "
            "one per request (Transport.StrictMaxConcurrentStreams = true also makes it "
            "queue at the server's limit instead of dialling more); httpx: one shared "
            "Client(http2=True) or AsyncClient(http2=True) for all requests. Raise the "
            "server's limit if it is low (nginx http2_max_concurrent_streams, default 128)."
        ),
    ),
    CatalogueEntry(
        code="h2-goaway",
        title="Server ended HTTP/2 connections with GOAWAY",
        severity="warning",
        explanation=(
            "The server sent GOAWAY (RFC 9113 section 6.8): no new streams on that "
            "connection, and streams above its last_stream_id were not processed and must "
            "be retried on a new connection. NO_ERROR is a graceful shutdown: a reload, "
            "the idle timeout, or a limit on streams per connection (nginx "
            "keepalive_requests also bounds HTTP/2 streams, 1000 by default; "
            "http2_max_requests before 1.19.7). Any other code means the server saw an "
            "error: PROTOCOL_ERROR, or ENHANCE_YOUR_CALM when it judged the client abusive."
        ),
        remedy=(
            "For NO_ERROR after a fixed number of streams, raise the server's limit (nginx "
            "keepalive_requests). Clients must open a new connection and retry the "
            "unprocessed streams (Go and httpx do). For an error code, the GOAWAY's debug "
            "data and the server's error log name the cause."
        ),
    ),
    CatalogueEntry(
        code="h2-stream-refused",
        title="Server refused HTTP/2 streams below the limit it announced",
        severity="warning",
        explanation=(
            "The server reset streams with RST_STREAM REFUSED_STREAM before processing "
            "them (RFC 9113 section 8.7) while fewer streams were open than its "
            "SETTINGS_MAX_CONCURRENT_STREAMS allowed. The requests are safe to retry and "
            "were, but each refusal costs a round trip, and a client that trusts the "
            "announced limit keeps running into it. Servers do this when shedding load, or "
            "when what stands behind the HTTP/2 front end serves fewer requests at once "
            "than the front end announces."
        ),
        remedy=(
            "Announce the concurrency the server really serves: nginx "
            "http2_max_concurrent_streams, Go http2.Server.MaxConcurrentStreams, Node "
            "http2 settings.maxConcurrentStreams, Envoy max_concurrent_streams. Clients "
            "retry refused streams (Go's Transport and httpx do); one that sends "
            "non-idempotent requests must be able to as well."
        ),
    ),
    CatalogueEntry(
        code="h2-no-streams",
        title="Server allows no HTTP/2 streams",
        severity="error",
        explanation=(
            "The server announced SETTINGS_MAX_CONCURRENT_STREAMS 0 (RFC 9113 section "
            "6.5.2): legal, and a way to shed load, but no request can be sent on the "
            "connection until it raises the limit, and a new connection is told the same. "
            "A client that dials again for every request it cannot place multiplies the "
            "load the server is shedding; reusecheck waits for a stream at most its "
            "first-byte timeout and dials no more connections to such a server."
        ),
        remedy=(
            "Look at why the server sheds load (its error log, its concurrency limits: "
            "nginx http2_max_concurrent_streams, Go http2.Server.MaxConcurrentStreams, "
            "Envoy max_concurrent_streams, a proxy's overload manager), or at what in "
            "front of it announces 0. Clients should back off rather than dial more: Go's "
            "Transport with StrictMaxConcurrentStreams waits for a stream."
        ),
    ),
    CatalogueEntry(
        code="h2-concurrency-below-advertised",
        title="Server works on fewer HTTP/2 streams at once than it advertises",
        severity="warning",
        explanation=(
            "The server let the client open as many streams as its "
            "SETTINGS_MAX_CONCURRENT_STREAMS advertised (RFC 9113 section 6.5.2), but "
            "answered them in waves: it worked on only some at once and queued the rest, "
            "each queued stream starting only when an earlier one had finished. A client "
            "that sizes its concurrency by the advertised limit sends more than is "
            "served at once, and the queued requests' latency grows with their place in "
            "the queue. The usual cause is a worker pool or an upstream connection "
            "limit behind an HTTP/2 front end that advertises its own, larger limit."
        ),
        remedy=(
            "Advertise what is really served at once, or serve what is advertised: "
            "nginx http2_max_concurrent_streams (default 128), Envoy "
            "max_concurrent_streams, Go http2.Server.MaxConcurrentStreams, Node http2 "
            "settings.maxConcurrentStreams; or raise the limit behind the front end "
            "(the upstream's workers or threads, nginx upstream keepalive connections, "
            "Envoy's circuit breakers max_requests). Until then, keep a client's "
            "concurrency per connection at what was measured."
        ),
    ),
    CatalogueEntry(
        code="unsolicited-response",
        title="Server sent a response nobody asked for",
        severity="error",
        explanation=(
            "Bytes arrived on an HTTP/1.1 connection when no request was waiting for "
            "them: a second response to one request, or more body than the response's "
            "Content-Length said. HTTP/1.1 pairs responses with requests only by their "
            "order (RFC 9112 section 9.3), so a client that reads such bytes as the next "
            "response hands every later request the answer to the one before: on that "
            "connection the responses may have answered the wrong requests. Go's "
            "Transport closes the connection ('Unsolicited response received on idle "
            "HTTP channel'), and so does reusecheck; a 408 on an idle connection is the "
            "server's idle close, not this."
        ),
        remedy=(
            "Fix the server or the proxy in front of it: a handler that writes twice, a "
            "wrong Content-Length (compression or a rewrite that changes the body without "
            "updating it), or a proxy that desynchronises requests and responses on a "
            "kept-alive upstream connection (HTTP request smuggling looks like this too). "
            "Until then, turn keep-alive off towards it (Go DisableKeepAlives, nginx "
            "proxy_http_version 1.0 upstream) so no response can answer the wrong request."
        ),
    ),
    CatalogueEntry(
        code="record-capped",
        title="The record kept only part of what the server sent",
        severity="info",
        explanation=(
            "Some responses carried more headers than the record keeps per response, or "
            "the server repeated identical HTTP/2 SETTINGS frames: the record kept a "
            "prefix of the headers (the rest are counted in headers_omitted) and one "
            "h2_settings event per change (the rest are counted in conn_closed's "
            "settings_repeated), so that a server cannot make a run's memory, its JSON and "
            "its HAR grow without bound. Nothing the analysis measures is lost: "
            "Connection and Keep-Alive are read from all of the headers."
        ),
        remedy=(
            "Nothing to fix in reusecheck. Thousands of response headers, or SETTINGS "
            "frames sent over and over, are worth a look on the server: proxies and "
            "clients cap headers too (nginx large_client_header_buffers, Go "
            "Transport.MaxResponseHeaderBytes, 1 MiB) and may refuse such responses."
        ),
    ),
)
_ENTRIES += CLIENT_ENTRIES
_ENTRIES += ROUTE_ENTRIES
_ENTRIES += REQUEST_ENTRIES
_ENTRIES += OBSERVED_ENTRIES


CATALOGUE: Final[Mapping[str, CatalogueEntry]] = MappingProxyType({e.code: e for e in _ENTRIES})


KNOWN_CODES: Final[tuple[str, ...]] = tuple(CATALOGUE)


def entry(code: str) -> CatalogueEntry:
    try:
        return CATALOGUE[code]
    except KeyError:
        known = ", ".join(KNOWN_CODES)
        raise UnknownCode(f"unknown finding code {code!r}; known codes: {known}") from None


def explain(code: str, width: int = 78) -> str:
    """The catalogue entry as text for ``reusecheck explain CODE``."""
    e = entry(code)
    # Never break "keep-alive" or "--idle-timeout" across lines.
    wrap = textwrap.TextWrapper(width, break_on_hyphens=False, break_long_words=False)
    return "\n\n".join(
        [
            wrap.fill(f"{e.code} ({e.severity}): {e.title}"),
            wrap.fill(e.explanation),
            wrap.fill("Remedy: " + e.remedy),
        ]
    )


def finding(code: str, message: str, remedy: str, **evidence: Any) -> Finding:
    """A finding with the catalogue's severity."""
    return Finding(code, entry(code).severity, message, remedy, evidence)
