"""Server facts: only what this run observed; anything not observed stays ``None``."""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Sequence
from typing import Final

from reusecheck.analysis.connections import closed_after_response
from reusecheck.analysis.events import EventIndex, as_float, get
from reusecheck.analysis.h2 import max_concurrent_streams
from reusecheck.analysis.model import (
    ConnectionRow,
    KeepAliveHint,
    MaxRequestsEvidence,
    RequestRow,
    ServerFacts,
)
from reusecheck.analysis.requests import parse_keep_alive
from reusecheck.analysis.status import closed_after_error

# A server that closes the socket right after a response without saying
# 'Connection: close' looks to the pool like an idle close a few milliseconds later.
# No server's idle timeout is that short (nginx 75 s, Apache and Node 5 s), so an idle
# close within this many seconds counts as closing after the response.
CLOSE_AFTER_RESPONSE_S: Final = 0.1


def server_idle_closes(index: EventIndex) -> list[tuple[int, float, str]]:
    """(conn, idle seconds, reason) of each idle connection the server closed."""
    closes = []
    for e in index.named("idle_closed"):
        idle = as_float(get(e, "idle_time_s"))
        if get(e, "closed_by") == "server" and e.conn is not None and idle is not None:
            closes.append((e.conn, idle, str(get(e, "reason", "eof"))))
    return closes


def after_response_closes(index: EventIndex, conns: Sequence[ConnectionRow]) -> list[ConnectionRow]:
    """Connections the server ended right after a response (not after idling)."""
    quick = {c for c, idle, _ in server_idle_closes(index) if idle < CLOSE_AFTER_RESPONSE_S}
    return [
        c for c in conns if c.request_indexes and (closed_after_response(index, c) or c.id in quick)
    ]


def _hint(rows: Sequence[RequestRow]) -> KeepAliveHint | None:
    """The announced hint: the first timeout seen, and the largest max.

    Apache counts ``max`` down with each response on a connection, so the largest value
    seen is the one announced for a fresh connection.
    """
    hints = [r.keep_alive for r in rows if r.keep_alive is not None]
    if not hints:
        return None
    timeout = next((h.timeout_s for h in hints if h.timeout_s is not None), None)
    maxes = [h.max for h in hints if h.max is not None]
    return KeepAliveHint(timeout, max(maxes) if maxes else None)


def _max_requests(
    index: EventIndex, conns: Sequence[ConnectionRow], closes: Sequence[ConnectionRow]
) -> tuple[int, MaxRequestsEvidence] | None:
    """(N, how sure) when the server closed connections after exactly N requests.

    ``repeated``: seen on two connections or more; ``announced``: once, and that last
    response said 'Connection: close' with a Keep-Alive hint of max=N; ``once``: a
    single observation, reported with its weight (likely a limit; discover measures
    it).  A connection that carried more than N requests contradicts a limit of N.
    """
    counts = Counter(c.requests for c in closes)
    if not counts:
        return None
    n, seen = counts.most_common(1)[0]
    if any(c.requests > n for c in conns):
        return None
    if seen >= 2:
        return n, "repeated"
    for c in closes:
        if c.requests != n:
            continue
        hints = [
            parse_keep_alive(get(e, "keep_alive"))
            for e in index.by_conn.get(c.id, [])
            if e.event == "response_headers"
        ]
        last = [e for e in index.by_conn[c.id] if e.event == "response_headers"]
        said_close = bool(last) and "close" in str(get(last[-1], "connection") or "").lower()
        announced = max((h.max for h in hints if h and h.max is not None), default=None)
        if said_close and announced == n:
            return n, "announced"
    return n, "once"


def _said_close(conn: ConnectionRow, by_index: dict[int, RequestRow]) -> bool:
    if conn.closed_by != "client" or conn.close_reason == "connection-close-header":
        return False
    last = by_index.get(conn.request_indexes[-1]) if conn.request_indexes else None
    said = (last.response_connection or "").lower() if last is not None else ""
    return "close" in said.replace(" ", "").split(",")


def server_facts(
    index: EventIndex, rows: Sequence[RequestRow], conns: Sequence[ConnectionRow]
) -> ServerFacts:
    # Only a connection that answered says anything about keep-alive: one that failed
    # before any response (a server not speaking the protocol asked) closed for that.
    answered = {r.index for r in rows if r.status is not None}
    # Nor does a close after an error response: servers end connections after a 400
    # (nginx, to a plain HTTP request on its TLS port) whatever their keep-alive.
    by_index = {r.index: r for r in rows}
    used = [
        c
        for c in conns
        if any(i in answered for i in c.request_indexes) and not closed_after_error(c, by_index)
    ]
    closes = [c for c in after_response_closes(index, conns) if c in used]
    # A connection the client closed first (an unread body, the end of the run) still
    # says the server would have ended it when its last response said Connection:
    # close, unless the client asked for that close itself.
    closes += [c for c in used if c not in closes and _said_close(c, by_index)]
    keepalive: bool | None = None
    if any(c.requests >= 2 for c in used):
        keepalive = True
    elif used and len(closes) == len(used):
        keepalive = False

    idle = [t for _, t, _ in server_idle_closes(index) if t >= CLOSE_AFTER_RESPONSE_S]
    idle_timeout = round(statistics.median(idle), 3) if idle else None
    limit = _max_requests(index, conns, closes)
    max_requests, max_evidence = limit if limit is not None else (None, None)
    hint = _hint(rows)
    software = None
    for e in index.named("response_headers"):
        for name, value in get(e, "headers") or ():
            if str(name).lower() == "server":
                software = str(value)
                break
        if software is not None:
            break

    timeout_delta = None
    if hint is not None and hint.timeout_s is not None and idle_timeout is not None:
        timeout_delta = round(hint.timeout_s - idle_timeout, 3)
    h2_streams, h2_announced = max_concurrent_streams(conns)
    max_delta = None
    if hint is not None and hint.max is not None and max_requests is not None:
        max_delta = hint.max - max_requests
    return ServerFacts(
        keepalive=keepalive,
        idle_timeout_s=idle_timeout,
        max_requests_per_conn=max_requests,
        keepalive_hint=hint,
        h2_max_concurrent_streams=h2_streams,
        software=software,
        idle_timeout_hint_delta_s=timeout_delta,
        max_requests_hint_delta=max_delta,
        h2_max_concurrent_streams_announced=h2_announced,
        max_requests_evidence=max_evidence,
    )
