"""The command line: parse options into a Plan, run it, render, exit with the code.

Kept thin and cheap to import: ``rich``, ``h2``, the pool and the analysis are imported
inside the commands, so ``reusecheck --help`` starts about as fast as Python itself.
"""

from __future__ import annotations

import math
import sys
from typing import Any, NoReturn

import click

from reusecheck import __version__

EXPECT_CHOICES = ("reuse", "none", "h2", "multiplex")


def _fail_usage(message: str) -> NoReturn:
    raise click.UsageError(message)


def _finite(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    """click's FloatRange lets NaN and infinity through; a timeout of NaN is nonsense."""
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        raise click.BadParameter(f"{value} is not a finite number")
    return value


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="reusecheck")
def main() -> None:
    """Show whether HTTP connection reuse really happens against a server."""


def probe_options(f: Any) -> Any:
    """Options shared by ``probe`` and ``demo``."""
    opts = [
        click.option(
            "--requests",
            "requests",
            type=click.IntRange(min=0),
            default=5,
            show_default=True,
            help="Sequential requests in the first phase.",
        ),
        click.option(
            "--idle",
            type=click.FloatRange(min=0),
            default=1.0,
            show_default=True,
            callback=_finite,
            help="Idle gap in seconds before one more request (0 skips).",
        ),
        click.option(
            "--concurrency",
            type=click.IntRange(min=0),
            default=4,
            show_default=True,
            help="Requests at once in each of the two bursts (0 skips them).",
        ),
        click.option("-X", "--method", default="GET", show_default=True, help="Request method."),
        click.option(
            "-H",
            "--header",
            "headers",
            multiple=True,
            metavar="'Name: value'",
            help="Request header (repeatable).",
        ),
        click.option(
            "--json",
            "as_json",
            is_flag=True,
            help="Write one JSON report to stdout (human text goes to stderr).",
        ),
        click.option(
            "--events",
            "events_path",
            metavar="FILE|-",
            help="Write the NDJSON event stream to FILE (or stdout with -).",
        ),
        click.option(
            "--expect",
            "expect",
            multiple=True,
            type=click.Choice(EXPECT_CHOICES),
            help="What must hold for exit 0 (default: reuse). 'none' only reports.",
        ),
        click.option(
            "--min-reuse-ratio",
            type=click.FloatRange(0, 1),
            callback=_finite,
            help="Fail unless reused/requests is at least R.",
        ),
        click.option(
            "--max-connections",
            type=click.IntRange(min=1),
            help="Fail if more than N connections were opened.",
        ),
        click.option(
            "--max-idle",
            type=click.IntRange(min=0),
            default=100,
            show_default=True,
            help="Idle connections kept overall (0 = no limit).",
        ),
        click.option(
            "--max-idle-per-host",
            type=click.IntRange(min=0),
            default=100,
            show_default=True,
            help="Idle connections kept per host (Go's default: 2).",
        ),
        click.option(
            "--max-conns-per-host",
            type=click.IntRange(min=0),
            default=0,
            show_default=True,
            help="Connections per host; 0 = unlimited.",
        ),
        click.option(
            "--idle-timeout",
            "client_idle_timeout",
            type=click.FloatRange(min=0),
            default=90.0,
            show_default=True,
            callback=_finite,
            help="Client idle timeout in seconds (0 = none).",
        ),
        click.option(
            "--disable-keepalives",
            is_flag=True,
            help="Send Connection: close and never reuse (Go's DisableKeepAlives).",
        ),
        click.option(
            "--timeout",
            type=click.FloatRange(min=0.001),
            default=10.0,
            show_default=True,
            callback=_finite,
            help="Bound on every single wait: connect, TLS, first byte, each body read.",
        ),
        click.option(
            "--deadline",
            type=click.FloatRange(min=0.001),
            callback=_finite,
            help="Bound on the whole run in seconds [default: 60 + idle gap].",
        ),
        click.option(
            "--connect-timeout",
            type=click.FloatRange(min=0.001),
            callback=_finite,
            help="Bound on DNS and the TCP connect [default: --timeout].",
        ),
        click.option(
            "--tls-timeout",
            type=click.FloatRange(min=0.001),
            callback=_finite,
            help="Bound on the TLS handshake [default: --timeout].",
        ),
        click.option(
            "--first-byte-timeout",
            type=click.FloatRange(min=0.001),
            callback=_finite,
            help="Bound on the wait for the response's first byte [default: --timeout].",
        ),
        click.option(
            "--body-timeout",
            type=click.FloatRange(min=0.001),
            callback=_finite,
            help="Bound on each wait between body reads [default: --timeout].",
        ),
        click.option(
            "--rate",
            type=click.FloatRange(min=0.001),
            callback=_finite,
            help="At most this many requests per second over the run (bursts included).",
        ),
        click.option(
            "--max-drain",
            type=click.IntRange(min=0),
            default=100 * 1024 * 1024,
            show_default=True,
            help="Body bytes read per response before its connection is given up (0 = all).",
        ),
        click.option(
            "--max-total-requests",
            type=click.IntRange(min=1),
            default=10_000,
            show_default=True,
            help="Ceiling on the requests one run may send (raise it on purpose).",
        ),
        click.option("--http1", "http", flag_value="1.1", help="Offer only HTTP/1.1 in ALPN."),
        click.option(
            "--http2",
            "http",
            flag_value="2",
            help="Require h2: fail (exit 3) when the server picks HTTP/1.1.",
        ),
        click.option(
            "--h2c", "http", flag_value="h2c", help="HTTP/2 with prior knowledge on http://."
        ),
        click.option(
            "--strict-max-streams",
            is_flag=True,
            help="At the server's stream limit, wait for a free stream instead of dialling "
            "another h2 connection (Go's StrictMaxConcurrentStreams).",
        ),
        click.option(
            "--cacert",
            type=click.Path(dir_okay=False),
            help="CA certificate (PEM) to trust for https:// targets.",
        ),
        click.option("--insecure", is_flag=True, help="Do not verify the server's certificate."),
        click.option(
            "--no-tls-resume",
            is_flag=True,
            help="Full TLS handshake on every new connection (no session resumption).",
        ),
    ]
    for o in reversed(opts):
        f = o(f)
    return f


