"""The catalogue's entries about the client and the run: its pool, its idle timeout,
keep-alive it disabled, unread bodies, error responses, failed connections and
expectations (``catalogue`` holds the server's and the protocol's)."""

from __future__ import annotations

from typing import Final

from reusecheck.analysis.findings.entry import CatalogueEntry

CLIENT_ENTRIES: Final = (
    CatalogueEntry(
        code="pool-churn",
        title="The client's pool closed connections it soon had to re-open",
        severity="warning",
        explanation=(
            "More requests ran at once than the pool may keep idle per host, so connections "
            "returned after a burst were closed (idle list full) and the next burst dialled "
            "new ones. Go's DefaultTransport keeps only 2 idle connections per host "
            "(DefaultMaxIdleConnsPerHost), the classic source of TIME_WAIT build-up under "
            "concurrency."
        ),
        remedy=(
            "Raise the per-host idle limit to the concurrency you run: Go "
            "Transport.MaxIdleConnsPerHost (default 2), httpx "
            "Limits(max_keepalive_connections=...) (default 20), aiohttp "
            "TCPConnector(limit_per_host=...); here: --max-idle-per-host (probe) or "
            "[pool] max_idle_per_host (scenario files)."
        ),
    ),
    CatalogueEntry(
        code="body-not-drained",
        title="Response bodies were not read to the end",
        severity="warning",
        explanation=(
            "An HTTP/1.1 connection can carry the next request only after the previous "
            "response body was read completely. A body that was closed early or never read "
            "pins or kills its connection, so the next request dials a new one."
        ),
        remedy=(
            "Read every body to the end and close it: Go 'io.Copy(io.Discard, resp.Body); "
            "resp.Body.Close()'; httpx: read the response (response.read(), or iterate a "
            "client.stream(...) to the end); aiohttp: 'await resp.read()' or 'async with' "
            "the response so it is released."
        ),
    ),
    CatalogueEntry(
        code="tls-no-resumption",
        title="TLS sessions were not resumed",
        severity="info",
        explanation=(
            "Each new connection did a full TLS handshake although the client offered a "
            "session from an earlier connection. Resumption saves a round trip (TLS 1.2) "
            "and the certificate exchange on every new connection."
        ),
        remedy=(
            "Enable session tickets or a session cache on the server (nginx "
            "ssl_session_cache shared:SSL:10m and ssl_session_tickets on; Apache "
            "SSLSessionCache); Go clients need tls.Config.ClientSessionCache set."
        ),
    ),
    CatalogueEntry(
        code="client-idle-timeout",
        title="The client's own idle timeout closed connections it needed again",
        severity="warning",
        explanation=(
            "The client's pool closed idle connections when its own idle timeout expired, "
            "and later requests had to dial again. That is the client's setting, not the "
            "server's doing: a timeout shorter than the pauses between requests gives up "
            "connections the server would have kept. It should stay below the server's "
            "idle timeout (else requests race the server's close) but above the pauses "
            "you want reuse across."
        ),
        remedy=(
            "Set the client's idle timeout between the pauses between requests and the "
            "server's idle timeout: Go Transport.IdleConnTimeout, httpx "
            "Limits(keepalive_expiry=...), aiohttp TCPConnector(keepalive_timeout=...); "
            "here: --idle-timeout (probe) or [pool] idle_timeout (scenario files). When the "
            "server's idle timeout is itself shorter than the pauses, no client setting "
            "keeps the connection: raise the server's (reusecheck discover measures it; a "
            "server that announces Keep-Alive: timeout is judged by it)."
        ),
    ),
    CatalogueEntry(
        code="keepalive-disabled",
        title="The client disabled keep-alive",
        severity="warning",
        explanation=(
            "The client asked for every connection to end after its request (it sent "
            "'Connection: close'), so each request paid a new connection. That is the "
            "client's choice, not the server's: the server only did what it was asked."
        ),
        remedy=(
            "Keep keep-alive on: Go Transport.DisableKeepAlives = false and no req.Close "
            "= true; curl without -H 'Connection: close'; httpx and aiohttp keep it on "
            "unless a 'Connection: close' header is set; here: leave out "
            "--disable-keepalives ([pool] disable_keepalives in scenario files)."
        ),
    ),
    CatalogueEntry(
        code="connection-error",
        title="Connections failed and were replaced",
        severity="warning",
        explanation=(
            "Connections ended in an error (a response cut off, a reset with requests in "
            "flight, a protocol error on a stream) rather than by either side's choice, "
            "and later requests had to dial again."
        ),
        remedy=(
            "The error on each connection names what the server (or something between) "
            "did; its error log usually says why. Clients recover by retrying idempotent "
            "requests on a new connection, as Go's Transport does."
        ),
    ),
    CatalogueEntry(
        code="error-responses",
        title="Responses were errors (4xx/5xx), not the service's answers",
        severity="warning",
        explanation=(
            "Some or all responses had a status of 400 or more, so the run measured the "
            "error path: a plain http:// request to a TLS port (400, then a close), a path "
            "that does not exist (404), missing credentials (401), a proxy whose upstream "
            "is down (502/503/504), a rate limit (429). Servers often close a connection "
            "after an error response; that says the request failed, not that keep-alive "
            "is off, so those closes are reported here and not as no-keepalive. The "
            "message names the causes the server stated and quotes its error page."
        ),
        remedy=(
            "Fix the request so it answers 2xx: the URL's scheme, host and path, the "
            "method and headers, credentials; then probe again. In CI, --expect status "
            "fails the run when any response is not 2xx/3xx."
        ),
    ),
    CatalogueEntry(
        code="expectation-unmet",
        title="An expectation failed for a reason no other finding names",
        severity="info",
        explanation=(
            "An expectation failed although no connection was wasted: the run did not "
            "give it a chance (no concurrent requests to multiplex), or it asks for "
            "more than the run could give (a reuse ratio or connection count the "
            "plan's own bursts cannot meet, since every connection was needed)."
        ),
        remedy=(
            "Change the run or the expectation: concurrent requests (--concurrency) for "
            "multiplex, more sequential requests (--requests) for a higher reuse ratio, "
            "or a bound that allows the connections the bursts need."
        ),
    ),
    CatalogueEntry(
        code="new-conn-per-request",
        title="Every request opened a new connection",
        severity="error",
        explanation=(
            "Requests ran one after another, so one connection could have carried them "
            "all, yet each opened its own. Either side can cause it: a client that turns "
            "keep-alive off or builds a new client per request, a pool that closes what it "
            "gets back, or a server that ends connections."
        ),
        remedy=(
            "Reuse one client for all requests (Go: one http.Client / Transport; httpx: one "
            "Client; aiohttp: one ClientSession) and keep keep-alive on (Go "
            "DisableKeepAlives false). The other findings of this run name the cause."
        ),
    ),
)
