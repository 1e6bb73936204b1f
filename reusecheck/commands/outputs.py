"""Files a run leaves for other tools: HAR, JUnit XML, and an artifact directory.

The renderers (report/) turn an analysis into text; this module decides where the text
goes. With one target, ``--output-dir DIR`` holds report.json, events.ndjson, run.har
(and report.svg with ``--svg``); with several, one numbered sub-directory per target
in the order given, beside reports.jsonl with every report.  ``discover`` writes its
own report.json and events.ndjson there (and report.svg), and its JUnit XML has a test
case per measurement (report/discover_junit.py).

Each file is written whole or not at all (``writing.whole_file``), and every file is
attempted even when another failed: the failures come back as one line each.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from reusecheck.analysis import Analysis
from reusecheck.commands.writing import Failure, whole_file
from reusecheck.trace import Event, NDJSONWriter
from reusecheck.trace.redact import redact_headers, redact_url

if TYPE_CHECKING:
    from reusecheck.analysis.limits.model import DiscoverReport


@dataclass(frozen=True)
class Outcome:
    """One target's run: the analysis, its events (a list, or the run's ``EventLog``
    read back) and when its clock started; ``close`` removes what the run spilled."""

    target: str
    analysis: Analysis
    events: Iterable[Event]
    started_at: datetime

    def close(self) -> None:
        for held in (self.analysis.requests, self.events):
            close = getattr(held, "close", None)
            if close is not None:
                close()


@dataclass(frozen=True)
class OutputOptions:
    har: str | None = None
    junit: str | None = None
    output_dir: str | None = None
    svg: bool = False

    @property
    def any(self) -> bool:
        return bool(self.har or self.junit or self.output_dir)

    @property
    def keeps_events(self) -> bool:
        """The run's events are read again after it (the HAR, events.ndjson)."""
        return bool(self.har or self.output_dir)


def har_text(outcomes: Sequence[Outcome]) -> Iterator[str]:
    from reusecheck.report import har

    return har.document_chunks((o.analysis, o.events, o.started_at) for o in outcomes)


def report_chunks(
    analysis: Analysis, *, ensure_ascii: bool = True, extra: dict[str, Any] | None = None
) -> Iterator[str]:
    """The indented JSON report in pieces, rows read back from the run's spill when it
    wrote them as they finished; ``extra``: top-level sections after the others."""
    from reusecheck.report import json as json_report

    fragments = getattr(analysis.requests, "fragments", None)
    chunks = json_report.document_chunks(
        analysis,
        ensure_ascii=ensure_ascii,
        fragments=fragments(ensure_ascii=ensure_ascii) if fragments is not None else None,
    )
    if not extra:
        yield from chunks
    else:
        text = "".join(chunks)  # a discover section: a probe, small
        doc = json.loads(text)
        doc.update(extra)
        yield json.dumps(doc, indent=2, ensure_ascii=ensure_ascii)
    yield "\n"


def compact(analysis: Analysis, first: dict[str, Any] | None = None) -> str:
    """The report as one line (JSON Lines: several targets, watch's last line);
    ``first``: keys written before the report's own (watch's ``"type": "report"``)."""
    return "".join(compact_chunks(analysis, first))


# Stands for the requests array while the rest of the line is encoded.
_ROWS: Final = "\x00requests\x00"


def compact_chunks(analysis: Analysis, first: dict[str, Any] | None = None) -> Iterator[str]:
    """``compact``'s line a row at a time: a watch of hours has millions of rows on
    disk, and its last line must not hold them all at once (as objects or as text)."""
    from reusecheck.report import json as json_report

    doc = {**(first or {}), **json_report.to_document(replace(analysis, requests=()))}
    doc["requests"] = _ROWS  # keeps its place
    head, tail = json.dumps(doc, ensure_ascii=False, allow_nan=False).split(json.dumps(_ROWS), 1)
    yield head + "["
    for i, fragment in enumerate(_fragments(analysis)):
        row = json.dumps(json.loads(fragment), ensure_ascii=False, allow_nan=False)
        yield row if i == 0 else ", " + row
    yield "]" + tail


