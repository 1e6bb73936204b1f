"""The reuse verdict and the user's expectations.

A new connection is *necessary* when more requests were in flight at the moment it was
dialled than all connections opened before it could carry (one each for HTTP/1.1,
``SETTINGS_MAX_CONCURRENT_STREAMS`` each for HTTP/2): that is the number of connections a
pool with working keep-alive and no limits would have opened.  Any other new connection
was *avoidable*: a server close, a pool drop or an unread body cost it.

- ``yes``: no avoidable connection (a healthy server probed with bursts is ``yes``);
- ``no``: the server closed every connection after one response, or no connection
  carried a second request;
- ``partial``: otherwise.
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Sequence
from typing import Final

from reusecheck.analysis.connections import was_opened
from reusecheck.analysis.detect import plural
from reusecheck.analysis.events import EventIndex, get
from reusecheck.analysis.model import (
    ConnectionRow,
    Expectation,
    ExpectationResult,
    RequestRow,
    ReuseLevel,
    RunError,
    ServerFacts,
    Summary,
    Verdict,
)
from reusecheck.analysis.requests import InFlight, peak_concurrency

# Streams assumed per HTTP/2 connection when the server's SETTINGS were not recorded
# (RFC 9113 section 6.5.2 recommends no less than 100).
DEFAULT_H2_STREAMS: Final = 100


def _capacity(conn: ConnectionRow, server: ServerFacts) -> int:
    if conn.protocol == "h2":
        return server.h2_max_concurrent_streams or DEFAULT_H2_STREAMS
    return 1


class _Causes:
    """Why the connections opened before a dial could not take its request: the most
    recent close among them, else the most recent refusal to put one back idle."""

    def __init__(self, index: EventIndex, conns: Sequence[ConnectionRow]) -> None:
        self._closes = sorted(
            ((c.closed_at_s, c.opened_at_s, c) for c in conns if c.closed_at_s is not None),
            key=lambda x: (x[0], x[1]),
        )
        self._close_times = [x[0] for x in self._closes]
        opened_at = {c.id: c.opened_at_s for c in conns}
        self._refusals = [
            (e.t, opened_at.get(e.conn, 0.0), str(get(e, "reason")))
            for e in index.named("put_idle")
            if get(e, "ok") is False and get(e, "reason") and e.conn is not None
        ]
        self._refusal_times = [x[0] for x in self._refusals]

    def at(self, t: float) -> str:
        """For a dial at ``t``: walk back to the latest close of an older connection."""
        i = bisect.bisect_right(self._close_times, t)
        while i > 0:
            i -= 1
            _, opened, conn = self._closes[i]
            if opened < t:
                return f"{conn.closed_by or 'someone'} closed: {conn.close_reason or '?'}"
        i = bisect.bisect_right(self._refusal_times, t)
        while i > 0:
            i -= 1
            _, opened, reason = self._refusals[i]
            if opened < t:
                return f"not returned: {reason}"
        return "not reused: idle connection available"


def avoidable(
    index: EventIndex,
    rows: Sequence[RequestRow],
    conns: Sequence[ConnectionRow],
    server: ServerFacts,
) -> list[tuple[ConnectionRow, str]]:
    """New connections that working keep-alive would have avoided, each with its cause."""
    opened = sorted((c for c in conns if was_opened(c)), key=lambda c: (c.opened_at_s, c.id))
    in_flight = InFlight(rows)
    causes = _Causes(index, opened)
    found: list[tuple[ConnectionRow, str]] = []
    capacity = 0
    for k, conn in enumerate(opened):
        if k > 0 and in_flight.at(conn.opened_at_s) <= capacity:
            found.append((conn, causes.at(conn.opened_at_s)))
        capacity += _capacity(conn, server)
    return found


def summarize(
    index: EventIndex, rows: Sequence[RequestRow], conns: Sequence[ConnectionRow]
) -> Summary:
    n = len(rows)
    reused = sum(1 for r in rows if r.reused)
    return Summary(
        requests=n,
        connections_opened=sum(1 for c in conns if was_opened(c)),
        reused=reused,
        reuse_ratio=round(reused / n, 4) if n else 0.0,
        peak_concurrency=peak_concurrency(rows),
        retried=sum(1 for r in rows if r.retried),
        failed=sum(1 for r in rows if r.error is not None),
        duration_s=round(index.end_s, 6),
    )


def reuse_level(
    conns: Sequence[ConnectionRow],
    server: ServerFacts,
    summary: Summary,
    wasted: Sequence[tuple[ConnectionRow, str]],
) -> tuple[ReuseLevel, str]:
    n, opened = summary.requests, summary.connections_opened
    on = f"{plural(n, 'request')} on {plural(opened, 'connection')}"
    if not any(c.requests for c in conns):
        return "no", "no request got a connection"
    if server.keepalive is False:
        return "no", f"{on}; the server closed each after one request"
    if not wasted:
        # One burst on fresh connections is "yes": every connection was needed.
        if opened <= 1:
            return "yes", on
        return "yes", f"{on}, each needed: up to {summary.peak_concurrency} at once"
    if not any(c.requests >= 2 for c in conns):
        return "no", f"{on}; no connection carried a second request"
    # "server closed: idle-timeout x3, connection-close-header; client closed: pool-full"
    by_who: dict[str, Counter[str]] = {}
    for _, cause in wasted:
        who, _, what = cause.partition(": ")
        by_who.setdefault(who, Counter())[what] += 1
    why = "; ".join(
        f"{who}: " + ", ".join(f"{w} x{k}" if k > 1 else w for w, k in whats.most_common())
        for who, whats in by_who.items()
    )
    ids = ", ".join(str(c.id) for c, _ in wasted)
    ideal = _ideal(conns, server, summary)
    fewer = f" where {ideal} would have done" if ideal < opened else ""
    return "partial", f"{on}{fewer}; re-dialled: conn {ids} ({why})"


def _ideal(conns: Sequence[ConnectionRow], server: ServerFacts, summary: Summary) -> int:
    """Connections a pool with working keep-alive needs: enough for the peak in flight."""
    per_conn = max((_capacity(c, server) for c in conns if was_opened(c)), default=1)
    return max(1, -(-summary.peak_concurrency // per_conn))


def evaluate(
    exp: Expectation,
    level: ReuseLevel,
    detail: str,
    rows: Sequence[RequestRow],
    summary: Summary,
) -> ExpectationResult:
    name, value = exp.name, exp.value
    if name == "none":
        return ExpectationResult(name, True, "nothing expected: report only")
    if name == "reuse":
        return ExpectationResult(name, level == "yes", f"reuse {level}: {detail}")
    if name == "min-reuse-ratio":
        want = float(value or 0.0)
        ok = summary.reuse_ratio >= want
        sign = ">=" if ok else "<"
        return ExpectationResult(
            name, ok, f"reuse ratio {summary.reuse_ratio:.2f} {sign} {want:g}", want
        )
    if name == "max-connections":
        most = float(value or 0.0)
        ok = summary.connections_opened <= most
        sign = "<=" if ok else ">"
        return ExpectationResult(
            name, ok, f"{summary.connections_opened} connections opened {sign} {most:g}", most
        )
    served = [r for r in rows if r.protocol is not None]
    if name == "h2":
        other = Counter(r.protocol for r in served if r.protocol != "h2")
        if served and not other:
            return ExpectationResult(name, True, f"all {plural(len(served), 'request')} used h2")
        if not served:
            return ExpectationResult(name, False, "no request got a connection")
        used = ", ".join(f"{k} of {len(served)} requests used {p}" for p, k in other.most_common())
        return ExpectationResult(name, False, f"{used}, not h2")
    # multiplex: some HTTP/2 connection carried two requests at the same time
    by_conn: dict[int | None, list[RequestRow]] = {}
    for r in served:
        if r.protocol == "h2":
            by_conn.setdefault(r.conn_id, []).append(r)
    best = max((peak_concurrency(rs) for rs in by_conn.values()), default=0)
    if best >= 2:
        return ExpectationResult(name, True, f"up to {best} streams at once on one connection")
    return ExpectationResult(name, False, "no HTTP/2 connection carried two requests at once")


def verdict(
    expectations: Sequence[Expectation],
    error: RunError | None,
    level: ReuseLevel,
    detail: str,
    rows: Sequence[RequestRow],
    summary: Summary,
    wasted: Sequence[tuple[ConnectionRow, str]],
) -> Verdict:
    results = tuple(evaluate(e, level, detail, rows, summary) for e in expectations)
    return Verdict(
        ok=error is None and all(r.ok for r in results),
        reuse=level,
        expectations=results,
        detail=detail,
        redialled_connections=tuple(c.id for c, _ in wasted),
    )
