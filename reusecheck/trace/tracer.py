"""The emitter every layer holds, and spans: steps whose end is emitted however they end.

OkHttp's EventListener promises that every ``*_start`` has its ``*_done``; here that is
structural: a dial's steps are ``span``s, whose exit emits the ``*_done`` whatever ends
the step (success, an error, a timeout, the run being cancelled).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator
from typing import Any, Final

from reusecheck.trace.event import Clock, Event, Sink
from reusecheck.trace.sinks import Recorder
from reusecheck.trace.vocab import EventName, SpanName

_perf_counter = time.perf_counter


class Tracer:
    """The emitter every layer holds: one clock, one sink."""

    __slots__ = ("_t0", "_write", "clock", "now", "sink")

    def __init__(self, sink: Sink | None = None, clock: Clock | None = None) -> None:
        self.clock = clock or Clock()
        if sink is None:
            sink = Recorder()
        self.sink: Sink = sink
        self.now = self.clock.now
        self._t0 = self.clock.t0
        # A Recorder's write is a list append: call it directly, one frame less per event
        # (about ten a request).
        self._write = sink.events.append if type(sink) is Recorder else sink.write

    def emit(
        self, event: EventName, request: int | None = None, conn: int | None = None, **fields: Any
    ) -> Event:
        # Clock.now inlined: this runs about ten times per request.
        ev = Event(_perf_counter() - self._t0, event, request, conn, fields)
        self._write(ev)
        return ev


_SPAN_EVENTS: Final[dict[SpanName, tuple[EventName, EventName]]] = {
    "dns": ("dns_start", "dns_done"),
    "connect": ("connect_start", "connect_done"),
    "tls": ("tls_start", "tls_done"),
    "proxy_tls": ("proxy_tls_start", "proxy_tls_done"),
    "proxy_connect": ("proxy_connect_start", "proxy_connect_done"),
}


class Span:
    """What a span's ``*_done`` carries: ``done(**fields)`` on success, ``fail(message)``
    before raising; anything else that ends the step (a cancelled run) names itself."""

    __slots__ = ("error", "fields")

    def __init__(self) -> None:
        self.fields: dict[str, Any] = {}
        self.error: str | None = None

    def done(self, **fields: Any) -> None:
        self.fields = fields

    def fail(self, message: str) -> None:
        self.error = message


@contextlib.contextmanager
def span(
    tracer: Tracer,
    name: SpanName,
    request: int | None,
    conn: int | None,
    *,
    failed: dict[str, Any] | None = None,
    **start: Any,
) -> Iterator[Span]:
    """Emit ``<name>_start`` now and ``<name>_done`` when the block ends, however it ends.

    ``failed``: the fields ``*_done`` carries besides ``error`` when the step failed
    (``dns_done.addrs`` is ``[]``, ``connect_done.local`` null, ...).
    """
    begin, end = _SPAN_EVENTS[name]
    tracer.emit(begin, request, conn, **start)
    s = Span()
    try:
        yield s
    except BaseException as exc:
        tracer.emit(end, request, conn, **(failed or {}), error=s.error or _ended_by(exc))
        raise
    if s.error is not None:
        tracer.emit(end, request, conn, **(failed or {}), error=s.error)
    else:
        tracer.emit(end, request, conn, **s.fields)


def _ended_by(exc: BaseException) -> str:
    """The ``error`` of a step ended by something other than its own failure."""
    if isinstance(exc, asyncio.CancelledError):
        return "cancelled: the run ended before this step did"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
