"""Files a run leaves for other tools: HAR, JUnit XML, and an artifact directory.

The renderers (report/) turn an analysis into text; this module decides where the text
goes. With one target, ``--output-dir DIR`` holds report.json, events.ndjson, run.har
(and report.svg with ``--svg``); with several, one numbered sub-directory per target
in the order given, beside reports.jsonl with every report.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from reusecheck.analysis import Analysis
from reusecheck.trace import Event, NDJSONWriter
from reusecheck.trace.redact import redact_headers, redact_url


@dataclass(frozen=True)
class Outcome:
    """One target's run: the analysis, the raw record and when its clock started."""

    target: str
    analysis: Analysis
    events: Sequence[Event]
    started_at: datetime


@dataclass(frozen=True)
class OutputOptions:
    har: str | None = None
    junit: str | None = None
    output_dir: str | None = None
    svg: bool = False

    @property
    def any(self) -> bool:
        return bool(self.har or self.junit or self.output_dir)


class OutputError(Exception):
    """A file could not be written; the message is one line for the user."""


def _write(path: Path, text: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the path
        why = exc.strerror if isinstance(exc, OSError) else "not a valid path"
        raise OutputError(f"cannot write {str(path)!r}: {why or exc}") from None


def har_text(outcomes: Sequence[Outcome]) -> str:
    from reusecheck.report import har

    if len(outcomes) == 1:
        o = outcomes[0]
        return har.dumps(o.analysis, o.events, started_at=o.started_at)
    doc = har.to_har_runs((o.analysis, o.events, o.started_at) for o in outcomes)
    return json.dumps(doc, indent=2)


def junit_text(outcomes: Sequence[Outcome]) -> str:
    from reusecheck.report import junit

    return junit.to_junit([(o.target, o.analysis) for o in outcomes])


def events_text(events: Sequence[Event]) -> str:
    out = io.StringIO()
    writer = NDJSONWriter(out, redact=redact_headers)
    for e in events:
        writer.write(e)
    return out.getvalue()


def svg_text(analysis: Analysis) -> str:
    from rich.console import Console

    from reusecheck.report import terminal

    console = Console(record=True, width=100, file=io.StringIO(), force_terminal=True)
    terminal.render(analysis, console)
    return console.export_svg(title=f"reusecheck {redact_url(analysis.target)}")


def _slug(index: int, target: str) -> str:
    core = re.sub(r"^[a-z]+://", "", target).split("/", 1)[0]
    core = re.sub(r"[^A-Za-z0-9.-]+", "-", core).strip("-") or "target"
    return f"{index + 1:02d}-{core}"


def _artifact_dir(base: Path, outcome: Outcome, svg: bool) -> None:
    from reusecheck.report import json as json_report

    _write(base / "report.json", json_report.dumps(outcome.analysis) + "\n")
    _write(base / "events.ndjson", events_text(outcome.events))
    _write(base / "run.har", har_text([outcome]))
    if svg:
        _write(base / "report.svg", svg_text(outcome.analysis))


def write_outputs(outcomes: Sequence[Outcome], options: OutputOptions) -> None:
    """Every file the options ask for; raises OutputError on the first that fails."""
    if options.har:
        _write(Path(options.har), har_text(outcomes))
    if options.junit:
        _write(Path(options.junit), junit_text(outcomes))
    if options.output_dir:
        base = Path(options.output_dir)
        if len(outcomes) == 1:
            _artifact_dir(base, outcomes[0], options.svg)
            return
        from reusecheck.report import json as json_report

        lines = []
        for i, outcome in enumerate(outcomes):
            _artifact_dir(base / _slug(i, outcome.target), outcome, options.svg)
            lines.append(json_report.dumps(outcome.analysis, indent=None))
        _write(base / "reports.jsonl", "\n".join(lines) + "\n")
