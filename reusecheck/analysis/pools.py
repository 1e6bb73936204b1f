"""Which pool a connection or a request belongs to: its key and its pool epoch.

A connection carries requests of its own key only (``scheme://host:port``, Go's
``connectMethodKey``): a connection to one origin never makes a dial to another
avoidable, so demand and capacity are counted per key.

A scenario can switch to a fresh pool mid-run (``PoolStep``).  The runner closes the
old pool first: every connection still open is closed by the client with
``end-of-run``, or with ``body-not-drained`` when a body never read pins it (then its
request was done before the close).  Connection ids keep counting, so nothing else in
the record marks the switch.  Such closes followed by another request are a *pool
boundary*; the connections and requests between two boundaries are one *epoch*, and
the new pool can use none of the old one's connections.

A switch while the old pool had no connection open (the server had closed them all)
leaves no such trace.  The run's ``options.pools`` then tells: it lists every pool with
the step it started at, and that step's name is the phase of its requests.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from reusecheck.analysis.events import EventIndex, as_str, get
from reusecheck.trace import Event

# (pool epoch, key): the connections that could serve one another's requests.  The key
# is None in records whose get_conn events carry none.
Scope = tuple[int, str | None]

_NOWHERE: Scope = (0, None)


@dataclass(frozen=True, slots=True)
class PoolScopes:
    conns: Mapping[int, Scope] = field(default_factory=dict)
    requests: Mapping[int, Scope] = field(default_factory=dict)
    # When each fresh pool took over (its first get_conn): epoch 1, 2, ...
    boundaries: tuple[float, ...] = ()

    def of_conn(self, conn: int | None) -> Scope:
        return self.conns.get(conn, _NOWHERE) if conn is not None else _NOWHERE

    def of_request(self, index: int) -> Scope:
        return self.requests.get(index, _NOWHERE)

    @property
    def epochs(self) -> int:
        return len(self.boundaries) + 1

    @property
    def keys(self) -> frozenset[str | None]:
        return frozenset(k for _, k in (*self.conns.values(), *self.requests.values()))


def _closes_pool(e: Event, done: set[int]) -> bool:
    """A close the runner's ``Pool.close`` makes: by the client, ``end-of-run``, or
    ``body-not-drained`` for a body never read (its request already done; a body closed
    early closes its connection before request_done instead, and the pool lives on)."""
    if get(e, "closed_by") not in ("client", None):
        return False
    reason = get(e, "reason")
    if reason == "end-of-run":
        return True
    return reason == "body-not-drained" and e.request is not None and e.request in done


def _pool_closes(index: EventIndex) -> list[float]:
    """The first get_conn after each batch of pool closes."""
    boundaries: list[float] = []
    closing = False  # pool closes seen since the last get_conn
    done: set[int] = set()
    for e in index.events:
        if e.event == "get_conn" and closing:
            boundaries.append(e.t)
            closing = False
        elif e.event == "request_done" and e.request is not None:
            done.add(e.request)
        elif e.event == "conn_closed" and e.conn is not None and _closes_pool(e, done):
            closing = True
    return boundaries


def _step_starts(index: EventIndex, steps: Sequence[str]) -> list[float]:
    """The first get_conn of each of these steps, in run order: of the first request of
    that phase after the previous step's, where the request before had another phase.
    A step with no request of its own is skipped."""
    phase = {e.request: get(e, "phase") for e in index.named("request_done")}
    first = sorted(
        (evs[0].t, phase.get(r))
        for r, evs in index.by_request.items()
        if evs[0].event == "get_conn"
    )
    found: list[float] = []
    at = 0
    for step in steps:
        for i in range(at, len(first)):
            t, name = first[i]
            if name == step and (i == 0 or first[i - 1][1] != step):
                found.append(t)
                at = i + 1
                break
    return found


def pool_scopes(index: EventIndex, options: Mapping[str, Any] | None = None) -> PoolScopes:
    """``options``: the run's (``RunRecord.options``); its ``pools`` fill in switches
    the events cannot show."""
    boundaries = _pool_closes(index)
    pools = (options or {}).get("pools")
    if isinstance(pools, list) and len(pools) - 1 > len(boundaries):
        steps = [str(p.get("from_step")) for p in pools[1:] if isinstance(p, Mapping)]
        boundaries = sorted({*boundaries, *_step_starts(index, steps)})
    request_key: dict[int, str | None] = {}
    request_epoch: dict[int, int] = {}
    conn_epoch: dict[int, int] = {}
    dialled_for: dict[int, int] = {}  # conn -> the request whose dial opened it
    served_first: dict[int, int] = {}  # conn -> the first request that got it
    for e in index.events:
        epoch = bisect.bisect_right(boundaries, e.t)
        if e.event == "get_conn" and e.request is not None:
            request_key.setdefault(e.request, as_str(get(e, "key")))
            request_epoch.setdefault(e.request, epoch)
        if e.conn is None:
            continue
        conn_epoch.setdefault(e.conn, epoch)
        if e.event == "connect_start" and e.request is not None:
            dialled_for.setdefault(e.conn, e.request)
        elif e.event == "got_conn" and e.request is not None:
            served_first.setdefault(e.conn, e.request)
    conns: dict[int, Scope] = {}
    for conn, epoch in conn_epoch.items():
        # The key of the requests it served; a dial that lost the race to a released
        # connection served none: the key of the request it was dialled for.
        request = served_first.get(conn, dialled_for.get(conn))
        conns[conn] = (epoch, request_key.get(request) if request is not None else None)
    return PoolScopes(
        conns=conns,
        requests={r: (request_epoch[r], k) for r, k in request_key.items()},
        boundaries=tuple(boundaries),
    )
