"""Requests per connection: send one request after another on one connection until the
server ends it, and count.

Each request is sent only after the previous response was read to the end, so on
HTTP/1.1 the pool hands the same connection back (it is the only one) and on HTTP/2 one
stream is open at a time.  The count stops at ``--max-requests``; ``--rate`` spaces the
requests' starts so a staging host is not hammered.

How the server said it, from the events of that connection:

- ``connection-close-header``: the last response carried ``Connection: close``
  (nginx's ``keepalive_requests``, Apache's ``MaxKeepAliveRequests``);
- ``goaway``: an HTTP/2 GOAWAY (nginx's ``keepalive_requests`` on h2);
- ``silent-close``: EOF or RST right after the last response, nothing said; the pool
  either sees it while idle, or the next request meets it and is retried elsewhere;
- ``idle-timeout``: the connection died while idle between paced requests, which is the
  idle timeout, not a request limit (then the count is only a lower bound).
"""

from __future__ import annotations

import asyncio
from typing import Final

from reusecheck.analysis.limits.model import Trail
from reusecheck.discover.session import Live, Session, is_open

NAME: Final = "max-requests"


async def run(session: Session, trail: Trail) -> None:
    s = session.settings
    live = session.live[NAME] = Live("max requests: 0", 0.0, float(s.max_requests))
    # No client idle timeout: with a slow --rate the server must be the one to close.
    pool = session.pool(idle_timeout=None)
    loop = asyncio.get_running_loop()
    start = loop.time()
    first: int | None = None
    try:
        for n in range(s.max_requests):
            if s.rate is not None and n:
                await asyncio.sleep(max(0.0, start + n / s.rate - loop.time()))
            got = await session.fetch(pool, trail)
            live.done = n + 1
            live.text = f"max requests: {n + 1}"
            if got.conn_id is None or got.error is not None:
                break
            if first is None:
                first = got.conn_id
            if got.conn_id != first or not is_open(pool, first):
                break
    finally:
        live.finished = True
        await pool.close()
