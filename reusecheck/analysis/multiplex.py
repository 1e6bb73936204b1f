"""Multiplexing: which HTTP/2 connections the client opened although an open one had a
free stream, and how requests in flight together spread over connections.

Go's http2 Transport keeps one connection per host and opens another only when the
server's stream limit is reached (``StrictMaxConcurrentStreams``) or a GOAWAY came;
httpx does the same within one client.  A client per request, or a pool that dials for
every waiting request before the first handshake finished, spreads streams instead.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from reusecheck.analysis.connections import was_opened
from reusecheck.analysis.h2 import capacity, unusable_at
from reusecheck.analysis.model import ConnectionRow, RequestRow, ServerFacts
from reusecheck.analysis.pools import PoolScopes
from reusecheck.analysis.requests import at_peak, stream_span


@dataclass(frozen=True, slots=True)
class Unshared:
    """An HTTP/2 connection dialled while ``instead`` was open and had a free stream."""

    conn: ConnectionRow
    instead: ConnectionRow
    active: int  # streams ``instead`` carried at that moment
    limit: int


def unshared(
    rows: Sequence[RequestRow],
    conns: Sequence[ConnectionRow],
    server: ServerFacts,
    retry_dials: Collection[int] = (),
    scopes: PoolScopes | None = None,
) -> list[Unshared]:
    """HTTP/2 connections a multiplexing client would not have opened.

    A connection counts from its dial, before ALPN has said h2: a client that dials a
    second connection while the first is still in its handshake did not wait to learn
    that one would do (Go's http2 Transport waits, one dial per host).  A dial for a
    retry (``retry_dials``) is the pool's rule, not a missed chance to share.  Only a
    connection of the same key and pool (``scopes``) could have carried the stream: Go
    does not coalesce origins onto one connection.
    """
    scopes = scopes or PoolScopes()
    h2 = sorted(
        (c for c in conns if c.protocol == "h2" and was_opened(c)),
        key=lambda c: (c.opened_at_s, c.id),
    )
    opened_at = {c.id: c.opened_at_s for c in h2}
    spans: dict[int, list[tuple[float, float | None]]] = {}
    for r in rows:
        span = stream_span(r)
        if span is None or r.conn_id is None:
            continue
        if r.timings_s.connect is not None and r.conn_id in opened_at:
            # The request that dialled the connection holds a stream of it from the
            # dial on, not only from got_conn: during the handshake it is taken.
            span = (min(span[0], opened_at[r.conn_id]), span[1])
        spans.setdefault(r.conn_id, []).append(span)
    found: list[Unshared] = []
    for k, conn in enumerate(h2):
        if conn.id in retry_dials:
            continue
        t = conn.opened_at_s
        for older in h2[:k]:
            gone = unusable_at(older)
            if older.opened_at_s >= t or (gone is not None and gone <= t):
                continue
            if scopes.of_conn(older.id) != scopes.of_conn(conn.id):
                continue
            active = sum(1 for a, b in spans.get(older.id, ()) if a <= t and (b is None or b > t))
            limit = capacity(older, server)
            if active < limit:
                found.append(Unshared(conn, older, active, limit))
                break
    return found


@dataclass(frozen=True, slots=True)
class Spread:
    """Requests in flight together at one moment, and the connections they were on."""

    requests: tuple[int, ...]
    conns: tuple[int, ...]

    @property
    def peak(self) -> int:
        return len(self.requests)


def _spread(busy: Sequence[RequestRow]) -> Spread:
    return Spread(
        requests=tuple(r.index for r in busy),
        conns=tuple(sorted({r.conn_id for r in busy if r.conn_id is not None})),
    )


def spread(rows: Sequence[RequestRow]) -> Spread | None:
    """The busiest moment of these requests (the first, when several tie)."""
    busy = at_peak([r for r in rows if r.conn_id is not None])
    return _spread(busy) if busy else None


def spread_at(rows: Sequence[RequestRow], t: float) -> Spread:
    """The requests in flight at ``t`` (started by then, not yet done)."""
    return _spread(
        [
            r
            for r in rows
            if r.conn_id is not None
            and r.started_at_s <= t
            and (r.ended_at_s is None or r.ended_at_s > t)
        ]
    )
