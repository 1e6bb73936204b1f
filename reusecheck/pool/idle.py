"""The idle-connection bookkeeping of the pool, with no I/O and no clock of its own.

Mirrors Go's ``Transport.idleConn`` / ``idleLRU`` (net/http/transport.go):

- each key has a list of idle connections; ``take`` hands out the most recently used
  one (the end of the list), as ``queueForIdleConn`` does, because it is the least
  likely to have been closed by the server's idle timer;
- a put beyond ``max_idle_per_host`` is refused (Go: ``errTooManyIdleHost``), and the
  caller closes that connection;
- beyond ``max_idle`` overall, the least recently used idle connection of any key is
  evicted (Go: ``errTooManyIdle``);
- a connection idle for longer than ``idle_timeout`` is not handed out (Go checks the
  age in ``queueForIdleConn`` even before its timer fires).

Tests drive it with plain objects and explicit times.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar


class IdleConn(Protocol):
    @property
    def key(self) -> Hashable: ...

    def is_available(self) -> bool: ...


C = TypeVar("C", bound=IdleConn)


@dataclass(frozen=True, slots=True)
class IdleLimits:
    max_idle: int = 100  # 0 = no limit overall, as in Go
    max_idle_per_host: int = 100
    idle_timeout: float | None = 90.0  # None or 0 = no limit


class IdleList(Generic[C]):
    def __init__(self, limits: IdleLimits) -> None:
        self.limits = limits
        self._by_key: dict[Hashable, list[C]] = {}
        self._since: dict[C, float] = {}
        self._lru: OrderedDict[C, None] = OrderedDict()

    def __len__(self) -> int:
        return len(self._lru)

    def __contains__(self, conn: object) -> bool:
        return conn in self._since

    def count(self, key: Hashable) -> int:
        return len(self._by_key.get(key, ()))

    def idle_since(self, conn: C) -> float:
        return self._since[conn]

    def put(self, conn: C, now: float) -> tuple[bool, list[C]]:
        """Add ``conn``; returns (accepted, connections evicted to make room)."""
        per_host = self.limits.max_idle_per_host
        idles = self._by_key.setdefault(conn.key, [])
        if per_host <= 0 or len(idles) >= per_host:
            return False, []
        idles.append(conn)
        self._since[conn] = now
        self._lru[conn] = None
        evicted: list[C] = []
        max_idle = self.limits.max_idle
        while max_idle > 0 and len(self._lru) > max_idle:
            oldest = next(iter(self._lru))
            self.remove(oldest)
            evicted.append(oldest)
        return True, evicted

    def take(self, key: Hashable, now: float) -> tuple[C | None, float, list[C]]:
        """The most recently used usable connection for ``key`` and its idle time.

        Also returns the connections found too old or unusable on the way, which the
        caller must close (Go closes them in ``queueForIdleConn``).
        """
        idles = self._by_key.get(key)
        stale: list[C] = []
        timeout = self.limits.idle_timeout
        while idles:
            conn = idles.pop()
            since = self._since.pop(conn)
            del self._lru[conn]
            if not conn.is_available() or (timeout and now - since > timeout):
                stale.append(conn)
                continue
            return conn, now - since, stale
        return None, 0.0, stale

    def remove(self, conn: C) -> bool:
        if conn not in self._since:
            return False
        del self._since[conn]
        del self._lru[conn]
        self._by_key[conn.key].remove(conn)
        return True

    def all(self) -> list[C]:
        return list(self._lru)
