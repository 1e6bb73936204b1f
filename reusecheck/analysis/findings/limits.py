"""Findings from discover's measurements: the idle timeout, the requests per connection,
an h2 server allowing no streams and TLS resumption, with remedies computed from the
measured numbers."""

from __future__ import annotations

from collections import Counter
from typing import Final

from reusecheck.analysis.findings import catalogue as cat
from reusecheck.analysis.findings import remedies
from reusecheck.analysis.findings.catalogue import Finding
from reusecheck.analysis.findings.tls import tls_no_resumption
from reusecheck.analysis.limits.model import (
    H2Result,
    IdleTimeoutResult,
    MaxRequestsResult,
    TlsResult,
)
from reusecheck.analysis.text import plural, said, seconds, secs

_RANK: Final = {"error": 0, "warning": 1, "info": 2}


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
        message += f"; Keep-Alive hint timeout={seconds(idle.hint_s)}"
        if idle.hint_delta_s is not None and abs(idle.hint_delta_s) >= 0.05:
            message += f" ({idle.hint_delta_s:+.1f} s vs measured)"
    return cat.finding(
        "server-idle-timeout",
        message,
        remedies.client_idle_timeout_remedy(idle.median_s, "the server's idle timeout"),
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
        remedies.max_requests_remedy(n),
        {"connections": [count.conn_id], "max_requests_per_conn": n, "signal": count.signal},
    )


def no_streams_finding(h2: H2Result) -> Finding | None:
    """The h2 measurement met SETTINGS_MAX_CONCURRENT_STREAMS 0: nothing to measure."""
    if h2.settings is None or h2.settings.max_concurrent_streams != 0:
        return None
    return cat.finding(
        "h2-no-streams",
        "server announced SETTINGS_MAX_CONCURRENT_STREAMS 0: it accepted no streams, so "
        "no concurrency could be measured",
        cat.entry("h2-no-streams").remedy,
        connections=[h2.conn_id] if h2.conn_id is not None else [],
    )


def findings(
    idle: IdleTimeoutResult | None,
    count: MaxRequestsResult | None,
    tls: TlsResult | None,
    h2: H2Result | None = None,
) -> tuple[Finding, ...]:
    found = [
        idle_finding(idle) if idle is not None else None,
        count_finding(count) if count is not None else None,
        no_streams_finding(h2) if h2 is not None else None,
        tls_no_resumption(tls.handshakes) if tls is not None else None,
    ]
    return tuple(sorted((f for f in found if f is not None), key=lambda f: _RANK[f.severity]))
