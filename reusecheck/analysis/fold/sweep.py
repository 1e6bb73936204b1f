"""Time sweeps over request intervals that arrive out of order, exact and bounded.

A request's interval (from get_conn to its end, or on its connection from got_conn to
its release) is known only when the request is finished, and requests finish out of
order.  A sweep holds the intervals' points until a *watermark* says no earlier point
can still come (every request not yet finished starts at or after it), then replays
them in time order, ends before starts at the same instant (one interval ending at t
does not overlap one starting at t), exactly as sorting them all would.  What it holds
is the intervals around the watermark: O(concurrency), not O(requests).

Consumers see every point in order; a *query* at t is answered after every point at or
before t: what is in flight at that moment.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from typing import Any, Final

_END: Final = 0  # within an instant: ends, then starts, then queries
_START: Final = 1
_QUERY: Final = 2
_INF: Final = float("inf")

Handler = Callable[[float, Any], None]


def _nothing(t: float, item: Any) -> None:
    return None


class Sweep:
    """Points pushed in any order, replayed in time order below the watermark."""

    __slots__ = ("_heap", "_on", "_on_instant", "_seq")

    def __init__(
        self,
        on_start: Handler,
        on_end: Handler,
        on_query: Handler = _nothing,
        on_instant: Callable[[float], None] | None = None,
    ) -> None:
        self._heap: list[tuple[float, int, int, Any]] = []
        self._seq = itertools.count()  # ties: the order they were pushed
        self._on = (on_end, on_start, on_query)
        self._on_instant = on_instant

    def interval(self, start: float, end: float | None, item: Any) -> None:
        """An interval from ``start`` to ``end`` (None: never ended)."""
        heapq.heappush(self._heap, (start, _START, next(self._seq), item))
        if end is not None:
            heapq.heappush(self._heap, (end, _END, next(self._seq), item))

    def query(self, t: float, item: Any) -> None:
        """Ask what is open at ``t``: answered once every point up to ``t`` is applied."""
        heapq.heappush(self._heap, (t, _QUERY, next(self._seq), item))

    def advance(self, watermark: float = _INF) -> None:
        """Replay every point before ``watermark`` (every point, by default).  No point
        below the watermark may be pushed after this."""
        heap, on, instant = self._heap, self._on, self._on_instant
        last: float | None = None
        while heap and heap[0][0] < watermark:
            t, kind, _, item = heapq.heappop(heap)
            if instant is not None and last is not None and t != last:
                instant(last)
            last = t
            on[kind](t, item)
        if instant is not None and last is not None:
            instant(last)  # nothing at ``last`` can come any more: it is below the mark

    def __len__(self) -> int:
        return len(self._heap)


class Peak:
    """The most intervals open at once (``peak_overlap``)."""

    __slots__ = ("current", "peak", "sweep")

    def __init__(self) -> None:
        self.current = 0
        self.peak = 0
        self.sweep = Sweep(self._start, self._end)

    def _start(self, t: float, item: Any) -> None:
        self.current += 1
        if self.current > self.peak:
            self.peak = self.current

    def _end(self, t: float, item: Any) -> None:
        self.current -= 1
