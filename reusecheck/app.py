"""Glue between the CLI and the engine: settings -> plan -> run -> analysis -> output.

This is where the I/O of a command lives (files, stdout/stderr, the event loop), so
the analysis and the renderers stay pure.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import IO, Any

import click

from reusecheck.analysis import Analysis, Expectation, RunRecord, analyze, exit_code
from reusecheck.net.dial import Timeouts
from reusecheck.net.request import URLError, parse_header, parse_url
from reusecheck.net.tls import TLSOptions
from reusecheck.outputs import Outcome, OutputError, OutputOptions, write_outputs
from reusecheck.pool import PoolOptions
from reusecheck.scenarios import apply_checks, probe_scenario
from reusecheck.scenarios.model import Plan, Scenario
from reusecheck.scenarios.runner import RunLimits, Runner, plain_sleep
from reusecheck.trace import FanOut, NDJSONWriter, Recorder, Sink, Tracer
from reusecheck.trace.redact import redact_headers

EXIT_USAGE = 2
DEFAULT_TIMEOUT = 10.0  # --timeout's default: every single wait


@dataclass
class ProbeSettings:
    url: str
    plan_args: dict[str, Any]
    pool: PoolOptions
    expectations: tuple[Expectation, ...]
    as_json: bool = False
    events_path: str | None = None
    deadline: float = 61.0
    options: dict[str, Any] = field(default_factory=dict)
    outputs: OutputOptions = field(default_factory=OutputOptions)
    limits: RunLimits = field(default_factory=RunLimits)
    max_total_requests: int = 10_000

    @classmethod
    def from_cli(cls, url: str, o: dict[str, Any]) -> ProbeSettings:
        try:
            parse_url(url)
        except URLError as exc:
            raise click.UsageError(str(exc)) from None
        try:
            headers = tuple(parse_header(h) for h in o["headers"])
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="'-H'") from None
        check_outputs(o)
        t = o["timeout"]
        timeouts = Timeouts(
            connect=o.get("connect_timeout") or t,
            tls=o.get("tls_timeout") or t,
            first_byte=o.get("first_byte_timeout") or t,
            body=o.get("body_timeout") or t,
        )
        pool = PoolOptions(
            max_idle=o["max_idle"],
            max_idle_per_host=o["max_idle_per_host"],
            max_conns_per_host=o["max_conns_per_host"],
            idle_timeout=o["client_idle_timeout"] or None,
            disable_keepalives=o["disable_keepalives"],
            timeouts=timeouts,
            tls=TLSOptions(cacert=o["cacert"], insecure=o["insecure"]),
            http=o.get("http") or "auto",
            strict_max_streams=o.get("strict_max_streams", False),
            tls_resume=not o.get("no_tls_resume", False),
        )
        expectations = [Expectation(name) for name in (o["expect"] or ("reuse",))]
        if o["min_reuse_ratio"] is not None:
            expectations.append(Expectation("min-reuse-ratio", o["min_reuse_ratio"]))
        if o["max_connections"] is not None:
            expectations.append(Expectation("max-connections", o["max_connections"]))
        deadline = o["deadline"] if o["deadline"] is not None else 60.0 + o["idle"]
        return cls(
            url=url,
            plan_args={
                "requests": o["requests"],
                "idle": o["idle"],
                "concurrency": o["concurrency"],
                "method": o["method"],
                "headers": headers,
            },
            pool=pool,
            expectations=tuple(expectations),
            as_json=o["as_json"],
            events_path=o["events_path"],
            deadline=deadline,
            options=pool.to_record(),
            limits=RunLimits(rate=o.get("rate"), max_drain=o.get("max_drain") or None),
            max_total_requests=o.get("max_total_requests") or 10_000,
            outputs=OutputOptions(
                har=o.get("har"),
                junit=o.get("junit"),
                output_dir=o.get("output_dir"),
                svg=o.get("svg", False),
            ),
        )

    def scenario(self) -> Scenario:
        """The probe built-in with this command line's settings."""
        return probe_scenario(
            self.url, pool=self.pool, expectations=self.expectations, **self.plan_args
        )

    def plan(self) -> Plan:
        return self.scenario().plan


def check_outputs(o: dict[str, Any]) -> None:
    """Output and trust options that cannot work together or point nowhere (exit 2)."""
    if o["events_path"] == "-" and o["as_json"]:
        raise click.UsageError("--events - and --json both want stdout; give --events a file")
    if o["cacert"] and not os.path.isfile(o["cacert"]):
        raise click.BadParameter(f"{o['cacert']!r} is not a readable file", param_hint="'--cacert'")


