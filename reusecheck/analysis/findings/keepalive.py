"""The server ends connections: no keep-alive, HTTP/1.0, a limit of requests per
connection."""

from __future__ import annotations

from reusecheck.analysis.findings import catalogue as cat
from reusecheck.analysis.findings import remedies
from reusecheck.analysis.findings.catalogue import Finding
from reusecheck.analysis.findings.context import Context, evidence, opened
from reusecheck.analysis.server import (
    after_response_closes,
)
from reusecheck.analysis.text import plural, tally

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
    if ctx.server.keepalive is not False:
        return None
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
