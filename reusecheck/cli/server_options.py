"""The built-in server's behaviour options, declared once for ``serve`` and ``observe``."""

from __future__ import annotations

from typing import Any

import click

from reusecheck.cli.options import finite


def server_behaviour_options(f: Any) -> Any:
    """``serve`` and ``observe`` (its built-in answer and what it holds the client to):
    the keep-alive behaviour a test needs from a server."""
    opts = [
        click.option(
            "--idle-timeout",
            type=click.FloatRange(min=0),
            callback=finite,
            help="Close keep-alive connections idle for this many seconds.",
        ),
        click.option(
            "--max-requests",
            type=click.IntRange(min=1),
            help="Answer the Nth request on a connection with Connection: close.",
        ),
        click.option("--close-always", is_flag=True, help="Connection: close on every response."),
        click.option(
            "--keepalive-hint",
            is_flag=True,
            help="Send Keep-Alive: timeout=…, max=… with the configured limits.",
        ),
        click.option(
            "--max-streams",
            type=click.IntRange(min=1),
            help="SETTINGS_MAX_CONCURRENT_STREAMS for h2 [default: 100].",
        ),
    ]
    for option in reversed(opts):
        f = option(f)
    return f
