"""The catalogue's entries about the path to the target: a proxy in between, and the
addresses a name resolves to (``catalogue`` holds the server's, ``client_entries`` the
client's)."""

from __future__ import annotations

from typing import Final

from reusecheck.analysis.findings.entry import CatalogueEntry

ROUTE_ENTRIES: Final = (
    CatalogueEntry(
        code="proxy-connect-refused",
        title="The proxy refused to open a tunnel to the target",
        severity="error",
        explanation=(
            "An https:// request through a proxy starts with 'CONNECT host:port' (RFC 9110 "
            "section 9.3.6); only a 2xx answer opens the tunnel the TLS connection to the "
            "target runs in. Anything else is the proxy's own answer and the target was "
            "never reached: 403 from an access rule (squid allows CONNECT to port 443 "
            "only by default), 407 when it wants credentials, 502 or 503 when it could "
            "not reach the target itself."
        ),
        remedy=(
            "Read the status: 407: give the proxy's credentials in its URL "
            "(http://user:password@proxy:3128, in --proxy or HTTPS_PROXY; Go's Transport "
            "and curl send them as Proxy-Authorization on the CONNECT); 403: the proxy's "
            "rules forbid this host or port (squid: http_access, the SSL_ports ACL), or "
            "the target should not go through the proxy at all (NO_PROXY, --noproxy); "
            "502/503: the proxy cannot reach the target (squid's X-Squid-Error names why)."
        ),
    ),
    CatalogueEntry(
        code="proxy-no-keepalive",
        title="The proxy closes every client connection after one response",
        severity="error",
        explanation=(
            "http:// requests through a proxy go to the proxy itself, in absolute form, "
            "so the connection the client reuses is the one to the proxy, whatever the "
            "origin behind it does. This proxy ended each of those connections after its "
            "response ('Connection: close', or a close), so every request paid a new "
            "connection to the proxy, even towards an origin that keeps connections "
            "alive. Squid does this with client_persistent_connections off."
        ),
        remedy=(
            "Turn on persistent client connections in the proxy: squid "
            "'client_persistent_connections on' (the default); nginx as a forward or "
            "reverse proxy: keepalive_timeout above 0; HAProxy: 'option http-keep-alive' "
            "rather than 'option httpclose'. Check the client too: a client that sends "
            "'Connection: close' (Go DisableKeepAlives) is answered with a close."
        ),
    ),
    CatalogueEntry(
        code="proxy-idle-timeout",
        title="The proxy closes idle client connections",
        severity="warning",
        explanation=(
            "The proxy closed connections that sat idle in the client's pool. Through a "
            "proxy, the idle timeout that counts for http:// requests is the proxy's "
            "towards its clients, not the origin's. A client whose own idle timeout is "
            "longer will sooner or later send a request on a connection the proxy is "
            "closing at that moment, and the request fails or must be retried."
        ),
        remedy=(
            "Keep the client's idle timeout below the proxy's (Go Transport "
            "IdleConnTimeout, httpx Limits(keepalive_expiry=...); here --idle-timeout), or "
            "raise the proxy's: squid client_idle_pconn_timeout (default 2 minutes), nginx "
            "keepalive_timeout, HAProxy 'timeout http-keep-alive'."
        ),
    ),
    CatalogueEntry(
        code="addresses-spread",
        title="Connections to one origin went to several addresses",
        severity="info",
        explanation=(
            "The origin's name gave several addresses and the run's connections reached "
            "more than one of them: DNS round robin, a load balancer with several "
            "addresses, or an address family that failed so the dial fell back to the "
            "other (Happy Eyeballs, RFC 8305). Each address is a different listener, often "
            "a different machine: a connection to one cannot be reused for another's "
            "state, TLS sessions from one are usually not resumed by another, and "
            "per-server limits (idle timeout, requests per connection) may differ "
            "between them."
        ),
        remedy=(
            "To measure one server, pin its address: --resolve HOST:PORT:ADDR (curl's "
            "option; [pool] resolve in a scenario) or --connect-to; Go: a custom "
            "net.Dialer / DialContext. A failed family is worth fixing where it fails: "
            "an AAAA record for a server that does not listen on IPv6 costs a failed "
            "connect before every fallback (-4 or -6 restricts a run to one family). "
            "Servers behind one name should share their TLS session ticket keys."
        ),
    ),
)
