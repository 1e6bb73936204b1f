"""From the measurements to what a user acts on: the server facts, the Keep-Alive hint
beside them, and findings whose remedies are computed from the measured numbers.

Pure functions.  The facts fill the design's JSON ``server`` block (the same
``ServerFacts`` a probe reports, so ``probe --discover`` can fold them in), measured
values only: the hint a server sends is shown beside the measurement, never instead.
"""

from __future__ import annotations

from collections import Counter
from typing import Final

from reusecheck import findings as cat
from reusecheck.analysis.context import plural, secs
from reusecheck.analysis.events import EventIndex, get
from reusecheck.analysis.model import KeepAliveHint, RunError, ServerFacts
from reusecheck.analysis.requests import parse_keep_alive
from reusecheck.discover.model import (
    DiscoverReport,
    H2Result,
    IdleTimeoutResult,
    MaxRequestsResult,
    TlsResult,
)
from reusecheck.discover.resumption import tls_no_resumption
from reusecheck.discover.settings import DiscoverSettings
from reusecheck.findings import Finding

# How a signal or an idle close reads in a message.
SAID: Final = {
    "connection-close-header": "Connection: close",
    "http10": "an HTTP/1.0 response",
    "goaway": "GOAWAY",
    "silent-close": "a close without a word",
    "idle-timeout": "the idle timeout",
    "eof": "EOF",
    "reset": "reset",
}
_RANK: Final = {"error": 0, "warning": 1, "info": 2}


def said(reason: str | None) -> str:
    return SAID.get(reason or "", reason or "closed")


def keepalive_hint(index: EventIndex) -> KeepAliveHint | None:
    """The first ``timeout`` announced and the largest ``max`` (Apache counts ``max``
    down on a connection, so the largest is the one a fresh connection was told)."""
    hints = [
        h
        for e in index.named("response_headers")
        if (h := parse_keep_alive(get(e, "keep_alive"))) is not None
    ]
    if not hints:
        return None
    timeout = next((h.timeout_s for h in hints if h.timeout_s is not None), None)
    maxes = [h.max for h in hints if h.max is not None]
    return KeepAliveHint(timeout, max(maxes) if maxes else None)


def software(index: EventIndex) -> str | None:
    for e in index.named("response_headers"):
        for name, value in get(e, "headers") or ():
            if str(name).lower() == "server":
                return str(value)
    return None


def _keepalive(idle: IdleTimeoutResult | None, count: MaxRequestsResult | None) -> bool | None:
    if (idle and idle.status in ("measured", "at-least")) or (
        count is not None and ((count.count or 0) >= 2 or (count.at_least or 0) >= 2)
    ):
        return True
    if (idle and idle.status == "no-keepalive") or (count and count.status == "no-keepalive"):
        return False
    return None


def server_facts(
    index: EventIndex,
    idle: IdleTimeoutResult | None,
    count: MaxRequestsResult | None,
    h2: H2Result | None,
) -> ServerFacts:
    hint = keepalive_hint(index)
    idle_s = idle.median_s if idle is not None and idle.status == "measured" else None
    limit = count.count if count is not None and count.status == "measured" else None
    streams = h2.settings.max_concurrent_streams if h2 and h2.settings else None
    return ServerFacts(
        keepalive=_keepalive(idle, count),
        idle_timeout_s=idle_s,
        max_requests_per_conn=limit,
        keepalive_hint=hint,
        h2_max_concurrent_streams=streams,
        software=software(index),
        idle_timeout_hint_delta_s=(
            round(hint.timeout_s - idle_s, 3)
            if hint is not None and hint.timeout_s is not None and idle_s is not None
            else None
        ),
        max_requests_hint_delta=(
            hint.max - limit if hint is not None and hint.max is not None and limit else None
        ),
        h2_max_concurrent_streams_announced=(streams,) if streams is not None else (),
    )