@contextlib.contextmanager
def _event_sinks(path: str | None) -> Iterator[tuple[Recorder, Sink]]:
    recorder = Recorder()
    if path is None:
        yield recorder, recorder
        return
    if path == "-":
        stream: IO[str] = sys.stdout
        close = False
    else:
        try:
            stream = open(path, "w", encoding="utf-8")  # noqa: SIM115 - closed below
        except (OSError, ValueError) as exc:  # ValueError: a NUL in the path
            why = exc.strerror if isinstance(exc, OSError) else "not a valid path"
            raise click.BadParameter(
                f"cannot write {path!r}: {why}", param_hint="'--events'"
            ) from None
        close = True
    writer = NDJSONWriter(stream, redact=redact_headers, close_stream=close)
    try:
        yield recorder, FanOut((recorder, writer))
    finally:
        writer.close()


def _stderr_console() -> Any:
    from rich.console import Console

    return Console(stderr=True)


async def _progress_sleep(phase: str, seconds: float) -> None:
    """A countdown on stderr for waits a person would otherwise stare at."""
    if seconds < 1.0 or not sys.stderr.isatty():
        await asyncio.sleep(seconds)
        return
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TimeRemainingColumn(),
        console=_stderr_console(),
        transient=True,
    ) as bar:
        task = bar.add_task(f"{phase}: waiting {seconds:g} s", total=seconds)
        loop = asyncio.get_running_loop()
        start = loop.time()
        while (elapsed := loop.time() - start) < seconds:
            bar.update(task, completed=elapsed)
            await asyncio.sleep(min(0.1, seconds - elapsed))


def execute(settings: ProbeSettings, plan: Plan) -> Analysis:
    """Run the plan with the chosen sinks and analyse the record."""
    scenario = Scenario("probe", "builtin:probe", plan, expectations=settings.expectations)
    return execute_scenario(scenario, settings, describe=False)


def execute_scenario(
    scenario: Scenario, settings: ProbeSettings, *, describe: bool = True
) -> Analysis:
    """Run a scenario's plan, analyse the record, and judge the scenario's checks."""
    return asyncio.run(perform(scenario, settings, describe=describe)).analysis


def check_ceiling(scenario: Scenario, settings: ProbeSettings) -> None:
    """Refuse (exit 2) a run that would send more requests than the ceiling allows."""
    total = scenario.plan.total_requests
    if total > settings.max_total_requests:
        raise click.UsageError(
            f"this run would send {total} requests, over the ceiling of "
            f"{settings.max_total_requests}; raise it with --max-total-requests"
        )


async def perform(
    scenario: Scenario,
    settings: ProbeSettings,
    *,
    describe: bool = True,
    progress: bool = True,
    events_path: str | bool | None = True,
) -> Outcome:
    """One target's run: the record, its analysis with the scenario's checks judged.

    ``describe`` adds the scenario (name, source, every pool it used) to the report's
    ``options``; the probe command leaves them out, its report is the one it always was.
    ``events_path`` True means the settings' ``--events``; several targets at once run
    with ``progress`` and the event file off.
    """
    check_ceiling(scenario, settings)
    # The record grows by ~10 objects a request; with the default generation-0
    # threshold the cycle collector rescans it constantly (docs/performance.md:
    # HTTP/2 tracing overhead 11 % -> 5 %). Process-wide, so the CLI's choice.
    gc.set_threshold(10_000, 50, 100)
    path = settings.events_path if events_path is True else events_path or None
    with _event_sinks(path) as (recorder, sink):
        started_at = datetime.now(UTC)
        tracer = Tracer(sink)
        runner = Runner(
            scenario.plan,
            tracer,
            _progress_sleep if progress else plain_sleep,
            settings.limits,
        )
        error = await runner.run(settings.deadline)
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
        click.echo(f"reusecheck: {exc}", err=True)
        return EXIT_USAGE
    return None


def emit(
    analysis: Analysis,
    settings: ProbeSettings,
    intro: str | None = None,
    extra: dict[str, Any] | None = None,
) -> int:
    """Write the report where it belongs; returns the exit code.

    ``extra``: top-level sections added to the JSON report (``discover``).
    """
    if settings.as_json:
        import json

        from reusecheck.report import json as json_report

        doc = json_report.to_document(analysis)
        doc.update(extra or {})
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
        sys.stdout.flush()
        if analysis.error is not None:
            click.echo(f"reusecheck: {analysis.error.kind}: {analysis.error.message}", err=True)
        return exit_code(analysis)
    from rich.console import Console

    from reusecheck.report import terminal

    # With events on stdout, the human report moves to stderr.
    console = Console(stderr=settings.events_path == "-")
    if intro:
        console.print(intro)
    terminal.render(analysis, console)
    if analysis.error is not None:
        click.echo(f"reusecheck: {analysis.error.kind}: {analysis.error.message}", err=True)
    return exit_code(analysis)


def run_probe(settings: ProbeSettings, discover: bool = False) -> int:
    """``reusecheck probe``: the probe built-in, through the path every scenario takes.

    ``discover`` (``probe --discover``) then measures the server's limits and folds
    them into the report: measured facts replace the probe's, field by field.
    """
    outcome = asyncio.run(perform(settings.scenario(), settings, describe=False))
    extra: dict[str, Any] | None = None
    if discover:
        outcome, extra = _fold_discover(outcome, settings)
    code = emit(outcome.analysis, settings, extra=extra)
    failed = write_files([outcome], settings.outputs)
    return failed if failed is not None else code


