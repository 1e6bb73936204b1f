"""Event records of real runs (``record.py`` makes them), loaded for the analysis tests.

``load(name)`` gives the ``RunRecord`` the analysis reads, exactly as the run wrote its
``--events`` stream: times to the microsecond, secrets redacted.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from reusecheck.analysis import Expectation, RunError, RunRecord
from reusecheck.trace import Event

DATA = Path(__file__).resolve().parent / "data"


def names() -> list[str]:
    return sorted(p.name for p in DATA.iterdir() if (p / "events.ndjson").is_file())


def event_lines(name: str) -> list[dict[str, object]]:
    text = (DATA / name / "events.ndjson").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@cache
def _events(name: str) -> tuple[Event, ...]:
    out = []
    for d in event_lines(name):
        fields = {k: v for k, v in d.items() if k not in ("t", "event", "request", "conn")}
        out.append(Event(d["t"], d["event"], d["request"], d["conn"], fields))  # type: ignore[arg-type]
    return tuple(out)


def load(name: str) -> RunRecord:
    meta = json.loads((DATA / name / "record.json").read_text(encoding="utf-8"))
    error = meta.get("error")
    return RunRecord(
        target=meta["target"],
        events=_events(name),
        expectations=tuple(Expectation(n, v) for n, v in meta.get("expectations", [])),
        error=RunError(error["kind"], error["message"]) if error else None,
        options=meta.get("options") or {},
    )


def report_text(name: str) -> str:
    """The golden JSON report of the record (``record.py --reports`` writes it)."""
    return (DATA / name / "report.json").read_text(encoding="utf-8")
