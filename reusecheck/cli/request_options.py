"""The request's own options, as click decorators: a client certificate (every command
that dials), a body and redirects (the commands that send the probe's requests).

curl's spellings, so a command line that works with curl works here: ``--cert``,
``--key``, ``-d/--data``, ``--data-binary``, ``--json-body`` (curl's ``--json``, a name
``--json`` already has here: the report), ``-L/--location``.  The values are checked in
``commands.settings`` (exit 2, one line, before anything is sent).
"""

from __future__ import annotations

from typing import Any

import click

from reusecheck.cli.options import readable_file


def client_cert_options(f: Any) -> Any:
    """``--cert`` and ``--key``: probe, demo, run, discover, watch."""
    opts = [
        click.option(
            "--cert",
            callback=readable_file,
            metavar="FILE",
            help="Client certificate (PEM) for servers that ask for one; with its key "
            "unless --key.",
        ),
        click.option(
            "--key",
            callback=readable_file,
            metavar="FILE",
            help="The client certificate's private key (PEM, unencrypted).",
        ),
    ]
    for o in reversed(opts):
        f = o(f)
    return f


def request_options(f: Any) -> Any:
    """The probe's request body and redirects: probe, demo, watch."""
    opts = [
        click.option(
            "-d",
            "--data",
            "data",
            multiple=True,
            metavar="STRING|@FILE",
            help="Request body, as curl -d: POST unless -X, a form Content-Type unless -H; "
            "@FILE without its newlines, @- stdin; repeated: joined with &.",
        ),
        click.option(
            "--data-binary",
            "data_binary",
            multiple=True,
            metavar="STRING|@FILE",
            help="Request body as it is: STRING, @FILE or @- (stdin); at most 16 MiB.",
        ),
        click.option(
            "--json-body",
            "json_body",
            multiple=True,
            metavar="STRING|@FILE",
            help="JSON request body, as curl --json: POST, Content-Type and Accept "
            "application/json.",
        ),
        click.option(
            "-L",
            "--location",
            "location",
            is_flag=True,
            help="Follow redirects as Go's http.Client does (at most 10); each hop is a "
            "request of its own.",
        ),
    ]
    for o in reversed(opts):
        f = o(f)
    return f
