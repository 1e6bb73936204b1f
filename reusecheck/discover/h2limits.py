"""HTTP/2: the server's SETTINGS, and how many streams one connection really carries.

One request opens the connection and brings the server's SETTINGS (``h2_settings``).
Then as many streams as it announced in ``SETTINGS_MAX_CONCURRENT_STREAMS`` (at most
``--max-streams``; 100, Go's assumption, when it announced none) are opened at once on
that connection.  The pool runs with ``strict_max_streams`` so it never spills onto a
second connection at the announced limit: what one connection achieves is what is
measured.  A server that refuses streams below its announced limit answers with
``RST_STREAM REFUSED_STREAM`` (each refused stream is retried by the pool, and counted
here); one that ends the connection early sends GOAWAY.

``achieved`` is the most streams that were open together on one connection and were
answered: every HEADERS frame is written before any response is read, so a server that
honours its announcement achieves all of them.  What the server really works on at once
is another matter (a front end may accept 100 streams and queue all but 12 for its
workers): ``analysis.limits.h2`` reads it from the waves the responses arrive in, with
the first request's time to first byte as the server's service time.
"""

from __future__ import annotations

import asyncio
from typing import Final

from reusecheck.analysis.limits.model import Trail
from reusecheck.discover.session import Live, Session, Unreachable
from reusecheck.net.http2 import INITIAL_MAX_STREAMS, HTTP2Connection

NAME: Final = "h2"


async def run(session: Session, trail: Trail) -> None:
    s = session.settings
    if s.http == "1.1":
        trail.skipped = "--http1 offers only HTTP/1.1"
        return
    if session.scheme == "http" and s.http != "h2c":
        trail.skipped = "http:// speaks HTTP/2 only with --h2c (prior knowledge)"
        return
    live = session.live[NAME] = Live("h2: SETTINGS")
    pool = session.pool(strict_max_streams=True)
    try:
        first = await session.fetch(pool, trail, role="first")
        conn = first.conn
        if first.error is not None or conn is None:
            return
        if not isinstance(conn, HTTP2Connection):
            trail.skipped = "the server did not negotiate HTTP/2"
            return
        # conn.max_streams is the server's SETTINGS value once received (they precede
        # any response), else the 100 assumed until then.
        n = min(conn.max_streams or INITIAL_MAX_STREAMS, s.max_streams)
        live.text = f"h2: {n} streams at once"
        results = await asyncio.gather(
            *(session.fetch(pool, trail, role="burst") for _ in range(n)),
            return_exceptions=True,
        )
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:  # an unreachable target first: it names why the rest failed
            raise next((e for e in errors if isinstance(e, Unreachable)), errors[0])
    finally:
        live.finished = True
        await pool.close()
