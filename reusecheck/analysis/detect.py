"""Findings detection: each detector reads the rows and facts and returns a Finding or None.

Messages carry the measured numbers; remedies are computed from them where there are
any (findings.py holds the knobs).  The HTTP/2 detectors are in ``detect_h2``.  Not
detected yet: tls-no-resumption (it needs resumption attempts in the record).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import replace

from reusecheck import findings as cat
from reusecheck.analysis.context import (
    Context,
    evidence,
    listed,
    opened,
    plural,
    secs,
    tally,
)
from reusecheck.analysis.detect_h2 import (
    h2_goaway,
    h2_no_multiplexing,
    h2_not_negotiated,
    h2_stream_refused,
)
from reusecheck.analysis.events import as_float, as_int, get
from reusecheck.analysis.pools import Scope
from reusecheck.analysis.requests import peak_concurrency
from reusecheck.analysis.server import (
    CLOSE_AFTER_RESPONSE_S,
    after_response_closes,
    server_idle_closes,
)
from reusecheck.findings import Finding

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
        cat.max_requests_remedy(n),
        evidence(closes, max_requests_per_conn=n),
    )


def server_idle_timeout(ctx: Context) -> Finding | None:
    closes = [x for x in server_idle_closes(ctx.index) if x[1] >= CLOSE_AFTER_RESPONSE_S]
    measured = ctx.server.idle_timeout_s
    if not closes or measured is None:
        return None
    idles = [t for _, t, _ in closes]
    how = tally(r for _, _, r in closes)
    spread = ""
    if len(idles) > 1 and max(idles) - min(idles) >= 0.05:
        spread = f", median of {min(idles):.1f}-{max(idles):.1f} s"
    message = (
        f"server closed {plural(len(closes), 'idle connection')} after {secs(measured)} "
        f"idle ({how}{spread})"
    )
    hint = ctx.server.keepalive_hint
    if hint is not None and hint.timeout_s is not None:
        delta = ctx.server.idle_timeout_hint_delta_s or 0.0
        message += f"; Keep-Alive hint timeout={cat.seconds(hint.timeout_s)}"
        if abs(delta) >= 0.05:
            message += f" ({delta:+.1f} s vs measured)"
    conns = [c for c in ctx.conns if c.id in {cid for cid, _, _ in closes}]
    return cat.finding(
        "server-idle-timeout",
        message,
        cat.client_idle_timeout_remedy(measured, "the server's idle timeout"),
        **evidence(conns, idle_times_s=[round(t, 6) for t in idles], idle_timeout_s=measured),
    )


def stale_conn_retry(ctx: Context) -> Finding | None:
    # A retry after a GOAWAY or a refused stream is HTTP/2 telling the client, not a
    # stale connection (h2-goaway reports GOAWAYs).  Records without a reason: stale.
    retries = [e for e in ctx.index.named("retry") if get(e, "reason") in (None, "stale")]
    if not retries:
        return None
    requests, conns, idles, how = [], [], [], []
    for e in retries:
        if e.request is None:
            continue
        requests.append(e.request)
        if e.conn is not None:
            conns.append(e.conn)
            closed = ctx.index.conn_event(e.conn, "conn_closed", last=True)
            how.append(str(get(closed, "reason") or "closed"))
        failed = next(
            (a for a in ctx.index.attempts.get(e.request, []) if a.retry is e),
            None,
        )
        got = failed.first("got_conn") if failed else None
        idle = as_float(get(got, "idle_time_s")) if get(got, "was_idle", True) else None
        # A connection that failed as it was taken (HTTP/2: with streams in flight)
        # tells nothing about an idle timeout.
        if idle is not None and idle >= CLOSE_AFTER_RESPONSE_S:
            idles.append(idle)
    n = len(requests)
    after = f" after {secs(min(idles))} idle" if idles else ""
    message = (
        f"{plural(n, 'request')} hit a reused connection the server had closed "
        f"({tally(how) if how else 'closed'}{after}) and {'was' if n == 1 else 'were'} "
        "retried on a new connection"
    )
    if ctx.server.idle_timeout_s is not None:
        remedy = cat.client_idle_timeout_remedy(
            ctx.server.idle_timeout_s, "the server's idle timeout"
        )
    elif idles:
        remedy = cat.client_idle_timeout_remedy(
            min(idles),
            "a connection idle that long was already closed; `reusecheck discover` measures "
            "the server's timeout",
        )
    else:
        remedy = cat.entry("stale-conn-retry").remedy
    return cat.finding(
        "stale-conn-retry",
        message,
        remedy,
        requests=sorted(requests),
        connections=conns,
        times_s=[round(e.t, 6) for e in retries],
        idle_times_s=[round(t, 6) for t in idles],
    )


def _pool_option(ctx: Context, epochs: Collection[int], name: str) -> int | None:
    """A pool option as it was in these pool epochs.  ``options.pools`` lists every pool
    of a scenario that switched pools; it lines up with the epochs unless a switch left
    no trace in the events (``analysis.pools``), and then only a value all pools share
    is certain."""
    pools = ctx.options.get("pools")
    if not isinstance(pools, list) or not pools:
        return as_int(ctx.options.get(name))
    if len(pools) == ctx.scopes.epochs:
        pools = [pools[e] for e in epochs if e < len(pools)]
    values = {as_int(p.get(name)) if isinstance(p, Mapping) else None for p in pools}
    return values.pop() if len(values) == 1 else None


def pool_churn(ctx: Context) -> Finding | None:
    dropped = {c.id for c in ctx.conns if c.close_reason == "pool-full"}
    dropped |= {
        e.conn
        for e in ctx.index.named("idle_closed")
        if get(e, "reason") == "pool-full" and e.conn is not None
    }
    if not dropped:
        return None
    dropped_rows = [c for c in ctx.conns if c.id in dropped]
    # Re-dials are counted where the drops happened: the same key in the same pool.  A
    # later fresh pool dials its own connections whatever the old one kept.
    first_drop: dict[Scope, float] = {}
    for c in dropped_rows:
        scope = ctx.scopes.of_conn(c.id)
        t = c.closed_at_s if c.closed_at_s is not None else 0.0
        first_drop[scope] = min(t, first_drop.get(scope, t))
    redialled = [
        c
        for c in opened(ctx)
        if (drop := first_drop.get(ctx.scopes.of_conn(c.id))) is not None and c.opened_at_s > drop
    ]
    if not redialled:
        return None
    limit = _pool_option(ctx, sorted({epoch for epoch, _ in first_drop}), "max_idle_per_host")
    peak = peak_concurrency(r for r in ctx.rows if ctx.scopes.of_request(r.index) in first_drop)
    said = f"max_idle_per_host={limit}" if limit is not None else "its per-host idle limit"
    message = (
        f"pool closed {plural(len(dropped_rows), 'connection')} because its idle list was full "
        f"({said}) and dialled {len(redialled)} new after; up to {peak} requests ran at once"
    )
    return cat.finding(
        "pool-churn",
        message,
        cat.pool_churn_remedy(
            max(peak, (limit or 0) + 1), limit, scenario="scenario" in ctx.options
        ),
        connections=sorted(dropped),
        redialled_connections=[c.id for c in redialled],
        requests=sorted({c.request_indexes[0] for c in redialled if c.request_indexes}),
        times_s=[round(c.closed_at_s, 6) for c in dropped_rows if c.closed_at_s is not None],
        max_idle_per_host=limit,
        peak_concurrency=peak,
    )


def body_not_drained(ctx: Context) -> Finding | None:
    h2 = {c.id for c in ctx.conns if c.h2 is not None}
    puts = [
        e
        for e in ctx.index.named("put_idle")
        if get(e, "ok") is False and get(e, "reason") == "body-not-drained" and e.conn not in h2
    ]
    if not puts:
        return _h2_body_not_drained(ctx, h2)
    requests = sorted({e.request for e in puts if e.request is not None})
    conns = sorted({e.conn for e in puts if e.conn is not None})
    n = len(requests)
    message = (
        f"{plural(n, 'response body', 'response bodies')} {'was' if n == 1 else 'were'} not "
        f"read to the end (request {listed(requests)}), so {plural(len(conns), 'connection')} "
        "could not be reused"
    )
    return cat.finding(
        "body-not-drained",
        message,
        cat.entry("body-not-drained").remedy,
        requests=requests,
        connections=conns,
        times_s=[round(e.t, 6) for e in puts],
    )


def _h2_body_not_drained(ctx: Context, h2: set[int]) -> Finding | None:
    """HTTP/2: closing a body early resets its stream (RST_STREAM CANCEL) and the
    connection carries on, so reuse does not suffer; the server did the work for nothing."""
    unread = [
        e
        for e in ctx.index.named("body_done")
        if get(e, "complete") is False and get(e, "error") is None and e.conn in h2
    ]
    requests = sorted({e.request for e in unread if e.request is not None})
    if not requests:
        return None
    n = len(requests)
    message = (
        f"{plural(n, 'h2 response body', 'h2 response bodies')} {'was' if n == 1 else 'were'} "
        f"closed before the end (request {listed(requests)}); the client reset "
        f"{'its stream' if n == 1 else 'their streams'} and the connection stayed usable"
    )
    return cat.Finding(
        "body-not-drained",
        "info",
        message,
        cat.entry("body-not-drained").remedy,
        {
            "requests": requests,
            "connections": sorted({e.conn for e in unread if e.conn is not None}),
            "times_s": [round(e.t, 6) for e in unread],
            "protocol": "h2",
        },
    )


def new_conn_per_request(ctx: Context) -> Finding | None:
    # The catch-all: only when no more specific finding already names the cause.
    named = {"no-keepalive", "http10-server", "body-not-drained", "pool-churn"}
    if ctx.found & (named | {"server-idle-timeout", "h2-goaway"}):
        return None
    served = [r for r in ctx.rows if r.conn_id is not None]
    if len(served) < 2 or ctx.peak > 1 or any(r.reused for r in served):
        return None
    conns = [c for c in ctx.conns if c.requests]
    closes = [c for c in conns if c.close_reason is not None]
    cause = ""
    if closes:
        by = tally(f"{c.closed_by or '?'}: {c.close_reason}" for c in closes)
        cause = f"; connections closed by {by}"
    return cat.finding(
        "new-conn-per-request",
        f"each of {len(served)} sequential requests opened a new connection{cause}",
        cat.entry("new-conn-per-request").remedy,
        **evidence(conns),
    )


DETECTORS: tuple[Callable[[Context], Finding | None], ...] = (
    no_keepalive,
    http10_server,
    max_requests,
    server_idle_timeout,
    stale_conn_retry,
    h2_not_negotiated,
    h2_goaway,
    h2_no_multiplexing,
    h2_stream_refused,
    pool_churn,
    body_not_drained,
    new_conn_per_request,  # last: it defers to the findings above
)

_RANK = {"error": 0, "warning": 1, "info": 2}


def detect(ctx: Context) -> tuple[Finding, ...]:
    found: list[Finding] = []
    for detector in DETECTORS:
        # An info finding names no cause strong enough to silence another detector.
        ctx = replace(ctx, found=frozenset(f.code for f in found if f.severity != "info"))
        f = detector(ctx)
        if f is not None:
            found.append(f)
    return tuple(sorted(found, key=lambda f: _RANK[f.severity]))
