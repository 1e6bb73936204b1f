"""Trace events: the one record every other part of reusecheck reads.

Modelled on Go's ``net/http/httptrace`` hooks and OkHttp's EventListener: each step
of each request is an event with a timestamp from one monotonic clock, the request
index and the connection id.  Emitting is on the hot path of every request, so an
event is a slotted object holding the caller's values; nothing is formatted until a
sink writes it (``to_dict`` / the NDJSON writer).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator
from typing import IO, Any, Final, Protocol

from reusecheck.redact import redact_url

# The vocabulary of the NDJSON stream (docs/design.md).  Declared once; the analysis
# and the schema read it from here.
EVENT_NAMES: Final = (
    "get_conn",
    "dns_start",
    "dns_done",
    "connect_start",
    "connect_done",
    "tls_start",
    "tls_done",
    "got_conn",
    "wrote_headers",
    "wrote_request",
    "got_first_byte",
    "response_headers",
    "body_done",
    "put_idle",
    "idle_closed",
    "conn_closed",
    "retry",
    "h2_settings",
    "h2_goaway",
    "request_done",
)


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


class Recorder:
    """Keeps every event in memory, in emission order, for the analysis."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def write(self, event: Event) -> None:
        self.events.append(event)

    def close(self) -> None:
        pass

    def __iter__(self) -> Iterator[Event]:
        return iter(self.events)

    def named(self, *names: str) -> list[Event]:
        return [e for e in self.events if e.event in names]


class NullSink:
    """Drops events: tracing off, for measuring what tracing itself costs."""

    def write(self, event: Event) -> None:
        pass

    def close(self) -> None:
        pass


class NDJSONWriter:
    """One JSON object per line, flushed per line so ``tail -f`` and pipes see it live.

    Header values pass through ``redact`` (when given) at write time, and URLs through
    ``redact_url``, so secrets never reach the file while the in-memory record stays
    exact.
    """

    def __init__(self, stream: IO[str], redact: Any = None, close_stream: bool = False) -> None:
        self._stream = stream
        self._redact = redact
        self._close_stream = close_stream

    def write(self, event: Event) -> None:
        d = event.to_dict()
        if self._redact is not None:
            if "headers" in d:
                d["headers"] = self._redact(d["headers"])
            if "url" in d:
                # Query tokens and userinfo passwords are secrets too (get_conn.url).
                d["url"] = redact_url(d["url"])
        self._stream.write(json.dumps(d, separators=(",", ":")) + "\n")
        self._stream.flush()

    def close(self) -> None:
        if self._close_stream:
            self._stream.close()


class FanOut:
    """Sends each event to several sinks in order."""

    def __init__(self, sinks: Iterable[Sink]) -> None:
        self.sinks = tuple(sinks)

    def write(self, event: Event) -> None:
        for s in self.sinks:
            s.write(event)

    def close(self) -> None:
        for s in self.sinks:
            s.close()


class Tracer:
    """The emitter every layer holds: one clock, one sink."""

    __slots__ = ("_write", "clock", "now", "sink")

    def __init__(self, sink: Sink | None = None, clock: Clock | None = None) -> None:
        self.clock = clock or Clock()
        self.sink: Sink = sink if sink is not None else Recorder()
        self.now = self.clock.now
        self._write = self.sink.write

    def emit(
        self, event: str, request: int | None = None, conn: int | None = None, **fields: Any
    ) -> Event:
        ev = Event(self.now(), event, request, conn, fields)
        self._write(ev)
        return ev
