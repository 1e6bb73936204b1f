"""TLS resumption: does a new connection resume the session of an earlier one?

Three connections one after another, each carrying one request with ``Connection:
close`` (the pool's ``disable_keepalives``) so that the next request needs a new
connection.  The pool keeps a connection's session once a response was read on it, not
right after the handshake, because TLS 1.3 servers send their tickets after the
handshake; each new dial offers the latest one (``tls_start.session_offered``) and
``tls_done.resumed`` says whether the server took it.  The first handshake is a full
one, the other two are resumption attempts; their tls_start -> tls_done times are the
full and resumed handshake times.

The check offers only ``http/1.1`` in ALPN: ``Connection: close`` is the one way to make
every request need a new connection, and HTTP/2 has no such header.
"""

from __future__ import annotations

import statistics
from typing import Final

from reusecheck.analysis.events import EventIndex, get
from reusecheck.analysis.requests import parse_error
from reusecheck.discover.model import Status, TlsResult
from reusecheck.discover.resumption import handshakes
from reusecheck.discover.session import Live, Session, Trail

NAME: Final = "tls"
CONNECTIONS: Final = 3  # one full handshake, two chances to resume


async def run(session: Session, trail: Trail) -> None:
    if session.scheme != "https":
        trail.skipped = "http:// has no TLS"
        return
    live = session.live[NAME] = Live("tls: resumption", 0.0, float(CONNECTIONS))
    pool = session.pool(disable_keepalives=True, http="1.1", tls_resume=True)
    try:
        for n in range(CONNECTIONS):
            got = await session.fetch(pool, trail)
            live.done = n + 1
            if got.error is not None or got.conn_id is None:
                break
    finally:
        live.finished = True
        await pool.close()


def result(trail: Trail, index: EventIndex) -> TlsResult:
    if trail.skipped is not None:
        return TlsResult("not-applicable", note=trail.skipped, error=trail.error)
    mine = set(trail.requests)
    conns = {e.conn for e in index.events if e.request in mine and e.conn is not None}
    shakes = tuple(h for h in handshakes(index.events) if h.conn_id in conns)
    offered = [h for h in shakes if h.offered]
    full = [h.handshake_s for h in shakes if not h.resumed and h.handshake_s is not None]
    again = [h.handshake_s for h in shakes if h.resumed and h.handshake_s is not None]
    status: Status = "measured" if offered else "failed"
    error = trail.error
    if status == "failed" and error is None:
        done = next(
            (e for e in index.named("request_done") if e.request in mine and get(e, "error")),
            None,
        )
        error = parse_error(get(done, "error"))
    return TlsResult(
        status=status,
        version=shakes[0].version if shakes else None,
        resumed=any(h.resumed for h in offered) if offered else None,
        full_handshake_s=full[0] if full else None,
        resumed_handshake_s=round(statistics.median(again), 6) if again else None,
        handshakes=shakes,
        error=error,
    )
