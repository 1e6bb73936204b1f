"""The whole run of watch (reusecheck/commands/watch_run.py): the fold of every event
concluded, a scenario's checks judged in every window, errors naming their window, and
a tally whose size does not grow with the run."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from reusecheck.analysis import (
    Analysis,
    Budget,
    ExpectationResult,
    Finding,
    RunError,
    RunRecord,
    ServerFacts,
    analyze,
)
from reusecheck.analysis.fold import fold_events
from reusecheck.commands.watch_run import RunTally, whole_run
from reusecheck.report.json import to_document
from reusecheck.report.window import WindowRecord
from reusecheck.scenarios.builtin import probe_scenario
from reusecheck.scenarios.deadline import INTERRUPTED
from tests.budget_check import problems
from tests.records import load

URL = "http://127.0.0.1:8080/"
EMPTY = analyze(RunRecord(URL, []))


def window(
    n: int,
    *,
    dials: tuple[tuple[str, int], ...] = (),
    causes: tuple[tuple[str, str | None, int], ...] = (),
    replaced: tuple[tuple[str, int, int], ...] = (),
    results: tuple[ExpectationResult, ...] = (),
    findings: tuple[Finding, ...] = (),
    server: ServerFacts | None = None,
    error: RunError | None = None,
    **counts: Any,
) -> tuple[WindowRecord, Analysis]:
    requests, reused = counts.get("requests", 4), counts.get("reused", 4)
    avoidable = tuple((r, k) for r, k in dials if r not in ("first", "all-busy"))
    record = WindowRecord(
        target=URL,
        window=n,
        start_s=n - 1.0,
        end_s=float(n),
        requests=requests,
        reused=reused,
        reuse_ratio=round(reused / requests, 4),
        connections_opened=sum(k for _, k in dials),
        budget=Budget(sum(k for _, k in dials) - sum(k for _, k in avoidable), avoidable),
        dials=dials,
        causes=causes,
        replaced=replaced,
        closed=(),
        retried=0,
        failed=0,
        errors=(),
        status_classes=(("2xx", requests),),
        peak_concurrency=counts.get("peak", 1),
        reuse="yes" if not avoidable else "partial",
        findings=findings,
        error=error,
    )
    verdict = replace(EMPTY.verdict, expectations=results)
    return record, replace(EMPTY, verdict=verdict, server=server or ServerFacts())


SCENARIO = probe_scenario(URL)


def test_the_whole_run_is_the_fold_of_every_event() -> None:
    # watch feeds the fold every event of the run; the whole run's report is the
    # probe's over them all, byte for byte what analysing the record at once gives.
    record = load("idle-timeout")
    fold = fold_events(record.events)
    scenario = replace(SCENARIO, expectations=tuple(record.expectations))
    a = whole_run(fold, None, RunTally(), scenario, {"watch": {"every_s": 1.0}})
    b = analyze(record)
    assert (a.summary, a.findings, a.verdict, a.connections) == (
        b.summary,
        b.findings,
        b.verdict,
        b.connections,
    )
    assert a.options["watch"] == {"every_s": 1.0, "windows": 0}
    assert problems(to_document(a)) == []


def test_a_scenario_check_must_hold_in_every_window() -> None:
    t = RunTally(("reuse",))
    check = 'step "a": reused'
    t.add(*window(1, dials=(("first", 1),), results=(ExpectationResult(check, True, "2 of 2"),)))
    t.add(*window(2, results=(ExpectationResult(check, False, "0 of 2"),)))
    t.add(*window(3, results=(ExpectationResult(check, True, "2 of 2"),)))
    fold = fold_events(load("healthy").events)
    a = whole_run(fold, None, t, SCENARIO, {})
    step = a.verdict.expectations[-1]
    assert (step.name, step.ok) == (check, False)
    assert step.detail == "failed in 1 of 3 windows; window 2: 0 of 2"
    assert not a.verdict.ok
    assert "expectation-unmet" in [f.code for f in a.findings]  # every FAIL says why


def test_the_first_window_stopped_early_is_the_runs_error_and_a_signal_wins() -> None:
    t = RunTally()
    t.add(*window(1, dials=(("first", 1),)))
    t.add(*window(2, error=RunError("connect", "refused")))
    t.add(*window(3, error=RunError("first-byte-timeout", "slow")))
    fold = fold_events(load("healthy").events)
    error = whole_run(fold, None, t, SCENARIO, {}).error
    assert error == RunError("connect", "window 2: refused; 2 of 3 windows stopped early")
    cut = RunError("cancelled", INTERRUPTED)
    assert whole_run(fold_events(load("healthy").events), None, t, SCENARIO, {}, cut).error == cut


def test_the_tally_does_not_grow_with_the_run() -> None:
    t = RunTally()
    for n in range(1, 2001):
        t.add(*window(n, dials=(("first", 1),) if n == 1 else ()))
    assert t.counters.windows == 2000
    assert len(t.checks) == 0 and len(t.seen) == 0
