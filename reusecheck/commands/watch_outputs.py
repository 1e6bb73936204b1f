"""Where ``watch`` writes, window by window and at the end.

- ``--json``: stdout is JSON Lines, one ``{"type": "window"}`` object per window as it
  closes (flushed at once), then one ``{"type": "report"}`` line: the probe's report of
  the whole run.  Human text goes to stderr: the live view when it is a terminal, the
  verdict line and the error line at the end.
- otherwise the human stream (stdout, or stderr when ``--events -`` took stdout) gets
  the live view when it is a terminal, else one line per window (a CI log), and then
  the whole run's terminal report.
- ``--metrics FILE``: the run's counters in Prometheus' text format, rewritten whole
  after every window (a temporary file renamed into place: a collector never reads half
  a file).
- ``--junit FILE`` at the end: a test case per expectation, as probe writes it.

A reader of stdout that went away (``| head``) ends the watch: nobody is left to read
its windows.  Any other output that cannot be written is reported once, at the end (one
line, exit 3), and the run goes on with the others.
"""

from __future__ import annotations

import contextlib
import sys
from collections import deque
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import IO, Any, Final

from reusecheck.analysis import Analysis, Finding
from reusecheck.commands import progress
from reusecheck.commands.outputs import Outcome, compact_chunks, write_outputs
from reusecheck.commands.report import error_line, terminal_report, verdict_to_stderr
from reusecheck.commands.watch_settings import WatchSettings
from reusecheck.commands.writing import (
    STDOUT,
    Failure,
    failure_of,
    give_up_stdout,
    reader_gone,
    stdout_closed,
    to_stderr,
    whole_file,
)
from reusecheck.report.window import Counters, WindowRecord, dumps, summary_line

HISTORY: Final = 240  # windows the live view keeps for its sparklines
LATEST_FINDINGS: Final = 5


class WatchOutputs:
    def __init__(self, settings: WatchSettings, started_at: datetime) -> None:
        self.settings = settings
        self.started_at = started_at
        self.as_json = settings.probe.as_json
        self.failures: dict[str, Failure] = {}  # the first failure of each output
        self.reader_gone = False
        self.history: deque[WindowRecord] = deque(maxlen=HISTORY)
        self.findings: deque[tuple[int, Finding]] = deque(maxlen=LATEST_FINDINGS)
        on_stderr = self.as_json or settings.probe.events_path == "-"
        self.human: IO[str] | None = sys.stderr if on_stderr else sys.stdout
        self._live: Any = None  # rich.live.Live, when the human stream is a terminal
        self._running = 0

    # -- the live view ------------------------------------------------------------------

    def begin(self) -> None:
        if self.human is None or not progress.wanted(self.human):
            return
        from rich.console import Console
        from rich.live import Live

        console = Console(file=self.human)
        self._live = Live(
            console=console, auto_refresh=False, redirect_stdout=False, redirect_stderr=False
        )
        self._live.start()

    def tick(self, window: int, elapsed_s: float, counters: Counters) -> None:
        """Redraw the live view (the window under way, the time)."""
        self._running = window
        if self._live is None:
            return
        from reusecheck.report.live import LiveState, LiveView

        state = LiveState(
            target=self.settings.probe.url,
            every_s=self.settings.every,
            duration_s=self.settings.duration,
            elapsed_s=elapsed_s,
            running=window,
            history=tuple(self.history),
            counters=counters,
            findings=tuple(self.findings),
        )
        try:
            self._live.update(LiveView(state), refresh=True)
        except (OSError, ValueError):  # the terminal went away: no view, the run goes on
            self._live = None

    def end(self) -> None:
        if self._live is not None:
            with contextlib.suppress(OSError, ValueError):  # the terminal went away
                self._live.stop()
            self._live = None

    # -- each window --------------------------------------------------------------------

    def window(self, record: WindowRecord, counters: Counters, elapsed_s: float) -> None:
        self.history.append(record)
        for f in record.findings:
            if f.code in record.new:
                self.findings.append((record.window, f))
        if self.as_json:
            self._stdout_line(dumps(record))
        elif self._live is None and self.human is not None:
            self._human_line(summary_line(record))
        if self.settings.metrics_path:
            self._metrics(counters)
        self.tick(self._running, elapsed_s, counters)

    def _stdout_line(self, line: str | Iterable[str]) -> None:
        """One line (a window's record), or the pieces of one (the whole run's report)."""
        if self.reader_gone or STDOUT in self.failures:
            return
        closed = stdout_closed()
        if closed is not None:
            self.failures[STDOUT] = closed
            return
        try:
            for piece in [line] if isinstance(line, str) else line:
                sys.stdout.write(piece)
            sys.stdout.write("\n")
            sys.stdout.flush()
        except (OSError, ValueError) as exc:
            give_up_stdout()
            if reader_gone(exc):
                self.reader_gone = True
                return
            failure = failure_of(STDOUT, exc)
            if failure is not None:
                self.failures[STDOUT] = failure

    def _human_line(self, line: str) -> None:
        if self.human is sys.stderr:
            to_stderr(line + "\n")
        else:
            self._stdout_line(line)

    def _metrics(self, counters: Counters) -> None:
        from reusecheck.report.metrics import render

        path = self.settings.metrics_path
        assert path is not None
        failure = whole_file(Path(path), render(counters, self.settings.probe.url))
        if failure is not None:
            self.failures.setdefault(path, failure)

    # -- the end ------------------------------------------------------------------------

    def report(self, analysis: Analysis) -> list[Failure]:
        """The whole run's report and files; every output that could not be written."""
        self.end()
        if self.as_json:
            self._stdout_line(compact_chunks(analysis, first={"type": "report"}))
            verdict_to_stderr(analysis)
        elif not self.reader_gone and STDOUT not in self.failures:
            s = self.settings
            every = f"every {s.every:g} s"
            intro = f"watch: {self.history[-1].window if self.history else 0} windows, {every}"
            intro += ", one pool; the whole run:"
            failure = terminal_report(analysis, on_stderr=self.human is sys.stderr, intro=intro)
            if failure is not None:
                self.failures.setdefault(STDOUT, failure)
        error_line(analysis.error)
        outcome = Outcome(self.settings.probe.url, analysis, (), self.started_at)
        return [*self.failures.values(), *write_outputs([outcome], self.settings.probe.outputs)]
