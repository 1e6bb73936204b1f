"""From the measurements to what a user acts on: the server facts, the Keep-Alive hint
beside them, and the report.

Pure functions.  The facts fill the design's JSON ``server`` block (the same
``ServerFacts`` a probe reports, so ``probe --discover`` can fold them in), measured
values only: the hint a server sends is shown beside the measurement, never instead.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

from reusecheck.analysis.events import EventIndex, get
from reusecheck.analysis.findings.limits import findings
from reusecheck.analysis.limits.model import (
    DiscoverReport,
    H2Result,
    IdleTimeoutResult,
    MaxRequestsResult,
    TlsResult,
)
from reusecheck.analysis.model import KeepAliveHint, RunError, ServerFacts
from reusecheck.analysis.requests import parse_keep_alive


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
    # The idle timeout to stay below: the median, or a periodic closer's earliest close.
    idle_s = idle.timeout_s if idle is not None and idle.status == "measured" else None
    # A server that ends every connection after its first response allows 1 request.
    limit = (
        count.count if count is not None and count.status in ("measured", "no-keepalive") else None
    )
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


def nothing_measured(
    *results: IdleTimeoutResult | MaxRequestsResult | H2Result | TlsResult | None,
) -> RunError | None:
    """The run's error when no chosen measurement measured anything, each failing on its
    own error (a server closing every connection, resetting every stream): the run
    could not complete, as a probe of the same server says (exit 3)."""
    chosen = [r for r in results if r is not None and r.status != "not-applicable"]
    if not chosen or any(r.status != "failed" for r in chosen):
        return None
    first = next((r.error for r in chosen if r.error is not None), None)
    if first is None:
        return RunError("protocol", "every measurement failed before the server answered")
    return RunError(first.kind, f"every measurement failed: {first.message}")


def build_report(
    target: str,
    options: Mapping[str, Any],
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
    if error is None:
        error = nothing_measured(idle, count, h2, tls)
    return DiscoverReport(
        target=target,
        protocol=said[0] if said else fallback,
        server=server_facts(index, idle, count, h2),
        findings=findings(idle, count, tls, h2),
        idle_timeout=idle,
        max_requests=count,
        h2=h2,
        tls=tls,
        duration_s=round(duration_s, 6),
        error=error,
        tls_resumption=tls.resumed if tls is not None else None,
        hint=keepalive_hint(index),
        options=dict(options),
    )
