"""The client's own pool and code: connections dropped by a full idle list, bodies not
read, a new connection for every request."""

from __future__ import annotations

from collections.abc import Collection, Mapping

from reusecheck.analysis.events import as_int, get
from reusecheck.analysis.findings import catalogue as cat
from reusecheck.analysis.findings import remedies
from reusecheck.analysis.findings.catalogue import Finding
from reusecheck.analysis.findings.context import Context, evidence, opened
from reusecheck.analysis.pools import Scope
from reusecheck.analysis.text import listed, plural, tally


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


def _scoped_peak(ctx: Context, scopes: Collection[Scope]) -> int:
    """The most requests in flight at once in these scopes.  Pools follow one another,
    so per pool: one origin's own peak, or the pool's when every origin it served is
    asked about; some origins of several, the largest of theirs (a lower bound: the fold
    keeps peaks per origin and per pool, not per set of origins)."""
    peaks = ctx.facts.scope_peaks
    best = 0
    for epoch in sorted({e for e, _ in scopes}):
        asked = {k for e, k in scopes if e == epoch}
        served = {k for e, k in peaks if e == epoch}
        if len(asked) > 1 and asked >= served:
            best = max(best, ctx.facts.epoch_peaks.get(epoch, 0))
        else:
            best = max([best, *(peaks.get((epoch, k), 0) for k in asked)])
    return best


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
    # Most requests in flight at once within the scopes that dropped connections.
    peak = _scoped_peak(ctx, first_drop)
    said = f"max_idle_per_host={limit}" if limit is not None else "its per-host idle limit"
    message = (
        f"pool closed {plural(len(dropped_rows), 'connection')} because its idle list was full "
        f"({said}) and dialled {len(redialled)} new after; up to {peak} requests ran at once"
    )
    return cat.finding(
        "pool-churn",
        message,
        remedies.pool_churn_remedy(
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
    named |= {"keepalive-disabled", "client-idle-timeout", "connection-error"}
    if ctx.found & (named | {"server-idle-timeout", "h2-goaway", "unsolicited-response"}):
        return None
    served = ctx.facts.served
    if served < 2 or ctx.peak > 1 or ctx.facts.served_reused:
        return None
    conns = [c for c in ctx.conns if c.requests]
    closes = [c for c in conns if c.close_reason is not None]
    cause = ""
    if closes:
        by = tally(f"{c.closed_by or '?'}: {c.close_reason}" for c in closes)
        cause = f"; connections closed by {by}"
    return cat.finding(
        "new-conn-per-request",
        f"each of {served} sequential requests opened a new connection{cause}",
        cat.entry("new-conn-per-request").remedy,
        **evidence(conns),
    )
