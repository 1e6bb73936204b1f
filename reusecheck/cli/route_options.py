"""The options that say how targets are reached: proxies, pinned addresses, the
address family.  curl's spellings (``--proxy``, ``--noproxy``, ``--proxy-cacert``,
``--proxy-insecure``, ``--resolve``, ``--connect-to``, ``-4``, ``-6``); their values
are checked in ``commands.routing``.  Nothing here imports more than click."""

from __future__ import annotations

from typing import Any

import click

from reusecheck.cli.options import readable_file


def route_options(f: Any) -> Any:
    """``probe``, ``run``, ``discover``, ``watch`` and ``observe`` (its upstream): how
    their targets are reached."""
    opts = [
        click.option(
            "--proxy",
            metavar="URL",
            help="Proxy for every target: http[s]://[user:password@]host[:port]; '' for none. "
            "Without it: HTTPS_PROXY, HTTP_PROXY, ALL_PROXY (never for localhost).",
        ),
        click.option(
            "--noproxy",
            metavar="LIST",
            help="Hosts that go direct (replaces NO_PROXY): names, .domains, IPs, CIDRs, "
            "host:port; '*' for all.",
        ),
        click.option(
            "--proxy-cacert",
            callback=readable_file,
            metavar="FILE",
            help="CA certificate (PEM) to trust for an https:// proxy.",
        ),
        click.option(
            "--proxy-insecure",
            is_flag=True,
            help="Do not verify an https:// proxy's certificate.",
        ),
        click.option(
            "--resolve",
            multiple=True,
            metavar="HOST:PORT:ADDR[,ADDR]",
            help="Dial these addresses for HOST:PORT instead of resolving it (repeatable).",
        ),
        click.option(
            "--connect-to",
            "connect_to",
            multiple=True,
            metavar="HOST:PORT:HOST2:PORT2",
            help="Connect to HOST2:PORT2 for requests to HOST:PORT; TLS and Host stay the "
            "URL's (repeatable; empty fields: any, or the same).",
        ),
        click.option("-4", "--ipv4", "ipv4", is_flag=True, help="Dial IPv4 addresses only."),
        click.option("-6", "--ipv6", "ipv6", is_flag=True, help="Dial IPv6 addresses only."),
    ]
    for o in reversed(opts):
        f = o(f)
    return f