def _fragments(analysis: Analysis) -> Iterator[str]:
    from reusecheck.report.rowjson import request_fragment

    fragments = getattr(analysis.requests, "fragments", None)
    if fragments is not None:
        yield from fragments(ensure_ascii=False)
    else:
        for r in analysis.requests:
            yield request_fragment(r, ensure_ascii=False)


def junit_text(outcomes: Sequence[Outcome]) -> str:
    from reusecheck.report import junit

    return junit.to_junit([(o.target, o.analysis) for o in outcomes])


def events_text(events: Iterable[Event]) -> str | Iterator[str]:
    """The NDJSON of the events (redacted); a run's EventLog is that already."""
    lines = getattr(events, "lines", None)
    if lines is not None:
        chunks: Iterator[str] = lines()
        return chunks
    out = io.StringIO()
    writer = NDJSONWriter(out, redact=redact_headers)
    for e in events:
        writer.write(e)
    writer.close()
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


def _artifact_dir(base: Path, outcome: Outcome, svg: bool) -> list[Failure | None]:

    written = [
        whole_file(base / "report.json", report_chunks(outcome.analysis, ensure_ascii=False)),
        whole_file(base / "events.ndjson", events_text(outcome.events)),
        whole_file(base / "run.har", har_text([outcome])),
    ]
    if svg:
        written.append(whole_file(base / "report.svg", svg_text(outcome.analysis)))
    return written


def write_target_dir(base: Path, i: int, outcome: Outcome, svg: bool) -> list[Failure]:
    """One of several targets' directory under ``--output-dir``, written when it is
    done (``write_outputs`` then adds reports.jsonl)."""
    written = _artifact_dir(base / _slug(i, outcome.target), outcome, svg)
    return [f for f in written if f is not None]


def write_outputs(
    outcomes: Sequence[Outcome], options: OutputOptions, *, lines: Sequence[str] | None = None
) -> list[Failure]:
    """Every file the options ask for; the ones that could not be written.  ``lines``:
    with several targets, their directories are written already (``write_target_dir``)
    and these are their reports, one a line, for reports.jsonl."""
    written: list[Failure | None] = []
    if options.har:
        written.append(whole_file(Path(options.har), har_text(outcomes)))
    if options.junit:
        written.append(whole_file(Path(options.junit), junit_text(outcomes)))
    if options.output_dir:
        base = Path(options.output_dir)
        if len(outcomes) == 1:
            written += _artifact_dir(base, outcomes[0], options.svg)
        else:
            lines = []
            for i, outcome in enumerate(outcomes):
                written += _artifact_dir(base / _slug(i, outcome.target), outcome, options.svg)
                lines.append(compact(outcome.analysis))
            written.append(whole_file(base / "reports.jsonl", "\n".join(lines) + "\n"))
    return [f for f in written if f is not None]


def write_discover_outputs(
    report: DiscoverReport,
    events: Sequence[Event],
    started_at: datetime,
    options: OutputOptions,
) -> list[Failure]:
    """``discover --junit`` and ``--output-dir`` (report.json, events.ndjson, report.svg
    with ``--svg``); the files that could not be written."""
    written: list[Failure | None] = []
    if options.junit:
        from reusecheck.report.discover_junit import to_junit

        written.append(whole_file(Path(options.junit), to_junit(report, timestamp=started_at)))
    if options.output_dir:
        from reusecheck.report.discover_json import dumps

        base = Path(options.output_dir)
        written.append(whole_file(base / "report.json", dumps(report) + "\n"))
        written.append(whole_file(base / "events.ndjson", events_text(events)))
        if options.svg:
            written.append(whole_file(base / "report.svg", discover_svg_text(report)))
    return [f for f in written if f is not None]


def discover_svg_text(report: DiscoverReport) -> str:
    from rich.console import Console

    from reusecheck.report.discover_terminal import render

    console = Console(record=True, width=100, file=io.StringIO(), force_terminal=True)
    render(report, console)
    return console.export_svg(title=f"reusecheck discover {redact_url(report.target)}")
