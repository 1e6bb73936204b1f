"""``reusecheck observe``'s options: the listener, the end, the outputs, the built-in
answer's behaviour (as ``serve``'s) and the upstream's TLS verification."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from reusecheck.cli.options import finite, readable_file
from reusecheck.cli.server_options import server_behaviour_options

_OPTIONS: list[Callable[[Any], Any]] = [
    click.option(
        "--listen",
        default="127.0.0.1:8080",
        show_default=True,
        metavar="HOST:PORT",
        help="Where the client connects (port 0: pick a free one; the line on stderr names it).",
    ),
    click.option(
        "--upstream",
        metavar="URL",
        help="Forward every request to URL through reusecheck's pool (both legs recorded); "
        "without it, answer like 'reusecheck serve'.",
    ),
    click.option("--tls", is_flag=True, help="Listen for https (h2 and http/1.1 by ALPN)."),
    click.option(
        "--tls-cert", callback=readable_file, metavar="FILE", help="Certificate (PEM) for --tls."
    ),
    click.option(
        "--tls-key", callback=readable_file, metavar="FILE", help="Its private key (PEM)."
    ),
    click.option(
        "--ca-out",
        metavar="FILE",
        help="With --tls and no --tls-cert: write the CA of the certificate made at start here.",
    ),
    click.option(
        "--duration",
        type=click.FloatRange(min=0, min_open=True),
        callback=finite,
        help="Stop after this many seconds.",
    ),
    click.option(
        "--requests",
        type=click.IntRange(min=1),
        help="Stop once N responses ended, whole or cut short by the client (then wait up "
        "to 1 s for its closes).",
    ),
    click.option("--json", "as_json", is_flag=True, help="Write the JSON report to stdout."),
    click.option(
        "--events",
        "events_path",
        metavar="FILE|-",
        help="Write every event as NDJSON (- = stdout).",
    ),
    click.option(
        "--expect",
        type=click.Choice(("reuse", "none")),
        default="reuse",
        show_default=True,
        help="What must hold for exit 0; 'none' only reports.",
    ),
]
# After serve's behaviour options: the built-in answer's size, the upstream's trust.
_TAIL: list[Callable[[Any], Any]] = [
    click.option(
        "--body-size",
        type=click.IntRange(min=0, max=1 << 30),
        default=64 * 1024,
        show_default=True,
        help="Bytes in the built-in answer's body (per request: ?size=N).",
    ),
    click.option(
        "--cacert", callback=readable_file, metavar="FILE", help="CA to verify the upstream."
    ),
    click.option(
        "-k", "--insecure", is_flag=True, help="Do not verify the upstream's certificate."
    ),
]


def observe_options(f: Any) -> Any:
    """Every option of ``observe``, in the order ``--help`` lists them: its own, then
    the built-in server's behaviour (``serve``'s options, one declaration for both)."""
    for option in reversed(_TAIL):
        f = option(f)
    f = server_behaviour_options(f)
    for option in reversed(_OPTIONS):
        f = option(f)
    return f
