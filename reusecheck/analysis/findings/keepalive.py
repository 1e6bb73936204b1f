"""The server ends connections: no keep-alive, HTTP/1.0, a limit of requests per
connection; and a kept-alive connection the client ended because the server sent a
response nobody asked for."""

from __future__ import annotations

from reusecheck.analysis.events import as_str, get
from reusecheck.analysis.findings import catalogue as cat
from reusecheck.analysis.findings import remedies
from reusecheck.analysis.findings.catalogue import Finding
from reusecheck.analysis.findings.context import Context, evidence, opened
from reusecheck.analysis.server import (
    after_response_closes,
)
from reusecheck.analysis.text import listed, plural, tally

# How a close reason reads in a message.
_SAID = {
    "connection-close-header": "Connection: close",
    "http10": "HTTP/1.0",
    "eof": "EOF",
    "reset": "reset",
    "idle-timeout": "EOF right after the response",
    "goaway": "GOAWAY",
}


def no_keepalive(ctx: Context) -> Finding | None:
    if ctx.server.keepalive is not False or "proxy-no-keepalive" in ctx.found:
        return None  # through a proxy that closes: the proxy's finding says it
    closes = [c for c in after_response_closes(ctx.index, ctx.conns) if c.close_reason != "http10"]
    if not closes:
        return None  # all HTTP/1.0: http10-server says it better
    used = [c for c in ctx.conns if c.requests]
    how = tally(_SAID.get(c.close_reason or "", c.close_reason or "?") for c in closes)
    return cat.finding(
        "no-keepalive",
        f"server closed {len(closes)} of {plural(len(used), 'connection')} after one request "
        f"each ({how})",
        cat.entry("no-keepalive").remedy,
        **evidence(closes, reasons=[c.close_reason for c in closes]),
    )


def http10_server(ctx: Context) -> Finding | None:
    closes = [c for c in ctx.conns if c.close_reason == "http10" and c.closed_by == "server"]
    if not closes:
        return None
    used = [c for c in ctx.conns if c.requests]
    per_conn = sorted({c.requests for c in closes})
    after = (
        f"after {plural(per_conn[0], 'request')} each"
        if len(per_conn) == 1
        else f"after {per_conn[0]}-{per_conn[-1]} requests"
    )
    return cat.finding(
        "http10-server",
        f"server answered HTTP/1.0 without keep-alive and closed {len(closes)} of "
        f"{plural(len(used), 'connection')} {after}",
        cat.entry("http10-server").remedy,
        **evidence(closes),
    )


def max_requests(ctx: Context) -> Finding | None:
    n = ctx.server.max_requests_per_conn
    if n is None or n < 2:
        return None
    closes = [c for c in after_response_closes(ctx.index, ctx.conns) if c.requests == n]
    if closes and all(c.h2 is not None and c.h2.goaway is not None for c in closes):
        return None  # HTTP/2: h2-goaway says it, with the GOAWAY's error code
    how = tally(_SAID.get(c.close_reason or "", c.close_reason or "?") for c in closes)
    message = (
        f"server closed {len(closes)} of {plural(len(opened(ctx)), 'connection')} after "
        f"exactly {n} requests ({how})"
    )
    if ctx.server.max_requests_evidence == "once":
        message += (
            f", once: likely a per-connection limit of {n}; `reusecheck discover` (or "
            "probe --discover) measures it"
        )
    hint = ctx.server.keepalive_hint
    if hint is not None and hint.max is not None:
        delta = ctx.server.max_requests_hint_delta or 0
        message += f"; Keep-Alive hint max={hint.max}" + (f" ({delta:+d})" if delta else "")
    entry = cat.entry("max-requests-per-conn")
    # A limit in the hundreds is the servers' default and costs little; a low one hurts.
    severity: cat.Severity = "info" if n >= 100 else entry.severity
    return Finding(
        entry.code,
        severity,
        message,
        remedies.max_requests_remedy(n),
        evidence(closes, max_requests_per_conn=n),
    )


def unsolicited_response(ctx: Context) -> Finding | None:
    """Connections closed because the server sent bytes no request was waiting for
    (``conn_closed`` / ``idle_closed`` reason ``unsolicited-response``, by the client: a
    408 on an idle connection is the server's idle close and is not counted here)."""
    said: dict[int, str] = {}
    times: dict[int, float] = {}
    for e in ctx.index.named("conn_closed", "idle_closed"):
        if e.conn is None or get(e, "reason") != "unsolicited-response":
            continue
        if get(e, "closed_by") != "client":
            continue
        times.setdefault(e.conn, e.t)
        text = as_str(get(e, "server_said"))
        if text is not None:
            said.setdefault(e.conn, text)
    if not times:
        return None
    conns = [c for c in ctx.conns if c.id in times]
    carried = sorted({r for c in conns for r in c.request_indexes})
    quoted = next(iter(said.values()), None)
    first = f", starting {quoted[:80]!r}" if quoted else ""
    message = (
        f"server sent bytes no request asked for on {len(conns)} of "
        f"{plural(len(opened(ctx)), 'connection')}{first}"
    )
    it = "it" if len(conns) == 1 else "them"
    # HTTP/1.1 pairs responses with requests by order: the first request on a
    # connection got its own response; each later one may have got the stray answer
    # to the request before it.
    shifted = sorted({r for c in conns for r in c.request_indexes[1:]})
    if shifted:
        message += (
            f": request {listed(shifted)} on {it} may have been answered with the response "
            "meant for the request before"
        )
    message += f"; the client closed {it}"
    return cat.finding(
        "unsolicited-response",
        message,
        cat.entry("unsolicited-response").remedy,
        connections=[c.id for c in conns],
        requests=carried,
        maybe_misanswered=shifted,
        times_s=[round(times[c.id], 6) for c in conns],
        server_said=[said[c.id] for c in conns if c.id in said],
    )
