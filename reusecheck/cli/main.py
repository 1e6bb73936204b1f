"""The click commands: options in, ``reusecheck.commands`` does the work, exit code out.

Kept thin and cheap to import: ``rich``, ``h2``, the pool and the analysis are imported
inside the commands, so ``reusecheck --help`` starts about as fast as Python itself.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import partial, wraps
from typing import Any, TypeVar

import click

from reusecheck import __version__
from reusecheck.cli.observe_options import observe_options
from reusecheck.cli.options import (
    MAX_TOTAL_REQUESTS,
    demo_options,
    discover_options,
    discover_output_options,
    fail_usage,
    finite,
    output_options,
    probe_options,
    readable_file,
    watch_options,
)
from reusecheck.cli.request_options import client_cert_options, request_options
from reusecheck.cli.route_options import route_options
from reusecheck.cli.server_options import server_behaviour_options
from reusecheck.commands.exits import EXIT_OK, EXIT_USAGE, BadInput

T = TypeVar("T")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="reusecheck")
def main() -> None:
    """Show whether HTTP connection reuse really happens against a server."""


def _interruptible(command: Callable[..., None]) -> Callable[..., None]:
    """Ctrl-C and SIGTERM handled from the command's first line to its exit
    (``commands.interrupt``): a report of what ran and exit 130/143, never click's
    "Aborted!"."""

    @wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        from reusecheck.commands import exits, interrupt

        with interrupt.handled() as stop:
            try:
                command(*args, **kwargs)
            except SystemExit as done:
                code = done.code if isinstance(done.code, int) else EXIT_OK
                if code != EXIT_USAGE:  # a usage error stays one, signal or not
                    code = exits.final(code, stop.signum)
                raise SystemExit(code) from None
            except KeyboardInterrupt:  # a SIGINT before the handlers were in place
                sys.exit(exits.EXIT_SIGINT)

    return wrapper


def _settle(build: Callable[[], T]) -> T:
    """``build()``, with the commands' ``BadInput`` turned into click's usage error."""
    try:
        return build()
    except BadInput as exc:
        if exc.option:
            raise click.BadParameter(exc.message, param_hint=exc.option) from None
        raise click.UsageError(exc.message) from None


@main.command()
@click.argument("urls", nargs=-1, metavar="URL [URL ...]")
@click.option(
    "--targets",
    "targets_file",
    metavar="FILE",
    help="More targets: one URL per line, # starts a comment.",
)
@click.option(
    "--parallel",
    type=click.IntRange(min=1),
    default=4,
    show_default=True,
    help="Targets probed at once when there are several.",
)
@click.option(
    "--discover",
    "with_discover",
    is_flag=True,
    help="Also measure the server's limits (as `discover` does) and fold them in.",
)
@probe_options
@request_options
@client_cert_options
@route_options
@output_options
@_interruptible
def probe(
    urls: tuple[str, ...],
    targets_file: str | None,
    parallel: int,
    with_discover: bool,
    **opts: Any,
) -> None:
    """Probe URL: sequential requests, an idle gap, two concurrent bursts.

    Several URLs (or --targets) are probed side by side; the exit code is the worst.
    """
    from reusecheck.commands.probe import run_probe, run_probes
    from reusecheck.commands.settings import probe_settings, read_targets

    targets = list(urls) + (_settle(lambda: read_targets(targets_file)) if targets_file else [])
    if not targets:
        fail_usage("give a URL to probe (or --targets FILE)")
    if len(targets) > 1 and opts["events_path"]:
        fail_usage("--events takes one target; use --output-dir for several")
    all_settings = [_settle(partial(probe_settings, url, opts)) for url in targets]
    if with_discover and len(all_settings) > 1:
        fail_usage("--discover takes one target")
    if len(all_settings) == 1:
        sys.exit(_settle(lambda: run_probe(all_settings[0], discover=with_discover)))
    sys.exit(_settle(lambda: run_probes(all_settings, parallel)))


@main.command()
@demo_options
@request_options
@client_cert_options
@output_options
@_interruptible
def demo(**opts: Any) -> None:
    """Start the built-in server on loopback and probe it."""
    from reusecheck.commands.demo import run_demo
    from reusecheck.commands.settings import probe_settings

    settings = _settle(lambda: probe_settings("http://127.0.0.1:0/", opts))
    sys.exit(_settle(lambda: run_demo(settings)))


@main.command()
@click.argument("scenario", required=False)
@click.argument("url", required=False)
@click.option("--list", "list_builtins", is_flag=True, help="List the built-in scenarios.")
@click.option(
    "-s",
    "--set",
    "sets",
    multiple=True,
    metavar="NAME=VALUE",
    help="A built-in's parameter; for a file, defines ${NAME} over the environment.",
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Write one JSON report to stdout (human text goes to stderr).",
)
@click.option(
    "--events",
    "events_path",
    metavar="FILE|-",
    help="Write the NDJSON event stream to FILE (or stdout with -).",
)
@click.option(
    "--deadline",
    type=click.FloatRange(min=0.001),
    callback=finite,
    help="Bound on the whole run in seconds [default: the file's, else 60 + its waits].",
)
@click.option(
    "--cacert",
    callback=readable_file,
    help="CA certificate (PEM) to trust for https:// targets (over the file's).",
)
@click.option("-k", "--insecure", is_flag=True, help="Do not verify the server's certificate.")
@client_cert_options
@route_options
@MAX_TOTAL_REQUESTS
@output_options
@_interruptible
def run(scenario: str | None, url: str | None, list_builtins: bool, **opts: Any) -> None:
    """Run SCENARIO (a TOML file, or builtin:NAME) against URL.

    URL replaces the file's [defaults] url; a built-in needs it.  See docs/scenarios.md
    for the format, and --list for the built-ins.
    """
    from reusecheck.commands.run import builtin_listing, run_scenario

    if list_builtins:
        click.echo(builtin_listing())
        sys.exit(EXIT_OK)
    if scenario is None:
        fail_usage("give a scenario file or builtin:NAME (reusecheck run --list shows them)")
    sys.exit(_settle(lambda: run_scenario(scenario, url, opts)))


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=0,
    show_default=True,
    help="Port (0 = pick a free one and print it).",
)
@server_behaviour_options
@click.option("--http10", is_flag=True, help="Answer as HTTP/1.0 without keep-alive.")
@click.option("--tls", is_flag=True, help="Serve https with a certificate made at start.")
@click.option(
    "--h2",
    is_flag=True,
    help="Serve HTTP/2 too: by ALPN with --tls, else h2c with prior knowledge.",
)
@click.option(
    "--misbehave",
    metavar="KIND",
    help="Be a broken server instead (e.g. never-answer, drip, h2-bad-frame); "
    "'--misbehave list' shows every kind.",
)
def serve(**opts: Any) -> None:
    """Run the built-in target server with the chosen keep-alive behaviour."""
    if opts["misbehave"]:
        from reusecheck.server.misbehave import serve_misbehaving

        sys.exit(serve_misbehaving(opts["misbehave"], opts["host"], opts["port"]))
    from reusecheck.server import ServerConfig, serve_forever

    config = ServerConfig(
        host=opts["host"],
        port=opts["port"],
        idle_timeout=opts["idle_timeout"],
        max_requests=opts["max_requests"],
        close_always=opts["close_always"],
        http10=opts["http10"],
        keepalive_hint=opts["keepalive_hint"],
        tls=opts["tls"],
        h2=opts["h2"],
        max_streams=opts["max_streams"],
    )
    try:
        serve_forever(config, log=lambda line: click.echo(line, err=True))
    except OSError as exc:
        click.echo(f"reusecheck: cannot listen on {opts['host']}:{opts['port']}: {exc}", err=True)
        sys.exit(EXIT_USAGE)


@main.command()
@click.argument("url")
@discover_options
@client_cert_options
@route_options
@discover_output_options
@_interruptible
def discover(url: str, **opts: Any) -> None:
    """Measure URL's keep-alive limits: idle timeout, requests per connection, h2, TLS.

    Each measurement is what the server did, not what it announces: a Keep-Alive hint
    is shown beside the measured value.
    """
    from reusecheck.commands.discover import run_discover
    from reusecheck.commands.settings import discover_settings, outputs_of

    settings = _settle(lambda: discover_settings(url, opts))
    sys.exit(_settle(lambda: run_discover(settings, outputs_of(opts))))


# The probe's phases: with --scenario the scenario's steps are the cycle instead.
_PHASE_OPTIONS = {
    "requests": "--requests",
    "idle": "--idle",
    "concurrency": "--concurrency",
    "method": "--method",
    "headers": "--header",
    "data": "--data",
    "data_binary": "--data-binary",
    "json_body": "--json-body",
    "location": "--location",
}


@main.command()
@click.argument("url", required=False)
@watch_options
@probe_options
@request_options
@client_cert_options
@route_options
@_interruptible
def watch(url: str | None, **opts: Any) -> None:
    """Watch URL: the probe's phases (or --scenario) every --every on one pool.

    One record per window (JSON Lines with --json, a live view on a terminal), the
    whole run's report at the end, judged: with --duration and --expect, a soak check.
    """
    from click.core import ParameterSource

    from reusecheck.commands.watch import run_watch

    if opts["sets"] and opts["scenario"] is None:
        fail_usage("--set gives a scenario's parameters: give --scenario too")
    if opts["scenario"] is not None:
        ctx = click.get_current_context()
        given = [
            flag
            for name, flag in _PHASE_OPTIONS.items()
            if ctx.get_parameter_source(name) == ParameterSource.COMMANDLINE
        ]
        if given:
            fail_usage(f"{given[0]} shapes the probe's cycle; with --scenario its steps do")
    sys.exit(_settle(lambda: run_watch(url, opts)))


# The probe's options that mean something else for a run of many cycles.
_WATCH_HELP = {
    "as_json": "Write JSON Lines to stdout: a record per window, then the whole run's "
    "report (human text goes to stderr).",
    "deadline": "Bound on each cycle in seconds [default: 60 + its waits].",
    "max_total_requests": "Ceiling on the requests one cycle may send.",
}
for _param in watch.params:
    if isinstance(_param, click.Option) and _param.name in _WATCH_HELP:
        _param.help = _WATCH_HELP[_param.name]


@main.command()
@observe_options
@route_options
def observe(**opts: Any) -> None:
    """Diagnose the CLIENT: point your service at this address and learn whether it
    reuses connections, and why not.

    Ends on --duration, after --requests N, or on Ctrl-C/SIGTERM, which write the report
    and exit with the verdict's code (0 reuse held, 1 it did not), not 130.
    """
    from reusecheck.commands.observe import observe_settings, run_observe

    settings = _settle(lambda: observe_settings(opts))
    sys.exit(run_observe(settings))


@main.command()
def schema() -> None:
    """Print the JSON Schema (draft 2020-12) of the report, an event line and a watch
    window record."""
    import json

    from reusecheck.schema import schema_document

    click.echo(json.dumps(schema_document(), indent=2))


@main.command()
@click.argument("code")
def explain(code: str) -> None:
    """Print what a finding CODE means and how to fix it."""
    from reusecheck.analysis.findings import catalogue

    if code not in catalogue.KNOWN_CODES:
        click.echo(
            f"reusecheck: unknown finding code {code!r}; known codes: "
            + ", ".join(sorted(catalogue.KNOWN_CODES)),
            err=True,
        )
        sys.exit(EXIT_USAGE)
    click.echo(catalogue.explain(code))