def idle_finding(idle: IdleTimeoutResult) -> Finding | None:
    if idle.status != "measured" or idle.median_s is None:
        return None
    closed = [s for s in idle.samples if s.idle_time_s is not None and not s.after_response]
    how = ", ".join(f"{said(r)} x{n}" for r, n in Counter(s.reason for s in closed).items())
    if len({s.reason for s in closed}) == 1:
        how = said(closed[0].reason)
    spread = ""
    if idle.min_s is not None and idle.max_s is not None and idle.max_s - idle.min_s >= 0.05:
        spread = f", {idle.min_s:.2f}-{idle.max_s:.2f} s"
    message = (
        f"server closed {plural(len(closed), 'idle connection')} after {secs(idle.median_s)} "
        f"idle ({how}{spread})"
    )
    if idle.hint_s is not None:
        message += f"; Keep-Alive hint timeout={cat.seconds(idle.hint_s)}"
        if idle.hint_delta_s is not None and abs(idle.hint_delta_s) >= 0.05:
            message += f" ({idle.hint_delta_s:+.1f} s vs measured)"
    return cat.finding(
        "server-idle-timeout",
        message,
        cat.client_idle_timeout_remedy(idle.median_s, "the server's idle timeout"),
        connections=[s.conn_id for s in closed],
        idle_times_s=[s.idle_time_s for s in closed],
        idle_timeout_s=idle.median_s,
    )


def count_finding(count: MaxRequestsResult) -> Finding | None:
    n = count.count
    if count.status == "no-keepalive":
        code = "http10-server" if count.signal == "http10" else "no-keepalive"
        message = f"server ended the connection after its first response ({said(count.signal)})"
        return cat.finding(
            code, message, cat.entry(code).remedy, connections=[count.conn_id], requests=1
        )
    if count.status != "measured" or n is None:
        return None
    message = f"server ended the connection after exactly {n} requests ({said(count.signal)})"
    if count.hint_max is not None:
        delta = count.hint_delta or 0
        message += f"; Keep-Alive hint max={count.hint_max}" + (f" ({delta:+d})" if delta else "")
    entry = cat.entry("max-requests-per-conn")
    # A limit in the hundreds is the servers' default and costs little; a low one hurts.
    return Finding(
        entry.code,
        "info" if n >= 100 else entry.severity,
        message,
        cat.max_requests_remedy(n),
        {"connections": [count.conn_id], "max_requests_per_conn": n, "signal": count.signal},
    )


def findings(
    idle: IdleTimeoutResult | None,
    count: MaxRequestsResult | None,
    tls: TlsResult | None,
) -> tuple[Finding, ...]:
    found = [
        idle_finding(idle) if idle is not None else None,
        count_finding(count) if count is not None else None,
        tls_no_resumption(tls.handshakes) if tls is not None else None,
    ]
    return tuple(sorted((f for f in found if f is not None), key=lambda f: _RANK[f.severity]))


def build_report(
    settings: DiscoverSettings,
    index: EventIndex,
    idle: IdleTimeoutResult | None,
    count: MaxRequestsResult | None,
    h2: H2Result | None,
    tls: TlsResult | None,
    error: RunError | None,
    duration_s: float,
) -> DiscoverReport:
    # What the target speaks to a client offering what the user chose: the TLS check
    # offers only http/1.1, so it speaks last.
    said = [r.protocol for r in (idle, count, h2) if r is not None and r.protocol]
    protocols = Counter(str(get(e, "protocol")) for e in index.named("got_conn"))
    fallback = protocols.most_common(1)[0][0] if protocols else None
    return DiscoverReport(
        target=settings.url,
        protocol=said[0] if said else fallback,
        server=server_facts(index, idle, count, h2),
        findings=findings(idle, count, tls),
        idle_timeout=idle,
        max_requests=count,
        h2=h2,
        tls=tls,
        duration_s=round(duration_s, 6),
        error=error,
        tls_resumption=tls.resumed if tls is not None else None,
        hint=keepalive_hint(index),
        options=settings.options(),
    )
