"""Runs the chosen measurements at the same time and turns the record into a report.

The measurements use separate connections and do not disturb one another: the idle
watch waits while the counter sends its requests on another connection, the h2 burst and
the TLS handshakes on others still.  So a run takes about as long as the longest of them
(the idle timeout, usually), not their sum.  Only the timed TLS handshakes get the loop
to themselves for a moment (``QUIET_AFTER``).  The whole run is bounded by the deadline;
a measurement cut short reports what it saw (an idle connection still open after 40 s
is "at least 40 s") and the run ends with error ``deadline`` (exit 3).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Final

from reusecheck.analysis.events import EventIndex
from reusecheck.analysis.limits import h2 as limits_h2
from reusecheck.analysis.limits import idle_timeout as limits_idle
from reusecheck.analysis.limits import max_requests as limits_count
from reusecheck.analysis.limits import tls as limits_tls
from reusecheck.analysis.limits.model import DiscoverReport, Trail
from reusecheck.analysis.limits.report import build_report
from reusecheck.analysis.model import RunError
from reusecheck.discover import h2limits, idle_timeout, max_requests, tls_resume
from reusecheck.discover.session import EventWatch, Session, Unreachable
from reusecheck.discover.settings import DiscoverSettings
from reusecheck.scenarios.deadline import INTERRUPTED, Deadline, absorb_interrupt
from reusecheck.trace import Event, FanOut, Recorder, Sink, Tracer

Driver = Callable[[Session, Trail], Awaitable[None]]
DRIVERS: Final[dict[str, Driver]] = {
    idle_timeout.NAME: idle_timeout.run,
    max_requests.NAME: max_requests.run,
    h2limits.NAME: h2limits.run,
    tls_resume.NAME: tls_resume.run,
}

# Which measurements wait until others have stopped sending: the TLS handshakes are
# timed, so they run on a quiet loop, after the idle samples were dialled and before the
# request counter and the h2 burst keep it busy.  The idle watch itself only waits.
QUIET_AFTER: Final[dict[str, tuple[str, ...]]] = {
    tls_resume.NAME: (idle_timeout.NAME,),
    max_requests.NAME: (idle_timeout.NAME, tls_resume.NAME),
    h2limits.NAME: (idle_timeout.NAME, tls_resume.NAME),
}

# Called with the session once the measurements started (the progress bar), and awaited
# (cancelled at the end): it may only read ``session.live``.
Watcher = Callable[[Session], Coroutine[Any, Any, None]]


async def _drive(driver: Driver, session: Session, trail: Trail) -> None:
    name = trail.name
    try:
        for before in QUIET_AFTER.get(name, ()):
            if before in session.settings.only:
                await session.settled(before).wait()
        await driver(session, trail)
    except Unreachable as exc:
        trail.error = RunError(exc.error.kind, exc.error.message)
    finally:
        session.settled(name).set()


async def measure(
    settings: DiscoverSettings,
    sink: Sink | None = None,
    watcher: Watcher | None = None,
) -> tuple[list[Event], dict[str, Trail], RunError | None, float]:
    """Run the measurements; returns (events, trails, run error, duration in seconds).

    ``sink`` gets every event as it happens (the ``--events`` writer) besides the record.
    """
    recorder = Recorder()
    watch = EventWatch()
    sinks: list[Sink] = [recorder, watch]
    if sink is not None:
        sinks.append(sink)
    tracer = Tracer(FanOut(sinks))
    session = Session(settings, tracer, watch)
    trails = {name: Trail(name) for name in settings.only}
    loop = asyncio.get_running_loop()
    tasks = [loop.create_task(_drive(DRIVERS[n], session, t)) for n, t in trails.items()]
    side: asyncio.Task[None] | None = None
    if watcher is not None:
        side = loop.create_task(watcher(session))
    error: RunError | None = None
    try:
        async with Deadline(settings.total_deadline, session.interruption) as limit:
            await asyncio.gather(*tasks)
    except TimeoutError:
        error = RunError("deadline", limit.message)
    except asyncio.CancelledError:
        if not absorb_interrupt():
            raise
        error = RunError("cancelled", INTERRUPTED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if side is not None:
            side.cancel()
            await asyncio.gather(side, return_exceptions=True)
    if error is None:
        error = next((t.error for t in trails.values() if t.error is not None), None)
    return recorder.events, trails, error, tracer.now()


def report(
    settings: DiscoverSettings,
    events: list[Event],
    trails: dict[str, Trail],
    error: RunError | None,
    duration_s: float,
) -> DiscoverReport:
    """Pure: the record and the trails -> each measurement's result -> the report."""
    index = EventIndex(events)
    t = trails.get
    idle = t(idle_timeout.NAME)
    count = t(max_requests.NAME)
    h2 = t(h2limits.NAME)
    tls = t(tls_resume.NAME)
    s = settings
    return build_report(
        s.url,
        s.options(),
        index,
        limits_idle.result(idle, index, s.max_wait) if idle is not None else None,
        limits_count.result(count, index, s.max_requests, s.rate) if count is not None else None,
        limits_h2.result(h2, index) if h2 is not None else None,
        limits_tls.result(tls, index) if tls is not None else None,
        error,
        duration_s,
    )


async def discover(
    settings: DiscoverSettings, sink: Sink | None = None, watcher: Watcher | None = None
) -> DiscoverReport:
    """Measure and report, on the running loop (``probe --discover`` can await this)."""
    events, trails, error, duration = await measure(settings, sink, watcher)
    return report(settings, events, trails, error, duration)
