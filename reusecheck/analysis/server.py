"""Server facts: only what this run observed; anything not observed stays ``None``."""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Sequence
from typing import Final

from reusecheck.analysis.connections import closed_after_response
from reusecheck.analysis.events import EventIndex, as_float, get
from reusecheck.analysis.fold.facts import RunFacts, closed_after_error
from reusecheck.analysis.h2 import max_concurrent_streams
from reusecheck.analysis.model import (
    ConnectionRow,
    KeepAliveHint,
    MaxRequestsEvidence,
    ServerFacts,
)

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


def _hint(facts: RunFacts) -> KeepAliveHint | None:
    """The announced hint: the first timeout seen (by request index), and the largest
    max.

    Apache counts ``max`` down with each response on a connection, so the largest value
    seen is the one announced for a fresh connection.
    """
    timeout = facts.hint_timeout[1] if facts.hint_timeout is not None else None
    if timeout is None and facts.hint_max is None:
        return None
    return KeepAliveHint(timeout, facts.hint_max)


def _max_requests(
    facts: RunFacts, conns: Sequence[ConnectionRow], closes: Sequence[ConnectionRow]
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
        cf = facts.conns.get(c.id)
        if c.requests == n and cf is not None and cf.said_close and cf.hint_max == n:
            return n, "announced"
    return n, "once"


def _said_close(conn: ConnectionRow, facts: RunFacts) -> bool:
    if conn.closed_by != "client" or conn.close_reason == "connection-close-header":
        return False
    cf = facts.conns.get(conn.id)
    said = (cf.last_connection or "").lower() if cf is not None and cf.last >= 0 else ""
    return "close" in said.replace(" ", "").split(",")


def server_facts(index: EventIndex, facts: RunFacts, conns: Sequence[ConnectionRow]) -> ServerFacts:
    """``index``: the kept events (closes, idle closes); ``facts``: what the requests
    left (``analysis.fold``)."""

    def answered(c: ConnectionRow) -> bool:
        cf = facts.conns.get(c.id)
        return cf is not None and cf.answered > 0

    # Only a connection that answered says anything about keep-alive: one that failed
    # before any response (a server not speaking the protocol asked) closed for that.
    # Nor does a close after an error response: servers end connections after a 400
    # (nginx, to a plain HTTP request on its TLS port) whatever their keep-alive.
    used = [c for c in conns if answered(c) and not closed_after_error(c, facts)]
    closes = [c for c in after_response_closes(index, conns) if c in used]
    # A connection the client closed first (an unread body, the end of the run) still
    # says the server would have ended it when its last response said Connection:
    # close, unless the client asked for that close itself.
    closes += [c for c in used if c not in closes and _said_close(c, facts)]
    keepalive: bool | None = None
    if any(c.requests >= 2 for c in used):
        keepalive = True
    elif used and len(closes) == len(used):
        keepalive = False

    idle = [t for _, t, _ in server_idle_closes(index) if t >= CLOSE_AFTER_RESPONSE_S]
    idle_timeout = round(statistics.median(idle), 3) if idle else None
    limit = _max_requests(facts, conns, closes)
    max_requests, max_evidence = limit if limit is not None else (None, None)
    hint = _hint(facts)

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
        software=facts.software,
        idle_timeout_hint_delta_s=timeout_delta,
        max_requests_hint_delta=max_delta,
        h2_max_concurrent_streams_announced=h2_announced,
        max_requests_evidence=max_evidence,
    )
