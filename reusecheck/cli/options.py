"""The options the commands share, as click decorators, apart from the commands.

click options are long to spell out; keeping them here keeps ``cli.py`` to the commands
themselves.  Nothing here imports more than click.
"""

from __future__ import annotations

import math
from typing import Any, NoReturn

import click

EXPECT_CHOICES = ("reuse", "none", "h2", "multiplex", "status")


def fail_usage(message: str) -> NoReturn:
    raise click.UsageError(message)


def finite(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    """click's FloatRange lets NaN and infinity through; a timeout of NaN is nonsense."""
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        raise click.BadParameter(f"{value} is not a finite number")
    return value


def readable_file(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    """A file to read (a CA bundle): exists, is not a directory, has no NUL in its name.

    click.Path would do, but it lets ``os.stat`` raise on a NUL byte (a traceback).
    """
    if value is None:
        return None
    import os

    if "\0" in value or not os.path.exists(value):
        raise click.BadParameter(f"{value!r} is not a readable file")
    if os.path.isdir(value):
        raise click.BadParameter(f"{value!r} is a directory, not a file")
    if not os.access(value, os.R_OK):
        raise click.BadParameter(f"{value!r} is not readable")
    return value


# Options several commands take, declared once (click builds a new Option per use).
HEADERS = click.option(
    "-H",
    "--header",
    "headers",
    multiple=True,
    metavar="'Name: value'",
    help="Request header (repeatable).",
)
JSON = click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Write one JSON report to stdout (human text goes to stderr).",
)
EVENTS = click.option(
    "--events",
    "events_path",
    metavar="FILE|-",
    help="Write the NDJSON event stream to FILE (or stdout with -).",
)
TIMEOUT = click.option(
    "--timeout",
    type=click.FloatRange(min=0.001),
    default=10.0,
    show_default=True,
    callback=finite,
    help="Bound on every single wait: connect, TLS, first byte, each body read.",
)
# Three flags, not one destination with flag values: with a shared destination the last
# flag given would silently win; apart, settings.http_of refuses two of them at once.
HTTP1 = click.option("--http1", "http1", is_flag=True, help="Offer only HTTP/1.1 in ALPN.")
HTTP2 = click.option(
    "--http2",
    "http2",
    is_flag=True,
    help="Require h2 on https://: fail (exit 3) when the server picks HTTP/1.1.",
)
H2C = click.option(
    "--h2c", "h2c", is_flag=True, help="HTTP/2 with prior knowledge on http:// (h2c)."
)
MAX_TOTAL_REQUESTS = click.option(
    "--max-total-requests",
    type=click.IntRange(min=1),
    default=10_000,
    show_default=True,
    help="Ceiling on the requests one run may send (raise it on purpose).",
)
CACERT = click.option(
    "--cacert",
    callback=readable_file,
    help="CA certificate (PEM) to trust for https:// targets.",
)
INSECURE = click.option(
    "-k", "--insecure", is_flag=True, help="Do not verify the server's certificate (curl's -k)."
)


def _expectations() -> list[Any]:
    return [
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
            callback=finite,
            help="Fail unless reused/requests is at least R.",
        ),
        click.option(
            "--max-connections",
            type=click.IntRange(min=1),
            help="Fail if more than N connections were opened.",
        ),
    ]


def _refused_by_demo(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    if value:
        name = param.opts[0] if param.opts else param.name
        raise click.UsageError(
            f"demo only reports (it probes its own server), so {name} does not apply; "
            f"give it to 'reusecheck probe URL'"
        )
    return None


def _not_for_demo() -> list[Any]:
    """demo expects nothing of its own server: the expectation options are refused with
    a line saying so (not offered in its help), rather than accepted and ignored."""
    return [
        click.option(name, dest, multiple=many, hidden=True, callback=_refused_by_demo)
        for name, dest, many in (
            ("--expect", "expect", True),
            ("--min-reuse-ratio", "min_reuse_ratio", False),
            ("--max-connections", "max_connections", False),
        )
    ]


def probe_options(f: Any) -> Any:
    """The options of ``probe``."""
    return _run_options(f, expectations=True)


def demo_options(f: Any) -> Any:
    """``probe``'s options without the expectations: demo only reports."""
    return _run_options(f, expectations=False)


def _run_options(f: Any, *, expectations: bool) -> Any:
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
            callback=finite,
            help="Idle gap in seconds before one more request (0 skips).",
        ),
        click.option(
            "--concurrency",
            type=click.IntRange(min=0),
            default=4,
            show_default=True,
            help="Requests at once in each of the two bursts (0 skips them).",
        ),
        click.option(
            "-X", "--method", default=None, help="Request method [default: GET; POST with a body]."
        ),
        HEADERS,
        JSON,
        EVENTS,
        *(_expectations() if expectations else _not_for_demo()),
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
            callback=finite,
            help="Client idle timeout in seconds (0 = none).",
        ),
        click.option(
            "--disable-keepalives",
            is_flag=True,
            help="Send Connection: close and never reuse (Go's DisableKeepAlives).",
        ),
        TIMEOUT,
        click.option(
            "--deadline",
            type=click.FloatRange(min=0.001),
            callback=finite,
            help="Bound on the whole run in seconds [default: 60 + idle gap].",
        ),
        click.option(
            "--connect-timeout",
            type=click.FloatRange(min=0.001),
            callback=finite,
            help="Bound on DNS and the TCP connect [default: --timeout].",
        ),
        click.option(
            "--tls-timeout",
            type=click.FloatRange(min=0.001),
            callback=finite,
            help="Bound on the TLS handshake [default: --timeout].",
        ),
        click.option(
            "--first-byte-timeout",
            type=click.FloatRange(min=0.001),
            callback=finite,
            help="Bound on the wait for the response's first byte [default: --timeout].",
        ),
        click.option(
            "--body-timeout",
            type=click.FloatRange(min=0.001),
            callback=finite,
            help="Bound on each wait between body reads [default: --timeout].",
        ),
        click.option(
            "--rate",
            type=click.FloatRange(min=0.001),
            callback=finite,
            help="At most this many requests per second over the run (bursts included).",
        ),
        click.option(
            "--max-drain",
            type=click.IntRange(min=0),
            default=100 * 1024 * 1024,
            show_default=True,
            help="Body bytes read per response before its connection is given up (0 = all).",
        ),
        MAX_TOTAL_REQUESTS,
        HTTP1,
        HTTP2,
        H2C,
        click.option(
            "--strict-max-streams",
            is_flag=True,
            help="At the server's stream limit, wait for a free stream instead of dialling "
            "another h2 connection (Go's StrictMaxConcurrentStreams).",
        ),
        CACERT,
        INSECURE,
        click.option(
            "--no-tls-resume",
            is_flag=True,
            help="Full TLS handshake on every new connection (no session resumption).",
        ),
    ]
    for o in reversed(opts):
        f = o(f)
    return f


