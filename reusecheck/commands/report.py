"""Writing a run's report where it belongs: one JSON document on stdout (``--json``), or
the terminal report (on stderr when the events took stdout); the error line after."""

from __future__ import annotations

import json
import sys
from typing import Any

from reusecheck.analysis import Analysis
from reusecheck.analysis.model import RunError
from reusecheck.commands import exits
from reusecheck.trace.redact import redact_url


def error_line(error: RunError | None, target: str | None = None) -> None:
    """The one line on stderr that names why the run could not complete."""
    if error is None:
        return
    where = f"{redact_url(target)}: " if target else ""
    sys.stderr.write(f"reusecheck: {where}{error.kind}: {error.message}\n")
    sys.stderr.flush()


def emit(
    analysis: Analysis,
    *,
    as_json: bool,
    events_on_stdout: bool = False,
    intro: str | None = None,
    extra: dict[str, Any] | None = None,
) -> int:
    """Write the report; returns the exit code.  ``extra``: top-level sections added to
    the JSON report (``discover``)."""
    if as_json:
        from reusecheck.report import json as json_report

        doc = json_report.to_document(analysis)
        doc.update(extra or {})
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
        sys.stdout.flush()
    else:
        from rich.console import Console

        from reusecheck.report import terminal

        console = Console(stderr=events_on_stdout)
        if intro:
            console.print(intro)
        terminal.render(analysis, console)
    error_line(analysis.error)
    return exits.for_analysis(analysis)
