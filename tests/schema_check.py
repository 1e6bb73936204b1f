"""Validate what reusecheck writes against its own JSON Schema (``reusecheck.schema``).

Any test that produces a ``--json`` report or an ``--events`` line can hand it here:

    from schema_check import check_report, check_events
    doc = check_report(result.stdout)          # one report, or raises AssertionError
    docs = check_reports(result.stdout)        # one or more (JSON Lines, multi-target)
    events = check_events(path.read_text())    # every NDJSON line

Validation is strict (``strict=True``): a field the schema does not name fails, so a
field added to the report or an event without adding it to the schema is caught here.
``probe`` runs the CLI in-process and validates everything it wrote before returning it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result
from jsonschema import Draft202012Validator

from reusecheck.schema import event_schema, report_schema
from reusecheck.trace import Event
from tests.budget_check import check_budget

Json = dict[str, Any]


@cache
def report_validator() -> Draft202012Validator:
    return Draft202012Validator(report_schema(strict=True))


@cache
def event_validator() -> Draft202012Validator:
    return Draft202012Validator(event_schema(strict=True))


def _fail(what: str, doc: Json, validator: Draft202012Validator) -> None:
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path))
    if errors:
        lines = [f"  {e.json_path}: {e.message}" for e in errors[:20]]
        raise AssertionError(f"{what} does not match reusecheck's schema:\n" + "\n".join(lines))


def _parsed(value: Json | str) -> Json:
    doc = json.loads(value) if isinstance(value, str) else value
    assert isinstance(doc, dict), f"expected a JSON object, got {type(doc).__name__}"
    return doc


def check_report(report: Json | str) -> Json:
    """One report (a dict or its JSON text), validated and its connection budget checked
    (``tests/budget_check.py``); returns it parsed."""
    doc = _parsed(report)
    _fail(f"report for {doc.get('target')!r}", doc, report_validator())
    return check_budget(doc)


def _documents(text: str) -> Iterator[Any]:
    """JSON values one after another: an indented report, or JSON Lines."""
    decoder = json.JSONDecoder()
    pos = 0
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos == len(text):
            return
        value, pos = decoder.raw_decode(text, pos)
        yield value


def check_reports(text: str) -> list[Json]:
    """Every report in ``text`` (``--json`` output with one target or many)."""
    docs = [check_report(doc) for doc in _documents(text)]
    assert docs, "no JSON report in the output"
    return docs


def check_event(event: Json | str) -> Json:
    doc = _parsed(event)
    _fail(f"event line {doc!r:.200}", doc, event_validator())
    return doc


def check_events(ndjson: str) -> list[Json]:
    """Every line of an NDJSON event stream; returns them parsed."""
    events = [check_event(line) for line in ndjson.splitlines() if line.strip()]
    assert events, "no event line"
    return events


def to_events(lines: Sequence[Json]) -> list[Event]:
    """Parsed event lines back into ``Event`` objects (for the analysis and renderers)."""
    out = []
    for d in lines:
        fields = {k: v for k, v in d.items() if k not in ("t", "event", "request", "conn")}
        out.append(Event(d["t"], d["event"], d["request"], d["conn"], fields))
    return out


@dataclass
class ProbeRun:
    """What one CLI run wrote: the click result, its reports and its event lines."""

    result: Result
    reports: list[Json]
    events: list[Json]

    @property
    def report(self) -> Json:
        (doc,) = self.reports
        return doc


def probe(*args: str, events_path: Path, command: str = "probe") -> ProbeRun:
    """``reusecheck <command> ARGS --json --events FILE``, in-process; both outputs are
    validated against the schema before they are returned."""
    from reusecheck.cli import main

    argv = [command, *args, "--json", "--events", str(events_path)]
    result = CliRunner().invoke(main, argv)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    reports = check_reports(result.stdout)
    events = check_events(events_path.read_text(encoding="utf-8"))
    return ProbeRun(result, reports, events)
