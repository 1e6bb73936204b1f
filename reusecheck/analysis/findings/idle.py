"""Idle connections: the server's idle timeout, and requests that met a connection the
server had closed while it sat idle."""

from __future__ import annotations

from reusecheck.analysis.budget import avoidable
from reusecheck.analysis.events import as_float, get
from reusecheck.analysis.findings import catalogue as cat
from reusecheck.analysis.findings import remedies
from reusecheck.analysis.findings.catalogue import Finding
from reusecheck.analysis.findings.context import Context, evidence
from reusecheck.analysis.findings.route import proxied_idle_closes
from reusecheck.analysis.server import (
    CLOSE_AFTER_RESPONSE_S,
    server_idle_closes,
)
from reusecheck.analysis.text import plural, seconds, secs, tally


def _outlasted(ctx: Context) -> Finding | None:
    """Pauses longer than the server keeps idle connections, where the client's own
    (shorter, correct) idle timeout closed them first: the server's limit, not the
    client's setting (``dial_reason`` ``server-idle-limit``)."""
    extra = [
        c
        for c in avoidable(ctx.conns)
        if c.dial is not None and c.dial.reason == "server-idle-limit"
    ]
    if not extra:
        return None
    limit = min(c.dial.server_idle_s or 0.0 for c in extra if c.dial is not None)
    gone = sorted({c.dial.replaces for c in extra if c.dial and c.dial.replaces is not None})
    hint = ctx.server.keepalive_hint
    said = (
        f"Keep-Alive: timeout={seconds(limit)}"
        if hint is not None and hint.timeout_s is not None and hint.timeout_s == limit
        else "an idle close seen earlier"
    )
    message = (
        f"the server keeps idle connections {seconds(limit)} s ({said}), less than the "
        f"pause before {plural(len(extra), 'request')}: the client's own idle timeout "
        f"closed {plural(len(gone), 'connection')} first, as it should, and no client "
        "setting keeps a connection across such a pause"
    )
    remedy = (
        f"Raise the server's idle timeout above the pauses between requests (nginx "
        f"keepalive_timeout, Apache KeepAliveTimeout, Node server.keepAliveTimeout; now "
        f"{seconds(limit)} s), or keep the client's idle timeout below it and accept a "
        "new connection after longer pauses."
    )
    return cat.finding(
        "server-idle-timeout",
        message,
        remedy,
        connections=gone,
        redialled_connections=[c.id for c in extra],
        idle_timeout_s=limit,
    )


def server_idle_timeout(ctx: Context) -> Finding | None:
    # A proxy's idle closes of its client connections are proxy-idle-timeout's.
    proxied = {cid for cid, _, _ in proxied_idle_closes(ctx)}
    closes = [
        x
        for x in server_idle_closes(ctx.index)
        if x[1] >= CLOSE_AFTER_RESPONSE_S and x[0] not in proxied
    ]
    measured = ctx.server.idle_timeout_s
    if not closes or measured is None:
        return _outlasted(ctx)
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
        message += f"; Keep-Alive hint timeout={seconds(hint.timeout_s)}"
        if abs(delta) >= 0.05:
            message += f" ({delta:+.1f} s vs measured)"
    conns = [c for c in ctx.conns if c.id in {cid for cid, _, _ in closes}]
    return cat.finding(
        "server-idle-timeout",
        message,
        remedies.client_idle_timeout_remedy(measured, "the server's idle timeout"),
        **evidence(conns, idle_times_s=[round(t, 6) for t in idles], idle_timeout_s=measured),
    )


def stale_conn_retry(ctx: Context) -> Finding | None:
    # A retry after a GOAWAY or a refused stream is HTTP/2 telling the client, not a
    # stale connection (h2-goaway reports GOAWAYs).
    retries = [e for e in ctx.index.named("retry") if get(e, "reason") == "stale"]
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
    remedy = remedies.stale_race_remedy(ctx.server.idle_timeout_s, idles)
    if remedy is None:
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
