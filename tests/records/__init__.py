"""Event records of real runs (``record.py`` makes them), loaded for the analysis tests.

``load(name)`` gives the ``RunRecord`` the analysis reads, exactly as the run wrote its
``--events`` stream: times to the microsecond, secrets redacted (but for ``secrets``,
recorded unredacted for the redaction tests).  ``load_discover(name)`` gives what
discover's pure results are computed from (``reusecheck.discover.engine.report``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from reusecheck.analysis import Expectation, RunError, RunRecord
from reusecheck.analysis.limits.model import DiscoverReport, Trail
from reusecheck.discover import DiscoverSettings
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


def _meta(name: str) -> dict[str, Any]:
    meta: dict[str, Any] = json.loads((DATA / name / "record.json").read_text(encoding="utf-8"))
    return meta


def _error(block: dict[str, str] | None) -> RunError | None:
    return RunError(block["kind"], block["message"]) if block else None


def is_discover_record(name: str) -> bool:
    return _meta(name).get("command") == "discover"


def load(name: str) -> RunRecord:
    """A probe or scenario run, as the analysis reads it."""
    meta = _meta(name)
    if meta.get("command") == "discover":
        raise ValueError(f"{name} is a discover run: load_discover({name!r})")
    error = meta.get("error")
    return RunRecord(
        target=meta["target"],
        events=_events(name),
        expectations=tuple(Expectation(n, v) for n, v in meta.get("expectations", [])),
        error=_error(error),
        options=meta.get("options") or {},
    )


@dataclass(frozen=True)
class DiscoverRun:
    """A discover run: what ``engine.report`` turns into the report."""

    settings: DiscoverSettings
    events: list[Event]
    trails: dict[str, Trail]
    error: RunError | None
    duration_s: float

    def report(self) -> DiscoverReport:
        from reusecheck.discover.engine import report

        return report(self.settings, self.events, self.trails, self.error, self.duration_s)


def load_discover(name: str) -> DiscoverRun:
    from tests.records.drivers import trail_of

    meta = _meta(name)
    if meta.get("command") != "discover":
        raise ValueError(f"{name} is no discover run: load({name!r})")
    raw = dict(meta["settings"])
    raw["only"] = tuple(raw["only"])
    raw["headers"] = tuple(tuple(h) for h in raw["headers"])
    trails = [trail_of(t) for t in meta["trails"]]
    return DiscoverRun(
        DiscoverSettings(**raw),
        list(_events(name)),
        {t.name: t for t in trails},
        _error(meta["error"]),
        float(meta["duration_s"]),
    )


def probe_text(name: str) -> str:
    """The JSON report the analysis makes of a probe or scenario record, now."""
    from reusecheck.analysis import analyze
    from reusecheck.report.json import dumps

    return dumps(analyze(load(name))) + "\n"


def discover_text(name: str) -> str:
    """The discover JSON document of a discover record, now."""
    from reusecheck.report.discover_json import dumps

    return dumps(load_discover(name).report()) + "\n"


def report_text(name: str) -> str:
    """The golden JSON report of the record (``record.py --reports`` writes it)."""
    return (DATA / name / "report.json").read_text(encoding="utf-8")


def discover_golden(name: str) -> str:
    """The golden discover document of a discover record."""
    return (DATA / name / "discover.json").read_text(encoding="utf-8")
