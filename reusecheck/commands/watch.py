"""``reusecheck watch URL``: the probe's cycle (or a scenario) again and again on one
pool, as a long-running client keeps its pool, for a duration or until Ctrl-C; a record
per window as it closes, and the whole run's report, judged, at the end (docs/watch.md).

The schedule: cycle N starts at (N-1) x ``--every`` after the run's start; a cycle that
overruns its slot is followed at once by the next, and the slots it overran are skipped
(as Go's ``time.Ticker`` drops ticks for a slow receiver).  Window N holds cycle N and
the pause after it: it ends as cycle N+1 is due and the next window starts there (the
windows tile the run's clock), so an idle close in the pause counts where it happens,
the dial it costs in the next window.  No cycle
starts at or after ``--duration``; the last window ends at the duration (a cycle still
running then is let finish: it is bounded by ``--deadline``), and the pool is closed
inside it, so every connection's close is in some window.

A cycle the target stops (unreachable, a timeout, an answer that is not HTTP) ends its
window early, with the error in its record; the watch goes on (a server restarting is
what a watch is for) and the whole run reports the first such error (exit 3).  When the
first cycle already stops, nothing was ever reachable: the run ends there.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final

from reusecheck.analysis import Analysis, RunError, RunRecord, analyze
from reusecheck.analysis.fold import Fold
from reusecheck.commands import exits, interrupt
from reusecheck.commands.probe import check_ceiling
from reusecheck.commands.report import failure_lines
from reusecheck.commands.sinks import EventsFile, events_file
from reusecheck.commands.spill import RowSpill
from reusecheck.commands.watch_outputs import WatchOutputs
from reusecheck.commands.watch_run import RunTally, whole_run
from reusecheck.commands.watch_settings import WatchSettings, watch_settings
from reusecheck.commands.watch_windows import WindowSplitter
from reusecheck.report.window import window_record
from reusecheck.scenarios import apply_checks
from reusecheck.scenarios.deadline import INTERRUPTED, absorb_interrupt
from reusecheck.scenarios.runner import Runner, plain_sleep
from reusecheck.trace import FanOut, Sink, Tracer

TICK_S: Final = 0.5  # how often the live view redraws while a window runs


def interrupted(error: RunError) -> bool:
    return error.kind == "cancelled" and error.message == INTERRUPTED


def run_watch(url: str | None, o: Mapping[str, Any]) -> int:
    """The command: settings checked (exit 2), the run, its outputs, the exit code."""
    settings = watch_settings(url, o)
    check_ceiling(settings.scenario, settings.probe)  # per cycle
    with interrupt.handled() as stop:
        started_at = datetime.now(UTC)
        outputs = WatchOutputs(settings, started_at)
        with events_file(settings.probe.events_path) as events:
            watch = Watch(settings, outputs, events, stop)
            try:
                analysis = stop.run(watch.run())
            except BaseException:
                watch.rows.close()
                raise
        try:
            analysis = interrupt.mark(analysis, stop)
            failures = outputs.report(analysis)
        finally:
            watch.rows.close()
        if events is not None:
            failures = [f for f in (events.failure, *failures) if f is not None]
        code = exits.for_outputs(exits.for_analysis(analysis), failure_lines([*failures]))
        return exits.final(code, stop.signum)


class Watch:
    """One run: the cycles on one pool, the windows they make, the whole run's tally."""

    def __init__(
        self,
        settings: WatchSettings,
        outputs: WatchOutputs,
        events: EventsFile | None,
        stop: interrupt.Interrupts,
    ) -> None:
        self.settings = settings
        self.stop = stop
        self.outputs = outputs
        self.splitter = WindowSplitter()
        # The whole run folds as it goes: its rows to disk, its memory the connections.
        self.rows = RowSpill()
        self.fold = Fold(on_row=self.rows.add)
        sinks: list[Sink] = [self.splitter, self.fold]
        if events is not None:
            sinks.append(events.writer)
        self.tracer = Tracer(FanOut(sinks))
        probe = settings.probe
        self.runner = Runner(settings.scenario.plan, self.tracer, plain_sleep, probe.limits)
        self.tally = RunTally(tuple(e.name for e in settings.scenario.expectations))
        self.window = 0
        self.start_s = 0.0  # the window under way's; windows tile the run's clock

    @property
    def now(self) -> float:
        return self.tracer.clock.now()

    async def run(self) -> Analysis:
        """Every window, then the whole run's report (``cancelled`` when a signal came)."""
        self.outputs.begin()
        ticker = asyncio.get_running_loop().create_task(self._ticker())
        error: RunError | None = None
        try:
            error = await self._cycles()
        except asyncio.CancelledError:
            if not absorb_interrupt():
                raise
            error = RunError("cancelled", INTERRUPTED)
        finally:
            ticker.cancel()
        await self.runner.pool.close()  # its closes belong to the last window
        cut = error is not None and interrupted(error)
        self._close_window(interrupt.interrupted_error(self.stop) if cut else error)
        self.outputs.end()
        self.rows.seal()
        # A cycle's own error is in its window's record; only a signal ends the run.
        s = self.settings
        return whole_run(
            self.fold, self.rows, self.tally, s.scenario, s.options, error if cut else None
        )

    async def _cycles(self) -> RunError | None:
        """Cycles until the duration (or the reader of stdout went away); returns the
        last window's error, its window still open."""
        every, duration = self.settings.every, self.settings.duration
        while True:
            self.window += 1
            error = await self.runner.run(self.settings.probe.deadline, keep_pool=True)
            await self._settle()
            if error is not None and self.window == 1:
                return error  # never reachable: nothing to watch
            tick = max(self.window * every, self.now)
            # 3 x 0.3 < 0.9 in floating point: a slot within a microsecond of the end is past it
            last = duration is not None and tick >= duration - 1e-6
            until = duration if last and duration is not None else tick
            await asyncio.sleep(max(0.0, until - self.now))
            if last or self.outputs.reader_gone:
                return error
            self._close_window(error)

    async def _settle(self) -> None:
        """Until the dials the window's requests started have connected or failed
        (bounded by their timeouts), so a window holds each dial whole."""
        t = self.settings.scenario.plan.pool.timeouts
        limit = self.now + t.connect + t.tls
        while self.splitter.dialling and self.now < limit:
            await asyncio.sleep(0.01)

    def _close_window(self, error: RunError | None) -> None:
        events, carried = self.splitter.cut()
        start_s, end_s = self.start_s, self.now
        self.start_s = end_s  # the next window starts as this one ends
        scenario = self.settings.scenario
        record = RunRecord(
            target=scenario.plan.target,
            events=events,
            expectations=scenario.expectations,
            error=error,
            options=self.settings.scenario.plan.pool.to_record(),
        )
        analysis = apply_checks(analyze(record), scenario.checks)
        window = window_record(
            analysis,
            window=self.window,
            start_s=start_s,
            end_s=end_s,
            carried=carried,
            seen=self.tally.codes,
        )
        self.tally.add(window, analysis)
        self.outputs.window(window, self.tally.counters, end_s)

    async def _ticker(self) -> None:
        while True:
            self.outputs.tick(self.window, self.now, self.tally.counters)
            await asyncio.sleep(TICK_S)
