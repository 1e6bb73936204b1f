"""The command line: parse options into a Plan, run it, render, exit with the code.

Kept thin and cheap to import: ``rich``, ``h2``, the pool and the analysis are imported
inside the commands, so ``reusecheck --help`` starts about as fast as Python itself.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from reusecheck import __version__
from reusecheck.discover import DiscoverSettings, discover_options
from reusecheck.options import (
    fail_usage,
    finite,
    output_options,
    probe_options,
    readable_file,
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="reusecheck")
def main() -> None:
    """Show whether HTTP connection reuse really happens against a server."""


def _read_targets(path: str) -> list[str]:
    """One URL per line; blank lines and ``#`` comments (whole-line or trailing) skipped."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except IsADirectoryError:
        raise click.BadParameter(f"{path!r} is a directory", param_hint="'--targets'") from None
    except (OSError, ValueError) as exc:  # UnicodeDecodeError, or a NUL in the path
        why = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text or not a valid path"
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
@click.option(
    "--discover",
    "with_discover",
    is_flag=True,
    help="Also measure the server's limits (as `discover` does) and fold them in.",
)
@probe_options
@output_options
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
    from reusecheck.app import ProbeSettings, run_probe, run_probes

    targets = list(urls) + (_read_targets(targets_file) if targets_file else [])
    if not targets:
        raise click.UsageError("give a URL to probe (or --targets FILE)")
    if len(targets) > 1 and opts["events_path"]:
        raise click.UsageError("--events takes one target; use --output-dir for several")
    all_settings = [ProbeSettings.from_cli(url, opts) for url in targets]
    if with_discover and len(all_settings) > 1:
        raise click.UsageError("--discover takes one target")
    if len(all_settings) == 1:
        sys.exit(run_probe(all_settings[0], discover=with_discover))
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
    callback=finite,
    help="Bound on the whole run in seconds [default: the file's, else 60 + its waits].",
)
@click.option(
    "--cacert",
    callback=readable_file,
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
        fail_usage("give a scenario file or builtin:NAME (reusecheck run --list shows them)")
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
    callback=finite,
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
@click.argument("url")
@discover_options
def discover(url: str, **opts: Any) -> None:
    """Measure URL's keep-alive limits: idle timeout, requests per connection, h2, TLS.

    Each measurement is what the server did, not what it announces: a Keep-Alive hint
    is shown beside the measured value.
    """
    from reusecheck.discover.command import run_discover

    sys.exit(run_discover(DiscoverSettings.from_cli(url, opts)))


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
    from reusecheck.analysis.findings import catalogue as findings

    if code not in findings.KNOWN_CODES:
        click.echo(
            f"reusecheck: unknown finding code {code!r}; known codes: "
            + ", ".join(sorted(findings.KNOWN_CODES)),
            err=True,
        )
        sys.exit(2)
    click.echo(findings.explain(code))
