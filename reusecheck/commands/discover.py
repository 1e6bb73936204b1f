"""``reusecheck discover``: settings -> measurements -> report, exit code.

Like ``probe``: ``--json`` writes exactly one JSON document to stdout and human text goes
to stderr; ``--events`` writes every trace event as NDJSON (to stdout with ``-``, the
report then moving to stderr).  discover reports and does not judge: exit 0 when the
measurements ran, whatever the server's limits are; 3 when the target could not be
reached or the run could not complete, with what was measured so far still reported.
"""

from __future__ import annotations

import asyncio
import sys

from reusecheck.analysis.limits.model import DiscoverReport
from reusecheck.commands import exits, progress
from reusecheck.commands.report import error_line
from reusecheck.commands.sinks import events_file
from reusecheck.discover.engine import discover
from reusecheck.discover.settings import DiscoverSettings
from reusecheck.trace import Sink


def measure(settings: DiscoverSettings, sink: Sink | None = None) -> DiscoverReport:
    """Run the measurements in a fresh event loop (with the progress bar on a terminal)."""
    watcher = progress.show if progress.wanted() else None
    return asyncio.run(discover(settings, sink, watcher))


def emit(report: DiscoverReport, settings: DiscoverSettings) -> int:
    """Write the report where it belongs; returns the exit code."""
    if settings.as_json:
        from reusecheck.report.discover_json import dumps

        sys.stdout.write(dumps(report) + "\n")
        sys.stdout.flush()
    else:
        from rich.console import Console

        from reusecheck.report.discover_terminal import render

        render(report, Console(stderr=settings.events_path == "-"))
    error_line(report.error)
    return exits.for_discover(report)


def run_discover(settings: DiscoverSettings) -> int:
    """``reusecheck discover URL``: measure, write the report, return the exit code."""
    with events_file(settings.events_path) as sink:
        report = measure(settings, sink)
    return emit(report, settings)
