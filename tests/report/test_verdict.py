"""The verdict line: the same words on the terminal and, under --json, on stderr."""

from __future__ import annotations

import io

from rich.console import Console

from reusecheck.analysis import Expectation, RunRecord, analyze
from reusecheck.analysis.model import RunError
from reusecheck.report import terminal
from reusecheck.report.verdict import verdict_text


def _last_terminal_line(record: RunRecord) -> str:
    out = io.StringIO()
    terminal.render(analyze(record), Console(file=out, width=80))
    return out.getvalue().rstrip().splitlines()[-1]


def test_the_plain_line_is_the_terminal_reports_last_line() -> None:
    for error in (None, RunError("connect", "refused"), RunError("cancelled", "interrupted")):
        record = RunRecord("http://h.test/", [], (Expectation("none"),), error=error)
        assert verdict_text(analyze(record)) == _last_terminal_line(record)


def test_an_interrupted_run_reads_interrupted() -> None:
    record = RunRecord("http://h.test/", [], (), error=RunError("cancelled", "x"))
    assert verdict_text(analyze(record)) == "verdict: INTERRUPTED · nothing ran"
