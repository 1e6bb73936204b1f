"""The catalogue's entries about a client observed by ``reusecheck observe``: what the
service under test does wrong with its connections, seen from the server's side of the
socket, with the fix in the terms of the common clients (Go, Java HttpClient, OkHttp,
Node http.Agent/undici, Python requests/httpx/aiohttp)."""

from __future__ import annotations

from typing import Final

from reusecheck.analysis.findings.entry import CatalogueEntry

OBSERVED_ENTRIES: Final = (
    CatalogueEntry(
        code="client-new-conn-per-request",
        title="The client opens a new connection for every request",
        severity="error",
        explanation=(
            "Every request the client sent arrived on a connection of its own, one after "
            "the other, although one keep-alive connection could have carried them all; or "
            "the client sent 'Connection: close' (keep-alive disabled). Usually a client, "
            "session or transport is created per request and thrown away, so its pool "
            "never holds a connection long enough to reuse it. Each request pays TCP (and "
            "TLS) setup again and leaves a socket in TIME_WAIT."
        ),
        remedy=(
            "Create the client once and share it: Go: one http.Client (or Transport) for "
            "the process, never &http.Transport{} per request, and DisableKeepAlives "
            "false; Java: one HttpClient; OkHttp: one OkHttpClient (share its "
            "ConnectionPool); Node: an http.Agent({keepAlive: true}) (Node < 19 defaults "
            "to keepAlive false) or undici's global dispatcher; Python: a requests.Session, "
            "an httpx.Client or one aiohttp.ClientSession instead of requests.get() or a "
            "client per call; never set 'Connection: close' yourself."
        ),
    ),
    CatalogueEntry(
        code="client-body-not-drained",
        title="The client closes connections after responses it did not read to the end",
        severity="error",
        explanation=(
            "The client closed the connection while the response was still being sent, "
            "or with a TCP reset right after it (a socket closed with unread bytes in its "
            "receive buffer sends RST instead of FIN). An HTTP/1.1 connection can carry "
            "the next request only after the previous body was read to the end, so a "
            "client that closes a body early loses the connection and dials again."
        ),
        remedy=(
            "Read every body to the end before closing it: Go: 'io.Copy(io.Discard, "
            "resp.Body)' then 'resp.Body.Close()'; Java HttpClient: consume the body "
            "(BodyHandlers.discarding() when unwanted); OkHttp: 'response.body().string()' "
            "or close it after reading; Node: 'res.resume()' or read the stream, undici: "
            "'await body.dump()'; Python: requests reads unless stream=True (then "
            "iterate to the end), httpx 'response.read()', aiohttp 'await resp.read()'."
        ),
    ),
    CatalogueEntry(
        code="client-conn-leak",
        title="The client leaves connections open and never uses them again",
        severity="error",
        explanation=(
            "Connections stayed open after their last response, never carried another "
            "request and were never closed by the client, while it kept opening new ones. "
            "Typically a response body never closed (it pins its connection forever), or "
            "a client or transport made per request and never closed (its idle connection "
            "lingers). The open sockets grow until the process or the server runs out of "
            "file descriptors."
        ),
        remedy=(
            "Close every response: Go 'defer resp.Body.Close()' (and drain it), Java "
            "HttpClient: consume or close the body's InputStream, OkHttp: "
            "'try (Response r = ...)'; Node: consume or 'res.destroy()' every response; "
            "Python: 'with requests.get(..., stream=True) as r', 'with client.stream(...)', "
            "'async with session.get(...)'. Share one client instead of one per request, "
            "and close clients you create (Go: Transport.CloseIdleConnections())."
        ),
    ),
    CatalogueEntry(
        code="client-idle-pool-churn",
        title="The client closes connections just after use and opens others moments later",
        severity="warning",
        explanation=(
            "Under concurrency the client closed connections right after their response "
            "while it opened new ones moments later: its idle pool is smaller than its "
            "concurrency, so connections returned after a burst are dropped and the next "
            "burst dials again. Go's DefaultTransport keeps only 2 idle connections per "
            "host (DefaultMaxIdleConnsPerHost), the classic case."
        ),
        remedy=(
            "Keep as many idle connections per host as requests run at once: Go "
            "Transport.MaxIdleConnsPerHost (default 2) and MaxIdleConns (default 100); "
            "OkHttp ConnectionPool(maxIdleConnections, ...) (default 5); Node "
            "http.Agent({keepAlive: true, maxFreeSockets}) (default 256), undici "
            "Pool({connections}); Python urllib3/requests HTTPAdapter(pool_maxsize=...) or "
            "PoolManager(maxsize=...) (default 10), httpx "
            "Limits(max_keepalive_connections=...) (default 20), aiohttp "
            "TCPConnector(limit_per_host=...)."
        ),
    ),
    CatalogueEntry(
        code="client-idle-timeout-too-long",
        title="The client keeps connections idle longer than the server does",
        severity="warning",
        explanation=(
            "The client held connections idle longer than the server's keep-alive (idle) "
            "timeout: the server closed them first, or the client reused one after a gap "
            "the real upstream would not have waited out. Sooner or later such a client "
            "sends a request on a connection the server is closing at that moment, and "
            "the request fails with EOF or a reset (only idempotent ones are retried)."
        ),
        remedy=(
            "Set the client's idle timeout below the server's: Go "
            "Transport.IdleConnTimeout (default 90 s); Java HttpClient: system property "
            "jdk.httpclient.keepalive.timeout (default 30 s, 1200 before JDK 20); OkHttp "
            "ConnectionPool(..., keepAliveDuration) (default 5 min); Node "
            "http.Agent({keepAlive: true, timeout}) or the server's Keep-Alive hint, undici "
            "keepAliveTimeout (default 4 s); Python: urllib3/requests have no idle timeout "
            "(retry idempotent requests), httpx Limits(keepalive_expiry=...) (default 5 s), "
            "aiohttp TCPConnector(keepalive_timeout=...) (default 15 s)."
        ),
    ),
    CatalogueEntry(
        code="client-h2-not-multiplexing",
        title="The HTTP/2-capable client does not multiplex",
        severity="warning",
        explanation=(
            "The client opened several HTTP/2 connections where one would have carried "
            "its concurrent requests as streams, or it spoke HTTP/1.1 over several "
            "connections although the server offered h2 by ALPN. HTTP/2 reuse is "
            "multiplexing: one connection per origin, many streams at once."
        ),
        remedy=(
            "Share one client so its HTTP/2 connection is shared: Go: one http.Client; a "
            "Transport with a custom TLSClientConfig or DialTLS loses h2 unless "
            "ForceAttemptHTTP2 is true; Java HttpClient.Version.HTTP_2 (the default) on "
            "one client; OkHttp: one OkHttpClient; Node: http2.connect once, or undici "
            "with allowH2; Python: httpx.Client(http2=True) (pip install httpx[http2]) "
            "shared; requests, urllib3 and aiohttp speak HTTP/1.1 only."
        ),
    ),
)

OBSERVED_CODES: Final = tuple(e.code for e in OBSERVED_ENTRIES)
