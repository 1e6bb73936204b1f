"""The client's mistakes, read from its connections' lifecycles (one function each).

Every detector reads only the order of events on the server's side of the socket, not
how fast the client is, so the verdicts hold on a loaded CI machine:

- a new connection per request: every connection carried one request, one after the
  other (more connections than the peak concurrency needed), or the client sent
  ``Connection: close``;
- a body not drained: the client closed while a response was still being written, or
  with a TCP reset after it (a socket closed with unread bytes in its receive buffer
  sends RST, not FIN: RFC 2525 section 2.17, as Linux and the BSDs do);
- a leak: a connection stays open, unused, while the client opens two more after its
  last response (a working pool dials only when it has no idle connection);
- churn: under concurrency, connections the client closed after use, each followed by a
  new one within ``CHURN_WINDOW_S``;
- an idle timeout too long: the server's idle timeout closed the client's connections,
  or the client left one idle longer than the upstream's;
- HTTP/2 not multiplexed: more h2 connections than the streams needed, or HTTP/1.1 on
  several connections although ALPN offered h2.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from reusecheck.analysis.findings.catalogue import Finding, entry, finding
from reusecheck.analysis.observed.groups import ClientRecords
from reusecheck.analysis.observed.model import ObservedConnection, ObservedRecord

CHURN_WINDOW_S: Final = 1.0  # "moments later": a new connection this soon after a close
LEAK_LATER_OPENS: Final = 2  # connections opened after a leaked one's last response

_ISSUE: Final = "client"  # evidence key naming the client a finding is about


def _ids(conns: Sequence[ObservedConnection], limit: int = 20) -> list[int]:
    return [c.id for c in conns[:limit]]


def _who(group: ClientRecords) -> str:
    ip, agent = group.key
    return f"{agent or 'a client without User-Agent'} from {ip}"


def new_conn_per_request(group: ClientRecords, peak: int, minimum: int) -> Finding | None:
    carrying = [c for c in group.connections if c.requests]
    requests = group.total_requests
    closing = [r for r in group.requests if r.client_close]
    if closing and 2 * len(closing) >= len(group.requests):
        return finding(
            "client-new-conn-per-request",
            f"{_who(group)} sent 'Connection: close' on {len(closing)} of "
            f"{len(group.requests)} requests: keep-alive is disabled, so every request "
            f"opens a connection",
            entry("client-new-conn-per-request").remedy,
            client=_client(group),
            requests=requests,
            connections=len(carrying),
            connection_close_requests=len(closing),
            conn_ids=_ids(carrying),
        )
    # A connection the server ended (its policy, its idle timeout) carried one request
    # for the server's reasons; only those the client closed or left open count.
    eligible = [c for c in carrying if c.closed_by != "server" or c.close_reason == "end-of-run"]
    if len(eligible) < 2 or any(c.requests != 1 for c in eligible):
        return None
    if len(carrying) <= minimum:
        return None  # each was needed: that many requests ran at once
    return finding(
        "client-new-conn-per-request",
        f"{_who(group)} sent {requests} requests on {len(carrying)} connections, one "
        f"request each, although at most {peak} ran at once: a client or transport is "
        f"made per request, or its pool is not kept",
        entry("client-new-conn-per-request").remedy,
        client=_client(group),
        requests=requests,
        connections=len(carrying),
        peak_concurrency=peak,
        minimum_connections=minimum,
        conn_ids=_ids(carrying),
    )


def body_not_drained(group: ClientRecords) -> Finding | None:
    cut = [
        c
        for c in group.connections
        if c.protocol == "http/1.1"
        and c.closed_by == "client"
        and c.requests
        and (c.writing_at_close or c.close_kind == "rst")
    ]
    if not cut:
        return None
    writing = [c for c in cut if c.writing_at_close]
    unsent = sum(c.unread_response_bytes or 0 for c in cut)
    how = []
    if writing:
        how.append(f"{len(writing)} while the response was still being sent")
    if len(writing) < len(cut):
        how.append(f"{len(cut) - len(writing)} with a reset right after it")
    return finding(
        "client-body-not-drained",
        f"{_who(group)} closed {len(cut)} connection(s) without reading the response to "
        f"the end ({', '.join(how)}); each cost a new connection",
        entry("client-body-not-drained").remedy,
        client=_client(group),
        connections=len(cut),
        conn_ids=_ids(cut),
        closed_while_sending=len(writing),
        reset_after_response=len(cut) - len(writing),
        unsent_response_bytes=unsent,
    )


def conn_leak(group: ClientRecords, minimum: int) -> Finding | None:
    conns = group.connections
    if len(conns) <= minimum:
        return None  # as many connections as requests ran at once: none was spare
    leaked: list[ObservedConnection] = []
    for c in conns:
        # From its last response's head the client could take the connection back
        # (a body left unread pins it just the same); a response never begun counts
        # from its request.
        last = c.last_head_s if c.last_head_s is not None else c.last_request_s
        if not c.requests or last is None:
            continue
        closed = c.closed_s if c.closed_s is not None else float("inf")
        later = sum(1 for o in conns if o is not c and last < o.opened_s < closed)
        if later >= LEAK_LATER_OPENS:
            leaked.append(c)
    if not leaked:
        return None
    never = [c for c in leaked if c.closed_by != "client"]
    return finding(
        "client-conn-leak",
        f"{_who(group)} left {len(leaked)} connection(s) open and unused after their "
        f"last response while it opened new ones ({len(never)} never closed by the "
        f"client): response bodies not closed, or clients made and dropped",
        entry("client-conn-leak").remedy,
        client=_client(group),
        connections=len(leaked),
        never_closed_by_client=len(never),
        conn_ids=_ids(leaked),
    )


def idle_pool_churn(group: ClientRecords, peak: int, minimum: int) -> Finding | None:
    if peak < 2 or len(group.connections) <= minimum:
        return None
    conns = group.connections
    churned: list[ObservedConnection] = []
    for c in conns:
        if c.closed_by != "client" or c.close_kind != "fin" or not c.requests:
            continue
        if c.closed_s is None or c.writing_at_close:
            continue
        closed = c.closed_s
        if any(closed <= o.opened_s <= closed + CHURN_WINDOW_S for o in conns if o is not c):
            churned.append(c)
    if len(churned) < 2:
        return None
    return finding(
        "client-idle-pool-churn",
        f"{_who(group)} closed {len(churned)} connections right after using them and "
        f"opened others moments later: {len(conns)} connections for a peak of {peak} "
        f"requests at once (its idle pool keeps fewer connections than it runs requests)",
        entry("client-idle-pool-churn").remedy
        + f" Here: keep at least {peak} idle connections per host.",
        client=_client(group),
        connections=len(conns),
        churned=len(churned),
        peak_concurrency=peak,
        minimum_connections=minimum,
        conn_ids=_ids(churned),
    )


def idle_timeout_too_long(group: ClientRecords, record: ObservedRecord) -> Finding | None:
    limit = record.server_idle_timeout_s
    if limit is None:
        return None
    closed = [
        c for c in group.connections if c.closed_by == "server" and c.close_reason == "idle-timeout"
    ]
    outlived = [
        c
        for c in group.connections
        if c not in closed
        and (
            c.longest_gap_s > limit
            or (c.closed_by != "client" and (c.idle_at_close_s or 0.0) > limit)
        )
    ]
    if not closed and not outlived:
        return None
    longest = max((c.longest_gap_s for c in group.connections), default=0.0)
    source = record.server_idle_timeout_source or "server"
    parts = []
    if closed:
        parts.append(f"the server's idle timeout closed {len(closed)} of its connections")
    if outlived:
        parts.append(f"{len(outlived)} stayed idle longer than that")
    return finding(
        "client-idle-timeout-too-long",
        f"{_who(group)} keeps connections idle past the {source} idle timeout of "
        f"{limit:g} s: {' and '.join(parts)}",
        entry("client-idle-timeout-too-long").remedy
        + f" Here: below {limit:g} s (leave a margin: {max(limit * 0.8, limit - 1):g} s).",
        client=_client(group),
        server_idle_timeout_s=limit,
        closed_by_server_idle_timeout=len(closed),
        idle_longer=len(outlived),
        longest_idle_gap_s=round(longest, 3),
        conn_ids=_ids(closed + outlived),
    )


def h2_not_multiplexing(group: ClientRecords, record: ObservedRecord, peak: int) -> Finding | None:
    carrying = [c for c in group.connections if c.requests]
    h2 = [c for c in carrying if c.protocol == "h2"]
    if len(h2) >= 2:
        limit = min((c.max_concurrent_streams or record.max_concurrent_streams) for c in h2)
        needed = max(1, -(-peak // max(1, limit)))
        if len(h2) > needed:
            return finding(
                "client-h2-not-multiplexing",
                f"{_who(group)} opened {len(h2)} HTTP/2 connections where {needed} would "
                f"have carried its {peak} concurrent request(s) as streams "
                f"(up to {limit} per connection)",
                entry("client-h2-not-multiplexing").remedy,
                client=_client(group),
                h2_connections=len(h2),
                needed=needed,
                peak_concurrency=peak,
                conn_ids=_ids(h2),
            )
    tls_h1 = [c for c in carrying if c.tls and c.protocol == "http/1.1"]
    if record.tls and record.h2_offered and not h2 and len(tls_h1) >= 2 and peak >= 2:
        offered = sorted({c.alpn or "none" for c in tls_h1})
        return finding(
            "client-h2-not-multiplexing",
            f"{_who(group)} spoke HTTP/1.1 on {len(tls_h1)} TLS connections although h2 "
            f"was offered by ALPN (it offered: {', '.join(offered)}); one HTTP/2 "
            f"connection would have carried its {peak} concurrent requests",
            entry("client-h2-not-multiplexing").remedy,
            client=_client(group),
            h1_connections=len(tls_h1),
            alpn=offered,
            peak_concurrency=peak,
            conn_ids=_ids(tls_h1),
        )
    return None


# The findings that name why a client opened more connections than it needed.
_EXPLAINS_EXTRA: Final = frozenset(
    {
        "client-new-conn-per-request",
        "client-body-not-drained",
        "client-conn-leak",
        "client-idle-pool-churn",
        "client-h2-not-multiplexing",
    }
)


def extra_connections(group: ClientRecords, minimum: int) -> list[ObservedConnection]:
    """Connections the client opened beyond what it needed: more than its peak
    concurrency asked for, less those that replaced one the server ended (its limit,
    its idle timeout): the server's choice costs a connection, the client's does not
    have to."""
    carrying = [c for c in group.connections if c.requests]
    replaced = sum(
        1 for c in carrying if c.closed_by == "server" and c.close_reason != "end-of-run"
    )
    spare = len(carrying) - minimum - replaced
    if spare <= 0:
        return []
    # The ones to name: carried one request and were closed by the client.
    single = [c for c in carrying if c.requests == 1 and c.closed_by == "client"]
    return single or carrying


def unexplained_connections(group: ClientRecords, peak: int, minimum: int) -> Finding | None:
    """A client that sometimes reuses and sometimes does not (one code path makes a
    client per request, another keeps one): no other finding fits, and its extra
    connections must still be blamed on something."""
    extra = extra_connections(group, minimum)
    if not extra:
        return None
    carrying = [c for c in group.connections if c.requests]
    single = [c for c in extra if c.requests == 1 and c.closed_by == "client"]
    what = (
        f"{len(single)} of them carried one request and were closed by the client"
        if single
        else "none was reused while another was open"
    )
    return finding(
        "client-new-conn-per-request",
        f"{_who(group)} sent {group.total_requests} requests on {len(carrying)} "
        f"connections although {minimum} would have done (at most {peak} at once); "
        f"{what}: some requests are sent through a client or transport made for them",
        entry("client-new-conn-per-request").remedy,
        client=_client(group),
        requests=group.total_requests,
        connections=len(carrying),
        peak_concurrency=peak,
        minimum_connections=minimum,
        conn_ids=_ids(single or carrying),
    )


def _client(group: ClientRecords) -> dict[str, str | None]:
    ip, agent = group.key
    return {"ip": ip, "user_agent": agent}


def detect_client(
    group: ClientRecords, record: ObservedRecord, peak: int, minimum: int
) -> tuple[Finding, ...]:
    """Every finding about one client, most severe first.  Churn is not reported where
    every request had its own connection: that is the per-request finding's case."""
    found: list[Finding | None] = []
    per_request = new_conn_per_request(group, peak, minimum)
    found.append(per_request)
    found.append(body_not_drained(group))
    found.append(conn_leak(group, minimum))
    if per_request is None:
        found.append(idle_pool_churn(group, peak, minimum))
    found.append(idle_timeout_too_long(group, record))
    found.append(h2_not_multiplexing(group, record, peak))
    if not any(f is not None and f.code in _EXPLAINS_EXTRA for f in found):
        found.append(unexplained_connections(group, peak, minimum))
    order = {"error": 0, "warning": 1, "info": 2}
    kept = [f for f in found if f is not None]
    return tuple(sorted(kept, key=lambda f: order[f.severity]))
