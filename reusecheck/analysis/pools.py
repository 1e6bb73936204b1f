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

Runs recorded since it exists say so: the runner emits ``pool_start`` at each switch
(a switch while the old pool had no connection open leaves no other trace).  The
scopes are built as the events arrive (``analysis.fold.scopes``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

# (pool epoch, key): the connections that could serve one another's requests.  The key
# is None in records whose get_conn events carry none.
Scope = tuple[int, str | None]

_NOWHERE: Scope = (0, None)


@dataclass(frozen=True, slots=True)
class PoolScopes:
    conns: Mapping[int, Scope] = field(default_factory=dict)
    # When each fresh pool took over: epoch 1, 2, ...
    boundaries: tuple[float, ...] = ()
    keys: frozenset[str | None] = frozenset()  # every key a request asked for

    def of_conn(self, conn: int | None) -> Scope:
        return self.conns.get(conn, _NOWHERE) if conn is not None else _NOWHERE

    @property
    def epochs(self) -> int:
        return len(self.boundaries) + 1
