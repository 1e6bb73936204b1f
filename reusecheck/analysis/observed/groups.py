"""Which connections and requests belong to which client, and what each client needed.

A client is a source address and a User-Agent: one service's pool, as far as the wire
shows it.  A connection belongs to the client of its first request; one that carried no
request joins the only client of its address, if there is exactly one.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from reusecheck.analysis.observed.model import (
    ObservedConnection,
    ObservedRecord,
    ObservedRequest,
)

ClientKey = tuple[str, str | None]


@dataclass(slots=True)
class ClientRecords:
    """One client's share of the record, before it is judged."""

    key: ClientKey
    connections: list[ObservedConnection] = field(default_factory=list)
    requests: list[ObservedRequest] = field(default_factory=list)
    total_requests: int = 0  # requests counted on its connections (also those not kept)


def client_key(conn: ObservedConnection) -> ClientKey:
    return conn.client_ip, conn.user_agent


def group_clients(record: ObservedRecord) -> list[ClientRecords]:
    """The record split by client, in the order the clients first connected."""
    groups: dict[ClientKey, ClientRecords] = {}
    silent: list[ObservedConnection] = []
    for conn in record.connections:
        if conn.user_agent is None and conn.requests == 0:
            silent.append(conn)
            continue
        key = client_key(conn)
        groups.setdefault(key, ClientRecords(key)).connections.append(conn)
    for conn in silent:
        same_ip = [k for k in groups if k[0] == conn.client_ip]
        key = same_ip[0] if len(same_ip) == 1 else (conn.client_ip, None)
        groups.setdefault(key, ClientRecords(key)).connections.append(conn)
    owner = {c.id: g for g in groups.values() for c in g.connections}
    for req in record.requests:
        group = owner.get(req.conn)
        if group is not None:
            group.requests.append(req)
    for group in groups.values():
        group.connections.sort(key=lambda c: (c.opened_s, c.id))
        group.total_requests = sum(c.requests for c in group.connections)
    return sorted(groups.values(), key=lambda g: g.connections[0].opened_s)


def peak_concurrency(requests: Iterable[ObservedRequest], end_s: float) -> int:
    """The most requests in flight at once, from their heads to their responses' ends
    (a request never answered counts until ``end_s``)."""
    edges: list[tuple[float, int]] = []
    for req in requests:
        ended = req.ended_s if req.ended_s is not None else end_s
        edges.append((req.started_s, 1))
        edges.append((max(ended, req.started_s), -1))
    # An end and a start at the same instant do not overlap: ends sort first.
    edges.sort(key=lambda e: (e[0], e[1]))
    peak = now = 0
    for _, step in edges:
        now += step
        peak = max(peak, now)
    return peak


def minimum_connections(conns: Sequence[ObservedConnection], peak: int, max_streams: int) -> int:
    """The connections the peak concurrency needed: one per request at once on
    HTTP/1.1; on HTTP/2 one per ``max_streams`` streams."""
    if peak == 0:
        return 0
    carrying = [c for c in conns if c.requests]
    if carrying and all(c.protocol == "h2" for c in carrying):
        limits = [c.max_concurrent_streams or max_streams for c in carrying]
        return max(1, math.ceil(peak / max(1, min(limits))))
    return peak


def reused_requests(conns: Iterable[ObservedConnection]) -> int:
    """Requests that went on a connection that had carried one already."""
    return sum(max(0, c.requests - 1) for c in conns)
