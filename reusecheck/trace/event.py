"""Trace events: the one record every other part of reusecheck reads.

Modelled on Go's ``net/http/httptrace`` hooks and OkHttp's EventListener: each step
of each request is an event with a timestamp from one monotonic clock, the request
index and the connection id.  Emitting is on the hot path of every request, so an
event is a slotted object holding the caller's values; nothing is formatted until a
sink writes it (``to_dict`` / the NDJSON writer).
"""

from __future__ import annotations

import time
from typing import Any, Protocol


class Event:
    """One step: when (seconds since run start), what, for which request and connection."""

    __slots__ = ("conn", "event", "fields", "request", "t")

    def __init__(
        self, t: float, event: str, request: int | None, conn: int | None, fields: dict[str, Any]
    ) -> None:
        self.t = t
        self.event = event
        self.request = request
        self.conn = conn
        self.fields = fields

    def to_dict(self) -> dict[str, Any]:
        """The NDJSON line's shape: fixed keys first, then the event's own fields."""
        d: dict[str, Any] = {
            "t": round(self.t, 6),
            "event": self.event,
            "request": self.request,
            "conn": self.conn,
        }
        d.update(self.fields)
        return d

    def __repr__(self) -> str:
        return (
            f"Event({self.t:.6f}, {self.event!r}, req={self.request}, conn={self.conn}, "
            f"{self.fields})"
        )


class Sink(Protocol):
    def write(self, event: Event) -> None: ...

    def close(self) -> None: ...


class Clock:
    """Seconds since the run started, from ``perf_counter`` (monotonic, sub-microsecond)."""

    __slots__ = ("t0",)

    def __init__(self) -> None:
        self.t0 = time.perf_counter()

    def now(self) -> float:
        return time.perf_counter() - self.t0
