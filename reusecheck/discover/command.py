"""``reusecheck discover``'s I/O: settings -> measurements -> report on stdout, exit code.

Like ``probe``: ``--json`` writes exactly one JSON document to stdout and human text goes
to stderr; ``--events`` writes every trace event as NDJSON (to stdout with ``-``, the
report then moving to stderr).  Exit codes: 0 the measurements ran (whatever the server's
limits are: discover reports, it does not judge); 3 the target could not be reached or
the run could not complete (DNS, connect, TLS, a timeout, the deadline), with what was
measured so far still reported; 2 for bad input is the CLI's.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Iterator
from typing import IO, Final

import click

from reusecheck.analysis.limits.model import DiscoverReport
from reusecheck.discover import progress
from reusecheck.discover.engine import discover
from reusecheck.discover.settings import DiscoverSettings
from reusecheck.trace import NDJSONWriter, Sink
from reusecheck.trace.redact import redact_headers

EXIT_OK: Final = 0
EXIT_UNREACHABLE: Final = 3


@contextlib.contextmanager
def _events(path: str | None) -> Iterator[Sink | None]:
    if path is None:
        yield None
        return
    if path == "-":
        stream: IO[str] = sys.stdout
        close = False
    else:
        try:
            stream = open(path, "w", encoding="utf-8")  # noqa: SIM115 - closed below
        except OSError as exc:
            raise click.BadParameter(
                f"cannot write {path!r}: {exc.strerror}", param_hint="'--events'"
            ) from None
        close = True
    writer = NDJSONWriter(stream, redact=redact_headers, close_stream=close)
    try:
        yield writer
    finally:
        writer.close()


def exit_code(report: DiscoverReport) -> int:
    return EXIT_UNREACHABLE if report.error is not None else EXIT_OK


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
    if report.error is not None:
        click.echo(f"reusecheck: {report.error.kind}: {report.error.message}", err=True)
    return exit_code(report)


def run_discover(settings: DiscoverSettings) -> int:
    """``reusecheck discover URL``: measure, write the report, return the exit code."""
    with _events(settings.events_path) as sink:
        report = measure(settings, sink)
    return emit(report, settings)