def output_options(f: Any) -> Any:
    """Files for other tools, shared by ``probe`` and ``demo``."""
    opts = [
        click.option("--har", metavar="FILE", help="Write an HTTP Archive (HAR 1.2) of the run."),
        click.option(
            "--junit", metavar="FILE", help="Write JUnit XML: a test case per expectation."
        ),
        click.option(
            "--output-dir",
            metavar="DIR",
            help="Write report.json, events.ndjson, run.har (and report.svg) to DIR.",
        ),
        click.option("--svg", is_flag=True, help="With --output-dir: the report as an SVG too."),
    ]
    for o in reversed(opts):
        f = o(f)
    return f


def _read_targets(path: str) -> list[str]:
    """One URL per line; blank lines and ``#`` comments (whole-line or trailing) skipped."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except IsADirectoryError:
        raise click.BadParameter(f"{path!r} is a directory", param_hint="'--targets'") from None
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise click.BadParameter(f"cannot read {path!r}: {why}", param_hint="'--targets'") from None
    urls = []
    for line in text.splitlines():
        url = line.split("#", 1)[0].strip() if line.lstrip().startswith("#") else line.strip()
        if " #" in url:
            url = url.split(" #", 1)[0].strip()
        if url:
            urls.append(url)
    return urls


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
@probe_options
@output_options
def probe(urls: tuple[str, ...], targets_file: str | None, parallel: int, **opts: Any) -> None:
    """Probe URL: sequential requests, an idle gap, two concurrent bursts.

    Several URLs (or --targets) are probed side by side; the exit code is the worst.
    """
    from reusecheck.app import ProbeSettings, run_probe, run_probes

    targets = list(urls) + (_read_targets(targets_file) if targets_file else [])
    if not targets:
        raise click.UsageError("give a URL to probe (or --targets FILE)")
    if len(targets) > 1 and opts["events_path"]:
        raise click.UsageError("--events takes one target; use --output-dir for several")
    all_settings = [ProbeSettings.from_cli(url, opts) for url in targets]
    if len(all_settings) == 1:
        sys.exit(run_probe(all_settings[0]))
    sys.exit(run_probes(all_settings, parallel))


@main.command()
@probe_options
@output_options
def demo(**opts: Any) -> None:
    """Start the built-in server on loopback and probe it."""
    from reusecheck.app import ProbeSettings, run_demo

    settings = ProbeSettings.from_cli("http://127.0.0.1:0/", opts)
    sys.exit(run_demo(settings))


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
    callback=_finite,
    help="Bound on the whole run in seconds [default: the file's, else 60 + its waits].",
)
@click.option(
    "--cacert",
    type=click.Path(dir_okay=False),
    help="CA certificate (PEM) to trust for https:// targets (over the file's).",
)
@click.option("--insecure", is_flag=True, help="Do not verify the server's certificate.")
def run(scenario: str | None, url: str | None, list_builtins: bool, **opts: Any) -> None:
    """Run SCENARIO (a TOML file, or builtin:NAME) against URL.

    URL replaces the file's [defaults] url; a built-in needs it.  See docs/scenarios.md
    for the format, and --list for the built-ins.
    """
    from reusecheck.app import builtin_listing, run_scenario

    if list_builtins:
        click.echo(builtin_listing())
        sys.exit(0)
    if scenario is None:
        _fail_usage("give a scenario file or builtin:NAME (reusecheck run --list shows them)")
    sys.exit(run_scenario(scenario, url, opts))


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=0,
    show_default=True,
    help="Port (0 = pick a free one and print it).",
)
@click.option(
    "--idle-timeout",
    type=click.FloatRange(min=0),
    callback=_finite,
    help="Close keep-alive connections idle for this many seconds.",
)
@click.option(
    "--max-requests",
    type=click.IntRange(min=1),
    help="Answer the Nth request on a connection with Connection: close.",
)
@click.option("--close-always", is_flag=True, help="Connection: close on every response.")
@click.option("--http10", is_flag=True, help="Answer as HTTP/1.0 without keep-alive.")
@click.option(
    "--keepalive-hint",
    is_flag=True,
    help="Send Keep-Alive: timeout=…, max=… with the configured limits.",
)
@click.option("--tls", is_flag=True, help="Serve https with a certificate made at start.")
@click.option(
    "--h2",
    is_flag=True,
    help="Serve HTTP/2 too: by ALPN with --tls, else h2c with prior knowledge.",
)
@click.option(
    "--max-streams",
    type=click.IntRange(min=1),
    help="SETTINGS_MAX_CONCURRENT_STREAMS for h2 [default: 100].",
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
        sys.exit(2)


@main.command()
def schema() -> None:
    """Print the JSON Schema (draft 2020-12) of the report and of an event line."""
    import json

    from reusecheck.schema import schema_document

    click.echo(json.dumps(schema_document(), indent=2))


@main.command()
@click.argument("code")
def explain(code: str) -> None:
    """Print what a finding CODE means and how to fix it."""
    from reusecheck import findings

    if code not in findings.KNOWN_CODES:
        click.echo(
            f"reusecheck: unknown finding code {code!r}; known codes: "
            + ", ".join(sorted(findings.KNOWN_CODES)),
            err=True,
        )
        sys.exit(2)
    click.echo(findings.explain(code))
