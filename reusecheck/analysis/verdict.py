"""The reuse verdict and the user's expectations.

A new connection is *necessary* when more requests of its key wanted or held a
connection at the moment it was dialled than all connections of that key and pool
opened before it could carry (one each for HTTP/1.1, the
``SETTINGS_MAX_CONCURRENT_STREAMS`` it announced each for HTTP/2): that is the number of
connections a pool with working keep-alive and no limits would have opened.  Any other
new connection was *avoidable*: a server close or GOAWAY, a refused stream, a pool drop,
an unread body, or an HTTP/2 client that did not multiplex cost it.

Connections serve only their own key (``analysis.pools``), and a fresh pool mid-run
starts with none, so the accounting runs per (pool epoch, key).  A request holds its
connection from got_conn until the connection is free of it; one whose body was never
read holds it past request_done, and a dial needed only because such requests pinned
the earlier connections is avoidable too (``pinned: body-not-drained``).

- ``yes``: no avoidable connection (a healthy server probed with bursts is ``yes``);
- ``no``: the server closed every connection after one response, or no connection
  carried a second request;
- ``partial``: otherwise.
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Sequence

from reusecheck.analysis.connections import was_opened
from reusecheck.analysis.events import EventIndex, get
from reusecheck.analysis.h2 import (
    H2_REQUIRED_ERROR,
    alpn_refused,
    alpn_said,
    capacity,
    unusable_at,
)
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
from reusecheck.analysis.multiplex import spread
from reusecheck.analysis.pools import PoolScopes, Scope, pool_scopes
from reusecheck.analysis.requests import InFlight, peak_concurrency
from reusecheck.analysis.text import plural

# The cause of a dial that was needed only because finished requests had not released
# their connections: an HTTP/1.1 body nobody read pins its connection (Go's classic
# leak: resp.Body never closed), so the next request must dial.
PINNED = "pinned: body-not-drained"


class _Causes:
    """Why the connections opened before a dial could not take its request: the most
    recent close among them (HTTP/2: from its GOAWAY on), else the most recent refusal to
    put one back idle.  ``conns``: the connections of the dial's pool and key."""

    def __init__(self, index: EventIndex, conns: Sequence[ConnectionRow]) -> None:
        ends = ((unusable_at(c), c.opened_at_s, c) for c in conns)
        self._closes = sorted(
            ((t, opened, c) for t, opened, c in ends if t is not None),
            key=lambda x: (x[0], x[1]),
        )
        self._close_times = [x[0] for x in self._closes]
        opened_at = {c.id: c.opened_at_s for c in conns}
        self._refusals = [
            (e.t, opened_at[e.conn], str(get(e, "reason")))
            for e in index.named("put_idle")
            if get(e, "ok") is False and get(e, "reason") and e.conn in opened_at
        ]
        self._refusal_times = [x[0] for x in self._refusals]
        self._retry_dials = index.retry_dials()

    def at(self, t: float, dialled: ConnectionRow) -> str:
        """For a dial at ``t``: walk back to the latest close of an older connection."""
        if self._retry_dials.get(dialled.id) == "refused-stream":
            # RST_STREAM(REFUSED_STREAM): the server turned a stream away on a working
            # connection (RFC 9113 section 8.7); the pool retried it on a new one.
            return "server refused: REFUSED_STREAM"
        i = bisect.bisect_right(self._close_times, t)
        while i > 0:
            i -= 1
            _, opened, conn = self._closes[i]
            if opened < t:
                if conn.h2 is not None and conn.h2.goaway is not None:
                    return "server closed: goaway"
                return f"{conn.closed_by or 'someone'} closed: {conn.close_reason or '?'}"
        i = bisect.bisect_right(self._refusal_times, t)
        while i > 0:
            i -= 1
            _, opened, reason = self._refusals[i]
            if opened < t:
                return f"not returned: {reason}"
        if dialled.protocol == "h2":
            return "not multiplexed: an open h2 connection had a free stream"
        return "not reused: idle connection available"


def _by_scope(
    conns: Sequence[ConnectionRow], rows: Sequence[RequestRow], scopes: PoolScopes
) -> dict[Scope, tuple[list[ConnectionRow], list[RequestRow]]]:
    """The opened connections (in dial order) and the requests of each (epoch, key)."""
    groups: dict[Scope, tuple[list[ConnectionRow], list[RequestRow]]] = {}
    for c in sorted((c for c in conns if was_opened(c)), key=lambda c: (c.opened_at_s, c.id)):
        groups.setdefault(scopes.of_conn(c.id), ([], []))[0].append(c)
    for r in rows:
        groups.setdefault(scopes.of_request(r.index), ([], []))[1].append(r)
    return groups


def avoidable(
    index: EventIndex,
    rows: Sequence[RequestRow],
    conns: Sequence[ConnectionRow],
    server: ServerFacts,
    scopes: PoolScopes | None = None,
) -> list[tuple[ConnectionRow, str]]:
    """New connections that working keep-alive would have avoided, each with its cause."""
    if scopes is None:
        scopes = pool_scopes(index)
    found: list[tuple[ConnectionRow, str]] = []
    for opened, served in _by_scope(conns, rows, scopes).values():
        in_flight = InFlight(served)
        causes = _Causes(index, opened)
        room = 0
        for k, conn in enumerate(opened):
            t = conn.opened_at_s
            if k > 0:
                wanted = in_flight.at(t)
                if wanted <= room:
                    found.append((conn, causes.at(t, conn)))
                elif wanted - in_flight.pinned_at(t) <= room:
                    found.append((conn, PINNED))
            room += capacity(conn, server)
    return sorted(found, key=lambda x: (x[0].opened_at_s, x[0].id))


