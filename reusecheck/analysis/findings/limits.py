"""Findings from discover's measurements: the idle timeout (one value, or a periodic
closer's window), the requests per connection, an h2 server allowing no streams or
working on fewer streams than it advertises, and TLS resumption, with remedies computed
from the measured numbers."""

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
    if idle.status != "measured" or idle.median_s is None or idle.timeout_s is None:
        return None
    closed = [s for s in idle.samples if s.idle_time_s is not None and not s.after_response]
    how = ", ".join(f"{said(r)} x{n}" for r, n in Counter(s.reason for s in closed).items())
    if len({s.reason for s in closed}) == 1:
        how = said(closed[0].reason)
    low, high = idle.min_s, idle.max_s
    evidence: dict[str, object] = {
        "connections": [s.conn_id for s in closed],
        "idle_times_s": [s.idle_time_s for s in closed],
        "idle_timeout_s": idle.timeout_s,
    }
    if idle.periodic and low is not None and high is not None:
        # A reaper on a tick: any idle time in the window may meet the close, so the
        # advice is below the window's start, not its middle.
        message = (
            f"server closed {plural(len(closed), 'idle connection')} after {low:.2f}-"
            f"{high:.2f} s idle ({how}): it closes idle connections on a periodic check, "
            f"so a close lands anywhere in that window; the earliest, {secs(low)}, is the "
            "one to stay below"
        )
        why = "the earliest close of the server's periodic idle check"
        evidence["idle_window_s"] = [low, high]
    else:
        spread = ""
        if low is not None and high is not None and high - low >= 0.05:
            spread = f", {low:.2f}-{high:.2f} s"
        message = (
            f"server closed {plural(len(closed), 'idle connection')} after "
            f"{secs(idle.median_s)} idle ({how}{spread})"
        )
        why = "the server's idle timeout"
    if idle.hint_s is not None:
        message += f"; Keep-Alive hint timeout={seconds(idle.hint_s)}"
        if idle.hint_delta_s is not None and abs(idle.hint_delta_s) >= 0.05:
            message += f" ({idle.hint_delta_s:+.1f} s vs measured)"
    return cat.finding(
        "server-idle-timeout",
        message,
        remedies.client_idle_timeout_remedy(idle.timeout_s, why),
        **evidence,
    )


def count_finding(count: MaxRequestsResult) -> Finding | None:
    n = count.count
    if count.status == "no-keepalive":
        code = "http10-server" if count.signal == "http10" else "no-keepalive"
        message = f"server ended the connection after its first response ({said(count.signal)})"
        return cat.finding(
            code,
            message,
            cat.entry(code).remedy,
            connections=[count.conn_id],
            requests=1,
            max_requests_per_conn=1,
            signal=count.signal,
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


def concurrency_finding(h2: H2Result) -> Finding | None:
    """The burst was answered in waves: the server worked on fewer streams at once than
    were opened together within its advertised limit."""
    n = h2.at_once
    if h2.status != "measured" or not h2.queued or n is None:
        return None
    advertised = (
        f"advertised SETTINGS_MAX_CONCURRENT_STREAMS {h2.advertised}"
        if h2.advertised is not None
        else "advertised no limit on concurrent streams"
    )
    waves = len(h2.wave_sizes)
    pattern = ", ".join(str(size) for size in h2.wave_sizes[:6])
    if waves > 6:
        pattern += ", ..."
    message = (
        f"server {advertised} but worked on {n} at once: {h2.requested} streams opened "
        f"together were answered in {waves} waves ({pattern}), each after a pause of "
        f"{h2.wave_pause_s or 0.0:.2f} s or more"
    )
    remedy = (
        f"Advertise the {n} streams really served at once (nginx "
        f"http2_max_concurrent_streams {n}, Envoy max_concurrent_streams, Go "
        "http2.Server.MaxConcurrentStreams), or raise the limit behind the HTTP/2 front "
        "end that queues the rest: the upstream's workers or threads, its connection "
        "limit (nginx upstream keepalive, Envoy circuit breakers max_requests). Until "
        f"then, keep at most {n} requests in flight per connection."
    )
    return cat.finding(
        "h2-concurrency-below-advertised",
        message,
        remedy,
        connections=[h2.conn_id] if h2.conn_id is not None else [],
        advertised=h2.advertised,
        requested=h2.requested,
        at_once=n,
        wave_sizes=list(h2.wave_sizes),
        wave_pause_s=h2.wave_pause_s,
        service_s=h2.service_s,
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
        concurrency_finding(h2) if h2 is not None else None,
        tls_no_resumption(tls.handshakes) if tls is not None else None,
    ]
    return tuple(sorted((f for f in found if f is not None), key=lambda f: _RANK[f.severity]))
