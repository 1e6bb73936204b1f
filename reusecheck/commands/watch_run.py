"""``watch``'s whole-run report: the analysis's fold over every event of the run.

The fold (``analysis.fold``) is one of the run's sinks from the first event: it keeps
the connections and the requests in flight, each finished row goes to a spill on disk,
so an hour of requests costs what a minute does.  At the end ``conclude`` makes the
probe's report of the whole run: its budget, server facts and findings over every
connection, its expectations judged on the whole run.  What only the windows can judge
is added here: a scenario's checks count the requests of a step, which every cycle
repeats, so each must hold in every window; and a cycle the target stopped early gives
the run its error, naming the window (the watch went on past it).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from reusecheck.analysis import Analysis, ExpectationResult, RunError, conclude
from reusecheck.analysis.findings.budget import expectation_unmet
from reusecheck.analysis.findings.detect import rank
from reusecheck.analysis.fold import Fold
from reusecheck.analysis.model import RequestRow
from reusecheck.analysis.text import plural
from reusecheck.report.window import Counters, WindowRecord
from reusecheck.scenarios.model import Scenario


@dataclass
class Judged:
    """One expectation over the windows: how many judged it and held it, the first
    that failed it, the first that held it, and the latest detail."""

    name: str
    windows: int = 0
    held: int = 0
    first_failed: tuple[int, str] | None = None
    first_held: tuple[int, str] | None = None
    latest: str = ""
    value: float | None = None

    def add(self, window: int, result: ExpectationResult) -> None:
        self.windows += 1
        self.latest = result.detail
        if result.ok:
            self.held += 1
            self.first_held = self.first_held or (window, result.detail)
        elif self.first_failed is None:
            self.first_failed = (window, result.detail)


class RunTally:
    """What the windows so far add up to: the counters (metrics, live view), the finding
    codes seen (a window's new ones), each scenario check's results, the first error."""

    def __init__(self, expectations: tuple[str, ...] = ()) -> None:
        self.expectations = frozenset(expectations)  # judged on the whole run
        self.counters = Counters()
        self.seen: set[str] = set()
        self.checks: dict[str, Judged] = {}
        self.first_error: tuple[int, RunError] | None = None
        self.stopped = 0  # windows whose cycle stopped early

    @property
    def codes(self) -> frozenset[str]:
        return frozenset(self.seen)

    def add(self, record: WindowRecord, analysis: Analysis) -> None:
        self.counters.add(record)
        self.seen.update(f.code for f in record.findings)
        for e in analysis.verdict.expectations:
            if e.name not in self.expectations:  # a scenario's check
                self.checks.setdefault(e.name, Judged(e.name, value=e.value)).add(record.window, e)
        if record.error is not None:
            self.stopped += 1
            if self.first_error is None:
                self.first_error = (record.window, record.error)


def check_result(judged: Judged) -> ExpectationResult:
    """A scenario's check over the run: held in every window that judged it."""
    n = plural(judged.windows, "window")
    if judged.first_failed is not None:
        window, said = judged.first_failed
        failed = judged.windows - judged.held
        detail = f"failed in {failed} of {n}; window {window}: {said}"
        return ExpectationResult(judged.name, False, detail, judged.value)
    return ExpectationResult(judged.name, True, f"in all {n}: {judged.latest}", judged.value)


def _error(tally: RunTally, error: RunError | None) -> RunError | None:
    """An interruption wins; else the first window whose cycle stopped, named."""
    if error is not None or tally.first_error is None:
        return error
    window, first = tally.first_error
    windows = tally.counters.windows
    more = f"; {tally.stopped} of {windows} windows stopped early" if windows > 1 else ""
    return RunError(first.kind, f"window {window}: {first.message}{more}")


def whole_run(
    fold: Fold,
    rows: list[RequestRow] | Any,
    tally: RunTally,
    scenario: Scenario,
    options: dict[str, Any],
    error: RunError | None = None,
) -> Analysis:
    """The whole run's report: the fold concluded (``rows``: where it put the rows),
    with the scenario's checks as the windows judged them and the run's error.

    ``error``: what ended the run from outside (an interruption, ``cancelled``)."""
    watch = options.get("watch") or {}
    analysis = conclude(
        fold,
        target=scenario.plan.target,
        expectations=scenario.expectations,
        error=_error(tally, error),
        options={**options, "watch": {**watch, "windows": tally.counters.windows}},
        requests=rows,
    )
    if not tally.checks:
        return analysis
    checks = tuple(check_result(j) for j in tally.checks.values())
    v = analysis.verdict
    verdict = replace(
        v, ok=v.ok and all(c.ok for c in checks), expectations=v.expectations + checks
    )
    findings = analysis.findings
    if not verdict.ok and not any(f.code == "expectation-unmet" for f in findings):
        unmet = expectation_unmet(verdict, findings, analysis.connections, analysis.server)
        if unmet is not None:
            findings = rank((*findings, unmet))
    return replace(analysis, verdict=verdict, findings=findings)
