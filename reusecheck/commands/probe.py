"""``reusecheck probe``: one target (through the path every scenario takes), several
targets at once, and ``--discover`` folded in.  ``perform`` is one target's run, shared
by probe, demo and run."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from reusecheck.analysis import RunRecord, analyze, conclude
from reusecheck.analysis.fold import Fold
from reusecheck.analysis.model import RunError
from reusecheck.commands import exits, interrupt, progress
from reusecheck.commands.exits import BadInput
from reusecheck.commands.outputs import Outcome, compact, write_outputs, write_target_dir
from reusecheck.commands.report import (
    error_line,
    failure_lines,
    verdict_to_stderr,
    write_report,
)
from reusecheck.commands.settings import ProbeSettings
from reusecheck.commands.sinks import EventsFile, events_file
from reusecheck.commands.spill import EventLog, RowSpill
from reusecheck.commands.writing import Failure, text_to_stdout, to_stdout
from reusecheck.scenarios import apply_checks
from reusecheck.scenarios.deadline import INTERRUPTED, absorb_interrupt
from reusecheck.scenarios.model import Scenario
from reusecheck.scenarios.runner import Runner, plain_sleep
from reusecheck.trace import FanOut, Sink, Tracer


def check_ceiling(scenario: Scenario, settings: ProbeSettings) -> None:
    """Refuse a run that would send more requests than the ceiling allows."""
    total = scenario.plan.total_requests
    if total > settings.max_total_requests:
        raise BadInput(
            f"this run would send {total} requests, over the ceiling of "
            f"{settings.max_total_requests}; raise it with --max-total-requests"
        )


async def perform(
    scenario: Scenario,
    settings: ProbeSettings,
    *,
    describe: bool = True,
    progress_shown: bool = True,
    events: EventsFile | None = None,
) -> Outcome:
    """One target's run: the record, its analysis with the scenario's checks judged.

    ``describe`` adds the scenario (name, source, every pool it used) to the report's
    ``options``; the probe command leaves them out, its report is the one it always was.
    ``events``: the ``--events`` file, fed as the run goes (None: several targets at
    once, or no option).  Interrupted (Ctrl-C, SIGTERM: the task is cancelled), the run
    still ends every request and connection and returns what it saw, error
    ``cancelled``.
    """
    check_ceiling(scenario, settings)
    rows = RowSpill()
    fold = Fold(on_row=rows.add)
    sinks: list[Sink] = [fold]
    if events is not None:
        sinks.append(events.writer)
    log = EventLog() if settings.outputs.keeps_events else None
    if log is not None:
        sinks.append(log.writer)
    sink: Sink = fold if len(sinks) == 1 else FanOut(sinks)
    started_at = datetime.now(UTC)
    runner = Runner(
        scenario.plan,
        Tracer(sink),
        progress.sleep if progress_shown else plain_sleep,
        settings.limits,
    )
    try:
        error = await runner.run(settings.deadline)
    except asyncio.CancelledError:
        if not absorb_interrupt():
            raise
        error = RunError("cancelled", INTERRUPTED)
    options: dict[str, Any] = scenario.plan.pool.to_record()
    if describe:
        options["scenario"] = {"name": scenario.name, "source": scenario.source}
        if len(runner.pools) > 1:
            options["pools"] = [
                {"from_step": step or None, **pool.to_record()} for step, pool in runner.pools
            ]
    analysis = conclude(
        fold,
        target=scenario.plan.target,
        expectations=scenario.expectations,
        error=error,
        options=options,
        requests=rows,
    )
    analysis = apply_checks(analysis, scenario.checks)
    rows.seal()
    if log is not None:
        log.seal()
    return Outcome(settings.url, analysis, log if log is not None else (), started_at)


def deliver(
    outcome: Outcome,
    settings: ProbeSettings,
    *,
    intro: str | None = None,
    extra: dict[str, Any] | None = None,
    events: EventsFile | None = None,
    signum: int | None = None,
) -> int:
    """One target's report where it belongs, then its files; returns the exit code.

    Every output is attempted, whatever happened to the others; each that could not be
    written is one line on stderr and makes the exit code 3 (a signal's code wins)."""
    failures = [events.failure if events is not None else None]
    failures.append(
        write_report(
            outcome.analysis,
            as_json=settings.as_json,
            events_on_stdout=settings.events_path == "-",
            intro=intro,
            extra=extra,
        )
    )
    failures += write_outputs([outcome], settings.outputs)
    code = exits.for_outputs(exits.for_analysis(outcome.analysis), failure_lines(failures))
    return exits.final(code, signum)


def run_one(
    settings: ProbeSettings,
    scenario: Scenario,
    *,
    describe: bool,
    intro: str | None = None,
    discover: bool = False,
) -> int:
    """One target: the run, its report and files, the exit code.  Interrupted (Ctrl-C,
    SIGTERM), the report holds what ran, marked, and the exit code is the signal's."""
    check_ceiling(scenario, settings)  # before the events file is created
    with interrupt.handled() as stop:
        with events_file(settings.events_path) as events:
            outcome = stop.run(perform(scenario, settings, describe=describe, events=events))
        extra: dict[str, Any] | None = None
        if discover and stop.signum is None:
            outcome, extra = _fold_discover(outcome, settings, stop)
        if discover and stop.signum is not None and outcome.analysis.error is None:
            # The measurements were cut short, or never started: the report is partial.
            cut = replace(outcome.analysis, error=RunError("cancelled", INTERRUPTED))
            outcome = replace(outcome, analysis=cut)
        planned = scenario.plan.total_requests
        outcome = replace(outcome, analysis=interrupt.mark(outcome.analysis, stop, planned))
        try:
            return deliver(
                outcome, settings, intro=intro, extra=extra, events=events, signum=stop.signum
            )
        finally:
            outcome.close()


def run_probe(settings: ProbeSettings, discover: bool = False) -> int:
    """``reusecheck probe URL``: the probe built-in, through the path every scenario takes.

    ``discover`` (``probe --discover``) then measures the server's limits and folds
    them into the report: measured facts replace the probe's, field by field.
    """
    return run_one(settings, settings.scenario(), describe=False, discover=discover)


def _fold_discover(
    outcome: Outcome, settings: ProbeSettings, stop: interrupt.Interrupts
) -> tuple[Outcome, dict[str, Any]]:
    from reusecheck.analysis.limits.fold import fold_into
    from reusecheck.commands.discover import measure
    from reusecheck.discover import DiscoverSettings
    from reusecheck.report.discover_json import to_document

    t = settings.pool.timeouts
    report = measure(
        DiscoverSettings(
            url=settings.url,
            http=settings.pool.http,
            timeout=max(t.connect, t.first_byte, t.body),
            headers=settings.plan_args.get("headers", ()),
            cacert=settings.pool.tls.cacert,
            insecure=settings.pool.tls.insecure,
        ),
        stop=stop,
    )
    analysis = fold_into(outcome.analysis, report)
    return replace(outcome, analysis=analysis), {"discover": to_document(report)["discover"]}


def run_probes(all_settings: list[ProbeSettings], parallel: int) -> int:
    """Several targets, at most ``parallel`` at once; reports in the order given.

    Exit code: the worst of all.  With ``--json`` one report per line (JSON Lines), and
    each target's verdict line on stderr; otherwise a summary table, one row per target.
    Each target's report is written as soon as it and those before it are done, and its
    rows dropped (``Targets``).  Interrupted, the targets that finished keep their
    results, the ones cut short are marked partial, and the ones not started yet are
    reported as not run.
    """
    for s in all_settings:
        check_ceiling(s.scenario(), s)
    with interrupt.handled() as stop:
        targets = Targets(all_settings, stop)
        try:
            stop.run(targets.run(parallel), cancel_main=False)
            targets.flush()
            return targets.finish()
        finally:
            targets.close()


class Targets:
    """Several targets' results: written in the order given, as they come in, then
    reduced to what the summary needs (the analysis without its rows, the events for a
    HAR of them all)."""

    def __init__(self, all_settings: list[ProbeSettings], stop: interrupt.Interrupts) -> None:
        self.settings = all_settings
        self.stop = stop
        self.first = all_settings[0]
        self.done: dict[int, Outcome] = {}
        self.kept: list[Outcome] = []  # written, rows dropped, in order
        self.lines: list[str] = []  # reports.jsonl (--output-dir)
        self.failures: list[Failure | None] = []

    async def run(self, parallel: int) -> None:
        gate = asyncio.Semaphore(parallel)
        stop = self.stop

        async def one(i: int, s: ProbeSettings) -> None:
            stop.register()
            try:
                async with gate:
                    if stop.signum is not None:
                        outcome = not_run(s, stop)
                    else:
                        outcome = await perform(
                            s.scenario(), s, describe=False, progress_shown=False
                        )
            except asyncio.CancelledError:
                # Cancelled while waiting for its turn: it never started.
                if not absorb_interrupt():
                    raise
                outcome = not_run(s, stop)
            planned = s.scenario().plan.total_requests
            self.done[i] = replace(
                outcome, analysis=interrupt.mark(outcome.analysis, stop, planned)
            )
            self.flush()

        await asyncio.gather(*(one(i, s) for i, s in enumerate(self.settings)))

    def flush(self) -> None:
        """Write every result whose turn has come."""
        while len(self.kept) in self.done:
            i = len(self.kept)
            o = self.done.pop(i)
            outputs = self.first.outputs
            line = compact(o.analysis) if self.first.as_json or outputs.output_dir else None
            if self.first.as_json and line is not None:
                self.failures.append(text_to_stdout(line + "\n"))
                verdict_to_stderr(o.analysis, o.target)
            if outputs.output_dir:
                self.failures += write_target_dir(Path(outputs.output_dir), i, o, outputs.svg)
                if line is not None:
                    self.lines.append(line)
            rows = o.analysis.requests
            close = getattr(rows, "close", None)
            if close is not None:
                close()
            self.kept.append(replace(o, analysis=replace(o.analysis, requests=())))

    def finish(self) -> int:
        outcomes = self.kept
        if not self.first.as_json:
            from rich.console import Console

            from reusecheck.report.targets import targets_table

            table = targets_table([o.analysis for o in outcomes])
            self.failures.append(to_stdout(lambda out: Console(file=out).print(table)))
        for o in outcomes:
            error_line(o.analysis.error, o.target)
        self.failures += write_outputs(outcomes, self.first.outputs, lines=self.lines)
        code = exits.worst(exits.for_analysis(o.analysis) for o in outcomes)
        stop = self.stop
        return exits.final(exits.for_outputs(code, failure_lines(self.failures)), stop.signum)

    def close(self) -> None:
        for o in [*self.kept, *self.done.values()]:
            o.close()


def not_run(settings: ProbeSettings, stop: interrupt.Interrupts) -> Outcome:
    """A target the signal came before: reported, with nothing measured."""
    scenario = settings.scenario()
    error = interrupt.not_run_error(stop)
    record = RunRecord(
        target=scenario.plan.target,
        events=[],
        expectations=scenario.expectations,
        error=error,
        options=scenario.plan.pool.to_record(),
    )
    analysis = analyze(record)
    # Nothing was checked: no expectation results, the verdict saying why.
    verdict = replace(analysis.verdict, ok=False, expectations=(), detail=error.message)
    return Outcome(settings.url, replace(analysis, verdict=verdict), [], datetime.now(UTC))