def _fold_discover(outcome: Outcome, settings: ProbeSettings) -> tuple[Outcome, dict[str, Any]]:
    from reusecheck.analysis.limits.fold import fold_into
    from reusecheck.discover import DiscoverSettings
    from reusecheck.discover.command import measure
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

    Exit code: the worst of all (3 over 1 over 0).  With ``--json`` one report per line
    (JSON Lines); otherwise a summary table, one row per target.
    """

    async def all_targets() -> list[Outcome]:
        gate = asyncio.Semaphore(parallel)

        async def one(s: ProbeSettings) -> Outcome:
            async with gate:
                return await perform(
                    s.scenario(), s, describe=False, progress=False, events_path=False
                )

        return list(await asyncio.gather(*(one(s) for s in all_settings)))

    outcomes = asyncio.run(all_targets())
    first = all_settings[0]
    codes = [exit_code(o.analysis) for o in outcomes]
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
        if o.analysis.error is not None:
            e = o.analysis.error
            click.echo(f"reusecheck: {o.target}: {e.kind}: {e.message}", err=True)
    failed = write_files(outcomes, first.outputs)
    return failed if failed is not None else max(codes)


DEMO_INTRO = (
    "Demo: the built-in server on {url} closes idle connections after {idle:g} s and "
    "ends each connection after {maxreq} requests; watch the findings name both."
)


def run_demo(settings: ProbeSettings) -> int:
    """Serve and probe on loopback in one process; always exit 0 unless it broke."""
    from reusecheck.server import ServerConfig, ServerThread

    config = ServerConfig(idle_timeout=0.5, max_requests=4, keepalive_hint=True)
    with ServerThread(config) as srv:
        url = srv.url
        settings = replace(
            settings,
            url=url,
            plan_args={**settings.plan_args},
            expectations=(Expectation("none"),),
        )
        outcome = asyncio.run(perform(settings.scenario(), settings, describe=False))
    intro = None if settings.as_json else DEMO_INTRO.format(url=url, idle=0.5, maxreq=4)
    code = emit(outcome.analysis, settings, intro)
    failed = write_files([outcome], settings.outputs)
    return failed if failed is not None else code


# --- reusecheck run -------------------------------------------------------------------------


def parse_sets(pairs: tuple[str, ...]) -> dict[str, str]:
    """``--set NAME=VALUE`` options, the last one winning."""
    values: dict[str, str] = {}
    for pair in pairs:
        name, eq, value = pair.partition("=")
        if not eq or not name.strip():
            raise click.BadParameter(f"{pair!r} is not NAME=VALUE", param_hint="'--set'")
        values[name.strip()] = value
    return values


def builtin_listing() -> str:
    """What ``reusecheck run --list`` prints: each built-in, its line, its parameters."""
    from reusecheck.scenarios import BUILTINS

    lines = ["Built-in scenarios: reusecheck run builtin:NAME URL [--set PARAM=VALUE ...]"]
    width = max(len(name) for name in BUILTINS) + 2
    for b in BUILTINS.values():
        lines.append(f"  {b.name:<{width}}{b.summary}")
        for p in b.params:
            setting = f"{p.name}={'...' if p.default is None else format(p.default, 'g')}"
            lines.append(f"  {'':<{width}}  --set {setting:<26}{p.help}")
    return "\n".join(lines)


def run_scenario(spec: str, url: str | None, o: dict[str, Any]) -> int:
    """``reusecheck run``: resolve the scenario (exit 2 with one line when it is wrong),
    run it, report it like the probe, with its intro first."""
    from reusecheck.scenarios import ScenarioError, resolve

    if url is not None:
        try:
            parse_url(url)
        except URLError as exc:
            raise click.UsageError(str(exc)) from None
    check_outputs(o)
    t = DEFAULT_TIMEOUT
    base = PoolOptions(
        timeouts=Timeouts(connect=t, tls=t, first_byte=t, body=t),
        tls=TLSOptions(cacert=o["cacert"], insecure=o["insecure"]),
    )
    try:
        scenario = resolve(
            spec, url, parse_sets(o["sets"]), base, cacert=o["cacert"], insecure=o["insecure"]
        )
    except ScenarioError as exc:
        click.echo(f"reusecheck: {exc}", err=True)
        return EXIT_USAGE
    settings = ProbeSettings(
        url=scenario.plan.target,
        plan_args={},
        pool=scenario.plan.pool,
        expectations=scenario.expectations,
        as_json=o["as_json"],
        events_path=o["events_path"],
        deadline=o["deadline"] if o["deadline"] is not None else scenario.run_deadline,
    )
    analysis = execute_scenario(scenario, settings)
    return emit(analysis, settings, None if settings.as_json else scenario.intro)
