"""Which HTTP/2 connection a request shares, with no I/O of its own.

Mirrors Go's x/net/http2 ``clientConnPool``: one connection per key carries streams up
to the server's ``SETTINGS_MAX_CONCURRENT_STREAMS``.  Past that limit a new connection
is dialled (Go's default), or, with ``strict`` (Go's ``StrictMaxConcurrentStreams``),
the request waits for a stream to end.  A key whose connections all allow no streams
(``SETTINGS_MAX_CONCURRENT_STREAMS`` 0) gets no new connection either: its requests
wait, as strict ones do, at most their first-byte timeout (the pool bounds the wait).
While the first dial to a key that may speak h2 is in flight, other requests wait for
it (Go: ``getStartDialLocked``) instead of each dialling a connection that ALPN may make
redundant; once a key is known to answer HTTP/1.1, nobody waits again.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict, deque
from collections.abc import Hashable
from typing import Generic, Protocol, TypeVar


class SharedConn(Protocol):
    active: int
    requests: int
    last_active: float
    max_streams: int  # the server's SETTINGS_MAX_CONCURRENT_STREAMS (100 until it said)

    def is_available(self) -> bool: ...

    def is_usable(self) -> bool: ...

    def reserve(self) -> None: ...


C = TypeVar("C", bound=SharedConn)


class SharedConns(Generic[C]):
    def __init__(self) -> None:
        self._by_key: dict[Hashable, list[C]] = defaultdict(list)
        self._dialing: dict[Hashable, asyncio.Future[None]] = {}
        self._slot_waiters: dict[Hashable, deque[asyncio.Future[None]]] = defaultdict(deque)
        self.http1_keys: set[Hashable] = set()

    def add(self, key: Hashable, conn: C) -> None:
        self._by_key[key].append(conn)

    def remove(self, key: Hashable, conn: C) -> None:
        conns = self._by_key.get(key)
        if conns and conn in conns:
            conns.remove(conn)

    def __contains__(self, conn: object) -> bool:
        return any(conn in conns for conns in self._by_key.values())

    def pick(self, key: Hashable, now: float) -> tuple[C, bool, float] | None:
        """A connection with a free stream, reserved: (conn, was_idle, idle_time).

        The busiest available one is preferred, so streams pile onto as few
        connections as possible (what multiplexing is for).
        """
        best: C | None = None
        for conn in self._by_key.get(key, ()):
            if conn.is_available() and (best is None or conn.active > best.active):
                best = conn
        if best is None:
            return None
        was_idle = best.active == 0 and best.requests > 0
        idle_time = now - best.last_active if was_idle else 0.0
        best.reserve()
        return best, was_idle, idle_time

    def at_limit(self, key: Hashable) -> bool:
        """Usable connections exist (called once ``pick`` found none with a free stream:
        they are all at their limit)."""
        return any(c.is_usable() for c in self._by_key.get(key, ()))

    def accepts_none(self, key: Hashable) -> list[C]:
        """The usable connections of ``key`` when every one of them allows no streams
        (``SETTINGS_MAX_CONCURRENT_STREAMS`` 0: a server shedding load), else [].

        Another connection would be told the same, so the pool dials none: a request
        waits for the server to raise the limit, at most its first-byte timeout."""
        usable = [c for c in self._by_key.get(key, ()) if c.is_usable()]
        return usable if usable and all(c.max_streams == 0 for c in usable) else []

    def dialing(self, key: Hashable) -> asyncio.Future[None] | None:
        return self._dialing.get(key)

    def start_dial(self, key: Hashable) -> None:
        if key not in self._dialing:
            self._dialing[key] = asyncio.get_running_loop().create_future()

    def dial_finished(self, key: Hashable) -> None:
        fut = self._dialing.pop(key, None)
        if fut is not None and not fut.done():
            fut.set_result(None)

    def wait_for_slot(self, key: Hashable) -> asyncio.Future[None]:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._slot_waiters[key].append(fut)
        return fut

    def slot_freed(self, key: Hashable) -> None:
        waiters = self._slot_waiters.get(key)
        while waiters:
            w = waiters.popleft()
            if not w.done():
                w.set_result(None)
                return

    def all(self) -> list[C]:
        return [c for conns in self._by_key.values() for c in conns]
