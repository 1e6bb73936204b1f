"""``reusecheck discover``: settings -> measurements -> report, exit code.

Like ``probe``: ``--json`` writes exactly one JSON document to stdout and human text goes
to stderr (the summary line the terminal report ends with); ``--events`` writes every
trace event as NDJSON (to stdout with ``-``, the report then moving to stderr);
``--junit`` and ``--output-dir`` write files for CI (``commands/outputs.py``).
discover reports and does not judge: exit 0 when the measurements ran, whatever the
server's limits are; 3 when the target could not be reached or the run could not
complete, with what was measured so far still reported; 130/143 when interrupted.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from reusecheck.analysis.limits.model import DiscoverReport
from reusecheck.commands import exits, interrupt, progress
from reusecheck.commands.outputs import OutputOptions, write_discover_outputs
from reusecheck.commands.report import error_line, failure_lines
from reusecheck.commands.sinks import events_file
from reusecheck.commands.writing import Failure, text_to_stdout, to_stderr, to_stdout
from reusecheck.discover.engine import measure as measure_all
from reusecheck.discover.engine import report as build_report
from reusecheck.discover.settings import DiscoverSettings
from reusecheck.trace import Event, Sink


@dataclass(frozen=True)
class Measured:
    report: DiscoverReport
    events: list[Event]
    started_at: datetime


def measure(
    settings: DiscoverSettings,
    sink: Sink | None = None,
    stop: interrupt.Interrupts | None = None,
) -> DiscoverReport:
    """The measurements' report (``probe --discover``, tests)."""
    return measure_run(settings, stop or interrupt.Interrupts(), sink).report


def measure_run(
    settings: DiscoverSettings, stop: interrupt.Interrupts, sink: Sink | None = None
) -> Measured:
    """Run the measurements in a fresh event loop (with the progress bar on a terminal);
    a signal cancels them, and each reports what it saw."""
    watcher = progress.show if progress.wanted() else None
    started_at = datetime.now(UTC)
    events, trails, error, duration = stop.run(measure_all(settings, sink, watcher))
    report = build_report(settings, events, trails, error, duration)
    if stop.signum is not None and interrupt.cut_short(report.error):
        report = replace(report, error=interrupt.interrupted_error(stop))
    return Measured(report, events, started_at)


def emit(report: DiscoverReport, settings: DiscoverSettings) -> int:
    """Write the report where it belongs; returns the exit code."""
    failed = failure_lines([write_report(report, settings)])
    return exits.for_outputs(exits.for_discover(report), failed)


def write_report(report: DiscoverReport, settings: DiscoverSettings) -> Failure | None:
    """Write the report where it belongs; returns stdout's failure, if any."""
    from reusecheck.report.discover_terminal import summary_line

    failure: Failure | None = None
    if settings.as_json:
        from reusecheck.report.discover_json import dumps

        failure = text_to_stdout(dumps(report) + "\n")
        to_stderr(summary_line(report) + "\n")
    else:
        from rich.console import Console

        from reusecheck.report.discover_terminal import render

        if settings.events_path == "-":  # the events took stdout
            import sys

            if sys.stderr is not None:
                with contextlib.suppress(OSError, ValueError):  # nowhere left to say it
                    render(report, Console(file=sys.stderr))
        else:
            failure = to_stdout(lambda out: render(report, Console(file=out)))
    error_line(report.error)
    return failure


def run_discover(settings: DiscoverSettings, outputs: OutputOptions | None = None) -> int:
    """``reusecheck discover URL``: measure, write the report and the files, return the
    exit code."""
    with interrupt.handled() as stop:
        with events_file(settings.events_path) as events:
            writer = events.writer if events is not None else None
            measured = measure_run(settings, stop, writer)
        report = measured.report
        failures = [
            events.failure if events is not None else None,
            write_report(report, settings),
        ]
        if outputs is not None:
            failures += write_discover_outputs(
                report, measured.events, measured.started_at, outputs
            )
        code = exits.for_outputs(exits.for_discover(report), failure_lines(failures))
        return exits.final(code, stop.signum)
