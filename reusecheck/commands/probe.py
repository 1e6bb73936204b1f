"""``reusecheck probe``: one target (through the path every scenario takes), several
targets at once, and ``--discover`` folded in.  ``perform`` is one target's run, shared
by probe, demo and run."""

from __future__ import annotations

import asyncio
import gc
import sys
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from reusecheck.analysis import RunRecord, analyze
from reusecheck.analysis.model import RunError
from reusecheck.commands import exits, progress
from reusecheck.commands.exits import BadInput
from reusecheck.commands.outputs import Outcome, OutputError, OutputOptions, write_outputs
from reusecheck.commands.report import emit, error_line
from reusecheck.commands.settings import ProbeSettings
from reusecheck.commands.sinks import events_file
from reusecheck.scenarios import apply_checks
from reusecheck.scenarios.deadline import INTERRUPTED, absorb_interrupt
from reusecheck.scenarios.model import Scenario
from reusecheck.scenarios.runner import Runner, plain_sleep
from reusecheck.trace import FanOut, Recorder, Sink, Tracer


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
    events: bool = True,
) -> Outcome:
    """One target's run: the record, its analysis with the scenario's checks judged.

    ``describe`` adds the scenario (name, source, every pool it used) to the report's
    ``options``; the probe command leaves them out, its report is the one it always was.
    ``events`` False: no ``--events`` file (several targets at once).  Interrupted
    (Ctrl-C), the run still ends every request and connection and reports what it saw.
    """
    check_ceiling(scenario, settings)
    # The record grows by ~10 objects a request; with the default generation-0
    # threshold the cycle collector rescans it constantly (docs/performance.md:
    # HTTP/2 tracing overhead 11 % -> 5 %). Process-wide, so the CLI's choice.
    gc.set_threshold(10_000, 50, 100)
    recorder = Recorder()
    with events_file(settings.events_path if events else None) as writer:
        sink: Sink = recorder if writer is None else FanOut((recorder, writer))
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
    record = RunRecord(
        target=scenario.plan.target,
        events=recorder.events,
        expectations=scenario.expectations,
        error=error,
        options=options,
    )
    analysis = apply_checks(analyze(record), scenario.checks)
    return Outcome(settings.url, analysis, recorder.events, started_at)


def write_files(outcomes: list[Outcome], outputs: OutputOptions) -> int | None:
    """--har, --junit, --output-dir; exit 2 with one line when a file cannot be written."""
    if not outputs.any:
        return None
    try:
        write_outputs(outcomes, outputs)
    except OutputError as exc:
        sys.stderr.write(f"reusecheck: {exc}\n")
        return exits.EXIT_USAGE
    return None


def deliver(
    outcome: Outcome,
    settings: ProbeSettings,
    *,
    intro: str | None = None,
    extra: dict[str, Any] | None = None,
) -> int:
    """One target's report where it belongs, then its files; returns the exit code."""
    code = emit(
        outcome.analysis,
        as_json=settings.as_json,
        events_on_stdout=settings.events_path == "-",
        intro=intro,
        extra=extra,
    )
    failed = write_files([outcome], settings.outputs)
    return failed if failed is not None else code


def run_probe(settings: ProbeSettings, discover: bool = False) -> int:
    """``reusecheck probe URL``: the probe built-in, through the path every scenario takes.

    ``discover`` (``probe --discover``) then measures the server's limits and folds
    them into the report: measured facts replace the probe's, field by field.
    """
    outcome = asyncio.run(perform(settings.scenario(), settings, describe=False))
    extra: dict[str, Any] | None = None
    if discover:
        outcome, extra = _fold_discover(outcome, settings)
    return deliver(outcome, settings, extra=extra)


def _fold_discover(outcome: Outcome, settings: ProbeSettings) -> tuple[Outcome, dict[str, Any]]:
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
        )
    )
    analysis = fold_into(outcome.analysis, report)
    return replace(outcome, analysis=analysis), {"discover": to_document(report)["discover"]}


def run_probes(all_settings: list[ProbeSettings], parallel: int) -> int:
    """Several targets, at most ``parallel`` at once; reports in the order given.

    Exit code: the worst of all.  With ``--json`` one report per line (JSON Lines);
    otherwise a summary table, one row per target.
    """

    async def all_targets() -> list[Outcome]:
        gate = asyncio.Semaphore(parallel)

        async def one(s: ProbeSettings) -> Outcome:
            async with gate:
                return await perform(
                    s.scenario(), s, describe=False, progress_shown=False, events=False
                )

        return list(await asyncio.gather(*(one(s) for s in all_settings)))

    outcomes = asyncio.run(all_targets())
    first = all_settings[0]
    if first.as_json:
        from reusecheck.report import json as json_report

        for o in outcomes:
            sys.stdout.write(json_report.dumps(o.analysis, indent=None) + "\n")
        sys.stdout.flush()
    else:
        from rich.console import Console

        from reusecheck.report.targets import targets_table

        Console().print(targets_table([o.analysis for o in outcomes]))
    for o in outcomes:
        error_line(o.analysis.error, o.target)
    failed = write_files(outcomes, first.outputs)
    return (
        failed
        if failed is not None
        else exits.worst(exits.for_analysis(o.analysis) for o in outcomes)
    )
