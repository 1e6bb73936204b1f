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

from typing import Final

from reusecheck.analysis.limits.model import Trail
from reusecheck.discover.session import Live, Session

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
