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
from reusecheck.analysis.fold.facts import RunFacts
from reusecheck.analysis.h2 import capacity, unusable_at
from reusecheck.analysis.model import ConnectionRow, ServerFacts
from reusecheck.analysis.pools import PoolScopes


@dataclass(frozen=True, slots=True)
class Unshared:
    """An HTTP/2 connection dialled while ``instead`` was open and had a free stream."""

    conn: ConnectionRow
    instead: ConnectionRow
    active: int  # streams ``instead`` carried at that moment
    limit: int


def unshared(
    facts: RunFacts,
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
    does not coalesce origins onto one connection.  The streams each connection held
    at every dial are the fold's (``RunFacts.shared_at``): a request holds a stream
    from got_conn, or from its own dial of the connection, until its release.
    """
    scopes = scopes or PoolScopes()
    h2 = sorted(
        (c for c in conns if c.protocol == "h2" and was_opened(c)),
        key=lambda c: (c.opened_at_s, c.id),
    )
    found: list[Unshared] = []
    for k, conn in enumerate(h2):
        if conn.id in retry_dials:
            continue
        t = conn.opened_at_s
        held = facts.shared_at.get(conn.id, {})
        for older in h2[:k]:
            gone = unusable_at(older)
            if older.opened_at_s >= t or (gone is not None and gone <= t):
                continue
            if scopes.of_conn(older.id) != scopes.of_conn(conn.id):
                continue
            active = held.get(older.id, 0)
            limit = capacity(older, server)
            if active < limit:
                found.append(Unshared(conn, older, active, limit))
                break
    return found
