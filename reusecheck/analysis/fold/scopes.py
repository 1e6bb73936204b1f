"""Pool epochs and keys as the events arrive (``analysis.pools`` describes them).

A scenario's switch to a fresh pool is a ``pool_start`` event in runs recorded since
it exists.  Without one (a run of several pools the runner did not make, a client per
request), a switch is seen as the old pool's closes (by the client, ``end-of-run``, or
``body-not-drained`` for a request already done) followed by the next request: the
boundary is that request's get_conn.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable

from reusecheck.analysis.pools import PoolScopes, Scope
from reusecheck.trace import Event


class Scopes:
    __slots__ = (
        "_closing",
        "_dialled_key",
        "_explicit",
        "_first_t",
        "_heuristic",
        "_is_done",
        "_served_key",
        "keys",
        "request_key",
    )

    def __init__(self, is_done: Callable[[int], bool]) -> None:
        self._is_done = is_done  # whether a request's request_done has been seen
        self._explicit: list[float] = []  # pool_start times
        self._heuristic: list[float] = []  # first get_conn after pool closes
        self._closing = False
        self._first_t: dict[int, float] = {}  # conn -> its first event
        self._dialled_key: dict[int, str | None] = {}  # conn -> key it was dialled for
        self._served_key: dict[int, str | None] = {}  # conn -> key of the first it served
        self.request_key: dict[int, str | None] = {}  # open requests only
        self.keys: set[str | None] = set()

    @property
    def boundaries(self) -> list[float]:
        return self._explicit or self._heuristic

    def scope(self, t: float, key: str | None) -> Scope:
        return bisect.bisect_right(self.boundaries, t), key

    def feed(self, e: Event) -> None:
        name = e.event
        if name == "pool_start":
            self._explicit.append(e.t)
        elif name == "get_conn":
            if self._closing:
                self._heuristic.append(e.t)
                self._closing = False
            r = e.request
            if r is not None and r not in self.request_key:
                key = e.fields.get("key")
                key = key if isinstance(key, str) else None
                self.request_key[r] = key
                self.keys.add(key)
        elif name == "conn_closed" and e.conn is not None and self._closes_pool(e):
            self._closing = True
        conn = e.conn
        if conn is None:
            return
        if conn not in self._first_t:
            self._first_t[conn] = e.t
        if e.request is not None:
            if name == "connect_start" and conn not in self._dialled_key:
                self._dialled_key[conn] = self.request_key.get(e.request)
            elif name == "got_conn" and conn not in self._served_key:
                self._served_key[conn] = self.request_key.get(e.request)

    def _closes_pool(self, e: Event) -> bool:
        if e.fields.get("closed_by") not in ("client", None):
            return False
        reason = e.fields.get("reason")
        if reason == "end-of-run":
            return True
        r = e.request
        return reason == "body-not-drained" and r is not None and self._is_done(r)

    def forget(self, request: int) -> None:
        """A request is final: the connections keep the key they need."""
        self.request_key.pop(request, None)

    def result(self) -> PoolScopes:
        conns: dict[int, Scope] = {}
        for conn, t in self._first_t.items():
            if conn in self._served_key:
                key = self._served_key[conn]
            else:
                key = self._dialled_key.get(conn)
            conns[conn] = self.scope(t, key)
        keys = frozenset({*self.keys, *(k for _, k in conns.values())})
        return PoolScopes(conns=conns, boundaries=tuple(self.boundaries), keys=keys)