def ideal_connections(
    rows: Sequence[RequestRow],
    conns: Sequence[ConnectionRow],
    server: ServerFacts,
    scopes: PoolScopes,
) -> int:
    """Connections a pool with working keep-alive needs: per key and pool, enough for
    the peak of its requests in flight."""
    total = 0
    for opened, served in _by_scope(conns, rows, scopes).values():
        if not opened:
            continue
        # max(1, ...): a server that allows no streams (SETTINGS 0) still needs one.
        per_conn = max(1, max(capacity(c, server) for c in opened))
        total += max(1, -(-peak_concurrency(served) // per_conn))
    return max(1, total)


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
    ideal: int | None = None,
    scopes: PoolScopes | None = None,
) -> tuple[ReuseLevel, str]:
    """``ideal``: connections working keep-alive needed (``ideal_connections``);
    ``scopes``: the run's keys and pools, named when there were several."""
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
        apart = []
        if scopes is not None and len(scopes.keys) > 1:
            apart.append(plural(len(scopes.keys), "origin"))
        if scopes is not None and scopes.epochs > 1:
            apart.append(plural(scopes.epochs, "pool"))
        where = f"{' and '.join(apart)}, " if apart else ""
        return "yes", f"{on}, each needed: {where}up to {summary.peak_concurrency} at once"
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
    if ideal is None:
        per_conn = max(1, max((capacity(c, server) for c in conns if was_opened(c)), default=1))
        ideal = max(1, -(-summary.peak_concurrency // per_conn))
    fewer = f" where {ideal} would have done" if ideal < opened else ""
    return "partial", f"{on}{fewer}; re-dialled: conn {ids} ({why})"


def _h2(
    rows: Sequence[RequestRow], conns: Sequence[ConnectionRow], error: RunError | None
) -> ExpectationResult:
    served = [r for r in rows if r.protocol is not None]
    refused = alpn_refused(conns)
    said = alpn_said(refused[0]) if refused else None
    if said is None and error is not None and error.kind == H2_REQUIRED_ERROR:
        said = error.message  # h2c: no ALPN, the runner says what the server did
    other = Counter(r.protocol for r in served if r.protocol != "h2")
    if said is not None and not refused:
        # h2c: the connection was opened as h2 (prior knowledge) and the server did not
        # answer in it, so no request really used h2 whatever got_conn said.
        return ExpectationResult("h2", False, said)
    if served and not other:
        return ExpectationResult("h2", True, f"all {plural(len(served), 'request')} used h2")
    if not served:
        return ExpectationResult("h2", False, said or "no request got a connection")
    used = ", ".join(f"{k} of {len(served)} requests used {p}" for p, k in other.most_common())
    return ExpectationResult("h2", False, f"{said}: {used}" if said else f"{used}, not h2")


def _multiplex(
    rows: Sequence[RequestRow], conns: Sequence[ConnectionRow], server: ServerFacts
) -> ExpectationResult:
    """Some HTTP/2 connection carried two streams at the same time."""
    best = max((c.peak_streams for c in conns if c.protocol == "h2"), default=0)
    if best >= 2:
        return ExpectationResult(
            "multiplex", True, f"up to {best} streams at once on one connection"
        )
    h2 = [r for r in rows if r.protocol == "h2"]
    refused = alpn_refused(conns)
    if not h2:
        detail = alpn_said(refused[0]) if refused else "no request used h2"
        return ExpectationResult("multiplex", False, detail)
    busy = spread(h2)
    if busy is None or busy.peak < 2:
        return ExpectationResult(
            "multiplex", False, "no two h2 requests were in flight at once: nothing to share"
        )
    detail = f"{busy.peak} concurrent requests used {plural(len(busy.conns), 'h2 connection')}"
    limit = server.h2_max_concurrent_streams
    if limit is not None:
        detail += f"; the server allows {plural(limit, 'stream')} per connection"
    return ExpectationResult("multiplex", False, detail)


def evaluate(
    exp: Expectation,
    level: ReuseLevel,
    detail: str,
    rows: Sequence[RequestRow],
    summary: Summary,
    conns: Sequence[ConnectionRow] = (),
    server: ServerFacts | None = None,
    error: RunError | None = None,
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
    if name == "h2":
        return _h2(rows, conns, error)
    return _multiplex(rows, conns, server or ServerFacts())


def verdict(
    expectations: Sequence[Expectation],
    error: RunError | None,
    level: ReuseLevel,
    detail: str,
    rows: Sequence[RequestRow],
    summary: Summary,
    wasted: Sequence[tuple[ConnectionRow, str]],
    conns: Sequence[ConnectionRow] = (),
    server: ServerFacts | None = None,
) -> Verdict:
    results = tuple(
        evaluate(e, level, detail, rows, summary, conns, server, error) for e in expectations
    )
    return Verdict(
        ok=error is None and all(r.ok for r in results),
        reuse=level,
        expectations=results,
        detail=detail,
        redialled_connections=tuple(c.id for c, _ in wasted),
    )
