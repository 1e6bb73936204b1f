"""Glue between the CLI and the engine: settings -> plan -> run -> analysis -> output.

This is where the I/O of a command lives (files, stdout/stderr, the event loop), so
the analysis and the renderers stay pure.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import IO, Any

import click

from reusecheck.analyze import Analysis, Expectation, RunRecord, analyze, exit_code
from reusecheck.net.dial import Timeouts
from reusecheck.net.request import URLError, parse_header, parse_url
from reusecheck.net.tls import TLSOptions
from reusecheck.pool import PoolOptions
from reusecheck.redact import redact_headers
from reusecheck.runner import Runner
from reusecheck.scenario import Plan, probe_plan
from reusecheck.trace import FanOut, NDJSONWriter, Recorder, Sink, Tracer

EXIT_USAGE = 2


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
        if o["events_path"] == "-" and o["as_json"]:
            raise click.UsageError("--events - and --json both want stdout; give --events a file")
        if o["cacert"] and not os.path.isfile(o["cacert"]):
            raise click.BadParameter(
                f"{o['cacert']!r} is not a readable file", param_hint="'--cacert'"
            )
        t = o["timeout"]
        pool = PoolOptions(
            max_idle=o["max_idle"],
            max_idle_per_host=o["max_idle_per_host"],
            max_conns_per_host=o["max_conns_per_host"],
            idle_timeout=o["client_idle_timeout"] or None,
            disable_keepalives=o["disable_keepalives"],
            timeouts=Timeouts(connect=t, tls=t, first_byte=t, body=t),
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
            options={
                "max_idle": pool.max_idle,
                "max_idle_per_host": pool.max_idle_per_host,
                "max_conns_per_host": pool.max_conns_per_host,
                "idle_timeout_s": pool.idle_timeout,
                "disable_keepalives": pool.disable_keepalives,
                "http": pool.http,
                "strict_max_streams": pool.strict_max_streams,
                "tls_resume": pool.tls_resume,
            },
        )

    def plan(self) -> Plan:
        return probe_plan(self.url, pool=self.pool, **self.plan_args)


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
        except OSError as exc:
            raise click.BadParameter(
                f"cannot write {path!r}: {exc.strerror}", param_hint="'--events'"
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
    with _event_sinks(settings.events_path) as (recorder, sink):
        tracer = Tracer(sink)
        runner = Runner(plan, tracer, _progress_sleep)
        error = asyncio.run(runner.run(settings.deadline))
    record = RunRecord(
        target=settings.url,
        events=recorder.events,
        expectations=settings.expectations,
        error=error,
        options=settings.options,
    )
    return analyze(record)


def emit(analysis: Analysis, settings: ProbeSettings, intro: str | None = None) -> int:
    """Write the report where it belongs; returns the exit code."""
    if settings.as_json:
        from reusecheck.report import json as json_report

        sys.stdout.write(json_report.dumps(analysis) + "\n")
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


def run_probe(settings: ProbeSettings) -> int:
    return emit(execute(settings, settings.plan()), settings)


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
        analysis = execute(settings, settings.plan())
    intro = None if settings.as_json else DEMO_INTRO.format(url=url, idle=0.5, maxreq=4)
    code = emit(analysis, settings, intro)
    return code
