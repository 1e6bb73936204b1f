"""Go's ``MaxConnsPerHost``: dials beyond the limit wait for a connection of the key to
go, in the order they asked (``queueForDial``)."""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Callable, Hashable


class DialLimit:
    """Counts connections per key (dialling or open); ``limit`` 0 means no limit."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._count: dict[Hashable, int] = defaultdict(int)
        self._queue: dict[Hashable, deque[Callable[[], bool]]] = defaultdict(deque)

    def request(self, key: Hashable, start: Callable[[], bool]) -> None:
        """Call ``start`` now, or once a connection of ``key`` went.  ``start`` returns
        False when the dial is no longer wanted (its request got a connection meanwhile),
        and the slot passes to the next in line."""
        if self.limit <= 0 or self._count[key] < self.limit:
            self._count[key] += 1
            if not start():
                self.release(key)
        else:
            self._queue[key].append(start)

    def release(self, key: Hashable) -> None:
        """A connection of ``key`` is gone (or its dial failed): the next may dial."""
        self._count[key] -= 1
        queue = self._queue.get(key)
        while queue:
            start = queue.popleft()
            self._count[key] += 1
            if start():
                return
            self._count[key] -= 1
