"""The path to the target: a proxy that refused the tunnel, closed its clients'
connections after one response or while idle, and an origin whose connections reached
several addresses."""

from __future__ import annotations

from collections import defaultdict

from reusecheck.analysis.events import as_int, as_str, get
from reusecheck.analysis.findings import catalogue as cat
from reusecheck.analysis.findings import remedies
from reusecheck.analysis.findings.catalogue import Finding
from reusecheck.analysis.findings.context import Context, evidence, opened
from reusecheck.analysis.proxies import forwarded, run_proxy
from reusecheck.analysis.server import (
    CLOSE_AFTER_RESPONSE_S,
    after_response_closes,
    server_idle_closes,
)
from reusecheck.analysis.text import listed, plural, secs, tally

_SAID = {
    "connection-close-header": "Connection: close",
    "eof": "EOF",
    "reset": "reset",
    "idle-timeout": "EOF right after the response",
}

# What each refusal asks of the user, by status.
_REFUSED = {
    407: (
        "The proxy wants credentials: give them in its URL (http://user:password@host:port, "
        "in --proxy or HTTPS_PROXY); they are sent as Proxy-Authorization on the CONNECT."
    ),
    403: (
        "The proxy's rules refuse CONNECT to this host or port (squid: http_access and the "
        "SSL_ports ACL, which allows port 443 only by default); allow it there, or keep "
        "this target off the proxy (NO_PROXY, --noproxy)."
    ),
}
_UNREACHED = (
    "The proxy could not reach the target itself (squid's X-Squid-Error names why: "
    "ERR_CONNECT_FAIL, ERR_DNS_FAIL): check the target from the proxy's network."
)


def proxy_connect_refused(ctx: Context) -> Finding | None:
    refused = [e for e in ctx.index.named("proxy_connect_done") if get(e, "error") is not None]
    if not refused:
        return None
    statuses = [as_int(get(e, "status")) for e in refused]
    first = refused[0]
    message = str(get(first, "error"))
    if len(refused) > 1:
        message += f" ({len(refused)} tunnels refused)"
    status = statuses[0]
    if status in _REFUSED:
        remedy = _REFUSED[status]
    elif status is not None and status in (502, 503, 504):
        remedy = _UNREACHED
    else:
        remedy = cat.entry("proxy-connect-refused").remedy
    targets = [
        as_str(get(ctx.index.conn_event(e.conn, "proxy_connect_start"), "target"))
        for e in refused
        if e.conn is not None
    ]
    return cat.finding(
        "proxy-connect-refused",
        message,
        remedy,
        connections=[e.conn for e in refused],
        statuses=statuses,
        targets=targets,
        proxy=run_proxy(ctx.conns),
        times_s=[round(e.t, 6) for e in refused],
    )


def proxy_no_keepalive(ctx: Context) -> Finding | None:
    """Every connection to the proxy (http:// targets, absolute form) ended after its
    one response: the proxy's doing, whatever the origin's keep-alive."""
    used = [c for c in ctx.conns if forwarded(c) and c.requests]
    if not used or any(c.requests > 1 for c in used):
        return None
    closes = [c for c in after_response_closes(ctx.index, ctx.conns) if forwarded(c)]
    if not closes:
        return None
    how = tally(_SAID.get(c.close_reason or "", c.close_reason or "?") for c in closes)
    proxy = run_proxy(closes)
    return cat.finding(
        "proxy-no-keepalive",
        f"the proxy {proxy} closed {len(closes)} of {plural(len(used), 'connection')} after "
        f"one request each ({how}): every http:// request paid a new connection to the "
        "proxy, whatever the origin behind it keeps",
        cat.entry("proxy-no-keepalive").remedy,
        **evidence(closes, reasons=[c.close_reason for c in closes], proxy=proxy),
    )


def proxied_idle_closes(ctx: Context) -> list[tuple[int, float, str]]:
    """(conn, idle seconds, reason) of the idle connections a proxy closed (http://
    targets: the connection is the proxy's, not a tunnel to the origin)."""
    proxied = {c.id for c in ctx.conns if forwarded(c)}
    return [
        x
        for x in server_idle_closes(ctx.index)
        if x[0] in proxied and x[1] >= CLOSE_AFTER_RESPONSE_S
    ]


def proxy_idle_timeout(ctx: Context) -> Finding | None:
    closes = proxied_idle_closes(ctx)
    if not closes:
        return None
    idles = sorted(t for _, t, _ in closes)
    shortest = idles[0]
    client = ctx.options.get("idle_timeout_s")
    than = (
        f", shorter than the client's idle timeout ({secs(float(client))})"
        if isinstance(client, int | float) and client > shortest
        else ""
    )
    conns = [c for c in ctx.conns if c.id in {cid for cid, _, _ in closes}]
    proxy = run_proxy(conns)
    return cat.finding(
        "proxy-idle-timeout",
        f"the proxy {proxy} closed {plural(len(closes), 'idle connection')} after "
        f"{secs(shortest)} idle ({tally(r for _, _, r in closes)}){than}",
        remedies.client_idle_timeout_remedy(
            shortest, "the proxy's idle timeout; squid: client_idle_pconn_timeout"
        ),
        **evidence(conns, idle_times_s=[round(t, 6) for t in idles], proxy=proxy),
    )


def addresses_spread(ctx: Context) -> Finding | None:
    """Connections of one pool key (an origin dialled directly) that reached different
    addresses."""
    by_key: dict[str | None, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    for c in opened(ctx):
        if c.proxy is None and c.remote is not None:
            by_key[ctx.scopes.of_conn(c.id)[1]][c.remote].append(c.id)
    spread = {key: addrs for key, addrs in by_key.items() if len(addrs) > 1}
    if not spread:
        return None
    key, addrs = next(iter(spread.items()))
    where = ", ".join(f"{a} (conn {listed(ids)})" for a, ids in addrs.items())
    origin = key or "one origin"
    message = (
        f"connections to {origin} reached {len(addrs)} addresses: {where}; none of them "
        "can take over another's connections or, usually, resume its TLS sessions"
    )
    if len(spread) > 1:
        message += f" ({len(spread)} origins so)"
    return cat.finding(
        "addresses-spread",
        message,
        cat.entry("addresses-spread").remedy,
        origins={str(k): {a: ids for a, ids in v.items()} for k, v in spread.items()},
        connections=sorted(i for v in spread.values() for ids in v.values() for i in ids),
    )
