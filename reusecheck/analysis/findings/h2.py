"""The HTTP/2 findings: h2 not negotiated, streams not multiplexed, streams refused,
GOAWAY.

Each reads the connections' ALPN, SETTINGS and GOAWAY (``analysis.h2``) and the stream
intervals of the requests (``analysis.multiplex``).
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Final

from reusecheck.analysis.events import as_int, as_str, get
from reusecheck.analysis.findings import catalogue as cat
from reusecheck.analysis.findings import remedies
from reusecheck.analysis.findings.catalogue import Finding
from reusecheck.analysis.findings.context import Context, opened
from reusecheck.analysis.fold.facts import Spread
from reusecheck.analysis.h2 import DEFAULT_H2_STREAMS, H2_REQUIRED_ERROR, alpn_refused
from reusecheck.analysis.multiplex import Unshared, unshared
from reusecheck.analysis.text import listed, plural, tally

H2C_REMEDY: Final = (
    "h2c (HTTP/2 over plain TCP with prior knowledge) must be enabled explicitly: nginx "
    "'http2 on;' (1.25.1+) or 'listen 80 http2;' in the plain-text server; Apache "
    "'Protocols h2c http/1.1'; Node http2.createServer(). CDNs and most public endpoints "
    "speak HTTP/2 only over TLS: probe the https:// URL with --http2 instead."
)


def h2_not_negotiated(ctx: Context) -> Finding | None:
    refused = alpn_refused(ctx.conns)
    required = ctx.error is not None and ctx.error.kind == H2_REQUIRED_ERROR
    if not refused and not required:
        return None
    entry = cat.entry("h2-not-negotiated")
    remedy = entry.remedy
    # alpn_refused() returns only connections with TLS facts.
    tls = [c.tls for c in refused if c.tls is not None]
    offered = list(tls[0].alpn_offered) if tls else []
    evidence: dict[str, Any] = {
        "connections": [c.id for c in refused],
        "requests": sorted({r for c in refused for r in c.request_indexes}),
        "alpn_offered": offered,
        "alpn_chosen": [t.alpn for t in tls],
    }
    if tls:
        offered_h2 = [c for c in ctx.conns if c.tls is not None and "h2" in c.tls.alpn_offered]
        chosen = tally(t.alpn or "no protocol" for t in tls)
        message = (
            f"server chose {chosen}, not h2, on {len(refused)} of "
            f"{plural(len(offered_h2), 'TLS connection')} (ALPN offered: {', '.join(offered)})"
        )
        if any(t.alpn is None for t in tls):
            remedy = (
                "The server selected no ALPN protocol at all: its TLS stack, or the proxy in "
                "front of it, does not do ALPN or has HTTP/2 off. " + remedy
            )
    elif any(c.tls is not None for c in ctx.conns):
        message = "the server did not negotiate h2"
    else:
        message = "the server did not speak HTTP/2 with prior knowledge (h2c)"
        remedy = H2C_REMEDY
    if required and ctx.error is not None:
        if not tls:
            message += f": {ctx.error.message}"
        message += "; the run required h2 and stopped"
        evidence["run_error"] = {"kind": ctx.error.kind, "message": ctx.error.message}
    severity: cat.Severity = "error" if required else entry.severity
    return Finding(entry.code, severity, message, remedy, evidence)


def _phase_line(
    ctx: Context, phase: str | None, extra: list[Unshared], limit: int
) -> tuple[str, dict[str, Any]]:
    """The moment of the phase's worst spread: the unshared dial with the most requests
    in flight, and how many connections those requests were on."""
    none = Spread((), ())
    moment = max(
        (ctx.facts.phase_at.get((phase, u.conn.id), none) for u in extra), key=lambda s: s.peak
    )
    busiest = ctx.facts.phase_spread.get(phase)
    peak = max(moment.peak, busiest.peak if busiest is not None else 0)
    needed = max(1, -(-moment.peak // max(1, limit)))
    where = f" ({phase})" if phase else ""
    line = (
        f"{moment.peak} concurrent requests{where} used "
        f"{plural(len(moment.conns), 'h2 connection')} where {needed} could carry them"
    )
    return line, {
        "phase": phase,
        "requests": list(moment.requests),
        "connections": list(moment.conns),
        "peak_concurrency": peak,
    }


def h2_no_multiplexing(ctx: Context) -> Finding | None:
    extra = unshared(ctx.facts, ctx.conns, ctx.server, ctx.index.retry_dials(), ctx.scopes)
    if not extra:
        return None
    # The phase of the first h2 request each unshared connection served.
    first_phase = {u.conn.id: _first_phase(ctx, u.conn.id) for u in extra}
    announced = ctx.server.h2_max_concurrent_streams
    limit = min(u.limit for u in extra)
    lines, groups = [], []
    for phase in dict.fromkeys(first_phase.values()):
        in_phase = [u for u in extra if first_phase[u.conn.id] == phase]
        line, group = _phase_line(ctx, phase, in_phase, limit)
        lines.append(line)
        groups.append(group)
    said = (
        f"the server allows {plural(limit, 'stream')} per connection"
        if announced is not None
        else f"the server announced no limit ({DEFAULT_H2_STREAMS} assumed)"
    )
    # Dialled while the connection it could have shared had not finished its handshake:
    # the client did not wait to learn that the first connection speaks h2.
    early = [
        u.conn.id
        for u in extra
        if (ready := ctx.index.conn_event(u.instead.id, "got_conn")) is None
        or ready.t > u.conn.opened_at_s
    ]
    message = "; ".join(lines) + f": {said}"
    if early:
        message += (
            f" ({plural(len(early), 'connection')} dialled before the first had finished "
            "its handshake)"
        )
    return cat.finding(
        "h2-no-multiplexing",
        message,
        cat.entry("h2-no-multiplexing").remedy,
        phases=groups,
        requests=sorted({i for g in groups for i in g["requests"]}),
        connections=sorted({c for g in groups for c in g["connections"]}),
        unshared_connections=sorted(u.conn.id for u in extra),
        dialled_during_handshake=early,
        peak_concurrency=max(g["peak_concurrency"] for g in groups),
        max_concurrent_streams=announced,
    )


def _first_phase(ctx: Context, conn: int) -> str | None:
    cf = ctx.facts.conns.get(conn)
    return cf.h2_phase if cf is not None and cf.h2_first >= 0 else None


def h2_stream_refused(ctx: Context) -> Finding | None:
    """Streams refused with REFUSED_STREAM while the connection was below its limit."""
    # (retry, streams open on its connection then, counting its own): the fold's
    refused = ctx.facts.refused
    if not refused:
        return None
    by_conn = {c.id: c for c in ctx.conns}
    below: list[tuple[int, int, int, int | None]] = []  # request, conn, open, limit
    for e, streams in refused:
        if e.request is None or e.conn is None:
            continue
        row = by_conn.get(e.conn)
        limit = row.h2.max_concurrent_streams if row and row.h2 else None
        if limit is None or streams <= limit:
            below.append((e.request, e.conn, streams, limit))
    if not below:
        return None
    n = len(below)
    most = max(s for _, _, s, _ in below)
    limits = sorted({lim for _, _, _, lim in below if lim is not None})
    said = (
        f"below the {listed(limits)} it announced" if limits else "although it announced no limit"
    )
    on = "its connection" if len({c for _, c, _, _ in below}) == 1 else "each connection"
    message = (
        f"server refused {plural(n, 'stream')} (RST_STREAM REFUSED_STREAM) with at most "
        f"{most} open on {on}, {said}; the client retried {'it' if n == 1 else 'them'}"
    )
    return cat.finding(
        "h2-stream-refused",
        message,
        cat.entry("h2-stream-refused").remedy,
        requests=sorted({r for r, _, _, _ in below}),
        connections=sorted({c for _, c, _, _ in below}),
        open_streams=[s for _, _, s, _ in below],
        max_concurrent_streams=limits[0] if limits else None,
        times_s=[round(e.t, 6) for e, _ in refused],
    )


def h2_goaway(ctx: Context) -> Finding | None:
    goaways = ctx.index.named("h2_goaway")
    ids = {e.conn for e in goaways if e.conn is not None}
    ids |= {c.id for c in ctx.conns if c.close_reason == "goaway"}
    if not ids:
        return None
    conns = [c for c in ctx.conns if c.id in ids]
    codes = [as_str(get(e, "error_code")) or "unknown" for e in goaways]
    if not codes:  # a conn_closed said goaway, the GOAWAY itself was not recorded
        codes = [
            as_str(get(ctx.index.conn_event(c.id, "conn_closed", last=True), "error_code"))
            or "unknown"
            for c in conns
        ]
    idle = {e.conn for e in ctx.index.named("idle_closed") if get(e, "reason") == "goaway"}
    in_use = [c for c in conns if c.id not in idle]
    graceful = set(codes) == {"NO_ERROR"}
    carried = Counter(c.requests for c in in_use)
    streams = next(iter(carried)) if len(carried) == 1 and graceful else None
    # A limit, as for max-requests-per-conn: the same count on two connections, or the
    # one the server facts already settled on.
    limit = streams if len(in_use) >= 2 or streams == ctx.server.max_requests_per_conn else None

    message = (
        f"server sent {plural(len(codes), 'GOAWAY')} ({tally(codes)}) on {len(conns)} of "
        f"{plural(len(opened(ctx)), 'connection')}"
    )
    idle_conns = [c for c in conns if c.id in idle]
    # 'after 3 streams each', or ': 3 after 3 streams each, 1 while idle' when mixed.
    parts = []
    if in_use:
        lo, hi = min(carried), max(carried)
        each = " each" if len(in_use) > 1 and lo == hi else ""
        after = f"after {plural(hi, 'stream')}{each}" if lo == hi else f"after {lo}-{hi} streams"
        parts.append(f"{len(in_use)} {after}" if idle_conns else after)
    if idle_conns:
        parts.append(f"{len(idle_conns)} while idle" if in_use else "while idle")
    message += f": {', '.join(parts)}" if len(parts) > 1 else f" {parts[0]}"
    last_ids = [i for e in goaways if (i := as_int(get(e, "last_stream_id"))) is not None]
    shown = listed(sorted(set(last_ids)))
    unprocessed = sorted(
        {r for c in conns if c.h2 and c.h2.goaway for r in c.h2.goaway.unprocessed}
    )
    retried = sorted(
        {
            e.request
            for e in ctx.index.named("retry")
            if get(e, "reason") == "goaway" and e.request is not None
        }
    )
    if unprocessed or retried:
        n = max(len(unprocessed), len(retried))
        above = f"above last_stream_id {shown}" if last_ids else "above the last stream id"
        message += f"; {plural(n, 'stream')} {above} {'was' if n == 1 else 'were'} unprocessed"
        if len(retried) == n:
            message += " and retried on a new connection"
        else:
            message += f", {len(retried)} retried on a new connection"
    elif last_ids:
        message += f"; last_stream_id {shown}"
    data = [d for e in goaways if (d := as_str(get(e, "additional_data")))]
    if data and not graceful:
        message += f"; the server said: {data[0]}"

    severity: cat.Severity = "error" if not graceful else ("warning" if in_use else "info")
    return Finding(
        "h2-goaway",
        severity,
        message,
        remedies.h2_goaway_remedy(set(codes), limit),
        {
            "connections": [c.id for c in conns],
            "requests": sorted({r for c in conns for r in c.request_indexes}),
            "times_s": [round(e.t, 6) for e in goaways],
            "error_codes": codes,
            "last_stream_ids": last_ids,
            "streams_per_connection": [c.requests for c in conns],
            "unprocessed": unprocessed,
            "retried": retried,
            "additional_data": data,
        },
    )


def h2_no_streams(ctx: Context) -> Finding | None:
    """Connections whose server announced SETTINGS_MAX_CONCURRENT_STREAMS 0."""
    zero: dict[int, float] = {}
    for e in ctx.index.named("h2_settings"):
        if e.conn is not None and as_int(get(e, "max_concurrent_streams")) == 0:
            zero.setdefault(e.conn, e.t)
    if not zero:
        return None
    conns = [c for c in ctx.conns if c.id in zero]
    h2 = [c for c in opened(ctx) if c.h2 is not None]
    still = [c.id for c in conns if c.h2 is not None and c.h2.max_concurrent_streams == 0]
    raised = sorted(
        {
            c.h2.max_concurrent_streams
            for c in conns
            if c.h2 is not None and c.h2.max_concurrent_streams
        }
    )
    message = (
        f"server announced SETTINGS_MAX_CONCURRENT_STREAMS 0 on {len(conns)} of "
        f"{plural(len(h2), 'h2 connection')}: it accepted no streams"
    )
    if raised:
        message += f" until it raised the limit to {listed(raised)}"
        if still:
            message += f" ({len(still)} never did)"
    waited = list(ctx.facts.no_streams)
    if waited:
        message += f"; {plural(len(waited), 'request')} waited for a stream in vain"
    return cat.finding(
        "h2-no-streams",
        message,
        cat.entry("h2-no-streams").remedy,
        connections=[c.id for c in conns],
        times_s=[round(zero[c.id], 6) for c in conns],
        still_zero=still,
        requests=waited,
    )
