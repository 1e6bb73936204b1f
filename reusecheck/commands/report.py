"""Writing a run's report where it belongs: one JSON document on stdout (``--json``), or
the terminal report (on stderr when the events took stdout); the error line after.

Under ``--json`` stderr gets the human text: the verdict line the terminal report ends
with, then the error line.  A stdout that cannot be written is a ``Failure`` (returned,
reported by the caller with the other outputs'); a reader that went away is not.
"""

from __future__ import annotations

import contextlib
from typing import IO, Any

from reusecheck.analysis import Analysis
from reusecheck.analysis.model import RunError
from reusecheck.commands import exits
from reusecheck.commands.writing import Failure, text_to_stdout, to_stderr, to_stdout
from reusecheck.trace.redact import redact_url


def error_line(error: RunError | None, target: str | None = None) -> None:
    """The one line on stderr that names why the run could not complete."""
    if error is None:
        return
    to_stderr(f"reusecheck: {_where(target)}{error.kind}: {error.message}\n")


def verdict_to_stderr(analysis: Analysis, target: str | None = None) -> None:
    """Under ``--json``: the terminal report's last line, for the person watching."""
    from reusecheck.report.verdict import verdict_text

    to_stderr(f"{_where(target)}{verdict_text(analysis)}\n")


def failure_lines(failures: list[Failure | None]) -> bool:
    """One line per output that could not be written; True when there was one."""
    found = [f for f in failures if f is not None]
    for f in found:
        to_stderr(f"reusecheck: {f.line}\n")
    return bool(found)


def _where(target: str | None) -> str:
    return f"{redact_url(target)}: " if target else ""


def emit(
    analysis: Analysis,
    *,
    as_json: bool,
    events_on_stdout: bool = False,
    intro: str | None = None,
    extra: dict[str, Any] | None = None,
) -> int:
    """Write the report; returns the exit code (3 when stdout could not be written)."""
    failure = write_report(
        analysis, as_json=as_json, events_on_stdout=events_on_stdout, intro=intro, extra=extra
    )
    return exits.for_outputs(exits.for_analysis(analysis), failure_lines([failure]))


def write_report(
    analysis: Analysis,
    *,
    as_json: bool,
    events_on_stdout: bool = False,
    intro: str | None = None,
    extra: dict[str, Any] | None = None,
) -> Failure | None:
    """Write the report and the error line; returns stdout's failure, if any.
    ``extra``: top-level sections added to the JSON report (``discover``)."""
    failure: Failure | None
    if as_json:
        from reusecheck.commands.outputs import report_chunks

        failure = text_to_stdout(report_chunks(analysis, extra=extra))
        verdict_to_stderr(analysis)
    else:
        failure = terminal_report(analysis, on_stderr=events_on_stdout, intro=intro)
    error_line(analysis.error)
    return failure


def terminal_report(
    analysis: Analysis, *, on_stderr: bool = False, intro: str | None = None
) -> Failure | None:
    """The terminal report on stdout (``on_stderr``: the events took stdout)."""
    import sys

    from rich.console import Console

    from reusecheck.report import terminal

    def render(out: IO[str]) -> None:
        console = Console(file=out)
        if intro:
            console.print(intro)
        terminal.render(analysis, console)

    if on_stderr:
        if sys.stderr is not None:
            with contextlib.suppress(OSError, ValueError):  # nowhere left to say it
                render(sys.stderr)
        return None
    return to_stdout(render)
