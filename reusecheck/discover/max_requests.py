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
from dataclasses import replace
from typing import Final

from reusecheck.analysis.events import EventIndex, as_float, get
from reusecheck.analysis.requests import parse_error, parse_keep_alive
from reusecheck.analysis.server import CLOSE_AFTER_RESPONSE_S
from reusecheck.discover.model import MaxRequestsResult, Status
from reusecheck.discover.session import Live, Session, Trail, is_open
from reusecheck.discover.settings import DiscoverSettings
from reusecheck.net.http1 import header_tokens

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


def _signal(index: EventIndex, conn: int, last: dict[str, object]) -> tuple[str | None, float]:
    """How the server ended ``conn`` (None: it did not), and the idle time of an idle close."""
    closed = index.conn_event(conn, "conn_closed", last=True)
    idle = index.conn_event(conn, "idle_closed")
    idle_s = as_float(get(idle, "idle_time_s")) or 0.0
    if idle is not None and get(idle, "closed_by") == "server" and idle_s >= CLOSE_AFTER_RESPONSE_S:
        return "idle-timeout", idle_s
    if index.conn_event(conn, "h2_goaway") is not None:
        return "goaway", 0.0
    tokens = header_tokens(str(last.get("connection") or "").encode("latin-1"))
    if b"close" in tokens:
        return "connection-close-header", 0.0
    if last.get("http_version") == "1.0" and b"keep-alive" not in tokens:
        return "http10", 0.0
    if closed is not None and get(closed, "closed_by") == "server":
        return "silent-close", 0.0
    return None, 0.0


def result(trail: Trail, index: EventIndex, settings: DiscoverSettings) -> MaxRequestsResult:
    mine = set(trail.requests)
    heads = [e for e in index.named("response_headers") if e.request in mine]
    base = MaxRequestsResult(
        status="failed",
        limit=settings.max_requests,
        rate=settings.rate,
        requests_sent=len(trail.requests),
    )
    if not heads or heads[0].conn is None:
        first_done = next(
            (e for e in index.named("request_done") if e.request in mine and get(e, "error")),
            None,
        )
        return replace(base, error=trail.error or parse_error(get(first_done, "error")))
    conn = heads[0].conn
    answered = [e for e in heads if e.conn == conn]
    count = len(answered)
    got = index.conn_event(conn, "got_conn")
    hint = parse_keep_alive(get(answered[0], "keep_alive"))
    hint_max = hint.max if hint is not None else None
    signal, idle_s = _signal(index, conn, answered[-1].fields)
    status: Status
    if signal is None or signal == "idle-timeout":
        status = "at-least"
    elif count == 1:
        status = "no-keepalive"
    else:
        status = "measured"
    measured = count if status in ("measured", "no-keepalive") else None
    times = [e.t for e in index.events if e.request in mine]
    return MaxRequestsResult(
        status=status,
        limit=settings.max_requests,
        rate=settings.rate,
        protocol=get(got, "protocol"),
        conn_id=conn,
        count=measured,
        at_least=count if status == "at-least" else None,
        signal=signal,
        requests_sent=len(trail.requests),
        duration_s=round(max(times) - min(times), 6) if times else None,
        idle_before_close_s=round(idle_s, 6) if signal == "idle-timeout" else None,
        hint_max=hint_max,
        hint_delta=hint_max - measured if hint_max is not None and measured is not None else None,
        error=trail.error,
    )