SVG = click.option("--svg", is_flag=True, help="With --output-dir: the report as an SVG too.")


def output_options(f: Any) -> Any:
    """Files for other tools, shared by ``probe``, ``demo`` and ``run``."""
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
        SVG,
    ]
    for o in reversed(opts):
        f = o(f)
    return f


def discover_output_options(f: Any) -> Any:
    """discover's files for CI: JUnit (a test case per measurement) and an artifact
    directory (report.json, events.ndjson, report.svg)."""
    opts = [
        click.option(
            "--junit", metavar="FILE", help="Write JUnit XML: a test case per measurement."
        ),
        click.option(
            "--output-dir",
            metavar="DIR",
            help="Write report.json, events.ndjson (and report.svg) to DIR.",
        ),
        SVG,
    ]
    for o in reversed(opts):
        f = o(f)
    return f


def discover_options(f: Any) -> Any:
    """The options of ``reusecheck discover`` (the URL argument is the command's own)."""
    opts = [
        click.option(
            "--only",
            "only",
            multiple=True,
            metavar="LIST",
            help="Measurements to run, comma-separated: idle-timeout, max-requests, h2, tls "
            "[default: all].",
        ),
        click.option(
            "--samples",
            type=click.IntRange(min=1, max=64),
            default=5,
            show_default=True,
            help="Idle connections watched at once for the idle timeout.",
        ),
        click.option(
            "--max-wait",
            type=click.FloatRange(min=0.001),
            default=120.0,
            show_default=True,
            callback=finite,
            help="Longest wait in seconds for the server to close an idle connection.",
        ),
        click.option(
            "--max-requests",
            type=click.IntRange(min=1),
            default=1000,
            show_default=True,
            help="Most requests sent on one connection to find the server's limit.",
        ),
        click.option(
            "--rate",
            type=click.FloatRange(min=0.001),
            callback=finite,
            help="Requests per second on that connection [default: unlimited].",
        ),
        click.option(
            "--max-streams",
            type=click.IntRange(min=1, max=1000),
            default=256,
            show_default=True,
            help="Most HTTP/2 streams opened at once to test the announced limit.",
        ),
        HEADERS,
        JSON,
        EVENTS,
        HTTP1,
        HTTP2,
        H2C,
        TIMEOUT,
        click.option(
            "--deadline",
            type=click.FloatRange(min=0.001),
            callback=finite,
            help="Bound on the whole run in seconds [default: the longest wait + 60].",
        ),
        CACERT,
        INSECURE,
    ]
    for o in reversed(opts):
        f = o(f)
    return f


def watch_options(f: Any) -> Any:
    """``watch``'s own options; the cycle's are ``probe_options`` (durations are checked
    in ``commands.watch_settings``: '10s', '1m', '500ms', or seconds)."""
    opts = [
        click.option(
            "--every",
            default="10s",
            show_default=True,
            metavar="DURATION",
            help="Start a cycle this often: 10s, 1m, 500ms, or seconds.",
        ),
        click.option(
            "--duration", metavar="DURATION", help="Stop after this long [default: Ctrl-C]."
        ),
        click.option(
            "--scenario",
            metavar="FILE|builtin:NAME",
            help="The cycle: a scenario (as `run` takes it) instead of the probe's phases.",
        ),
        click.option(
            "-s", "--set", "sets", multiple=True, metavar="NAME=VALUE", help="As `run --set`."
        ),
        click.option(
            "--metrics",
            metavar="FILE",
            help="Rewrite FILE after every window: the counters, Prometheus text format.",
        ),
        click.option(
            "--junit", metavar="FILE", help="Write JUnit XML: a test case per expectation."
        ),
    ]
    for o in reversed(opts):
        f = o(f)
    return f
