"""``reusecheck serve``: run a target in the foreground until Ctrl-C or SIGTERM.

Signals set an event instead of raising KeyboardInterrupt inside the loop, so stopping
closes every connection the normal way and the user never sees a traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable

from reusecheck.server.config import ServerConfig
from reusecheck.server.target import TargetServer


def _say(line: str) -> None:
    print(line, flush=True)


def banner(server: TargetServer) -> list[str]:
    """What a person needs to start probing: the URL, the behaviour, and for TLS the CA."""
    lines = [
        f"reusecheck target listening on {server.url}",
        f"  behaviour: {server.config.describe()}",
    ]
    if server.ca_path is not None:
        lines += [
            f"  CA certificate: {server.ca_path} (deleted when the server stops)",
            f"  try: reusecheck probe {server.url} --cacert {server.ca_path}",
        ]
    else:
        lines.append(f"  try: reusecheck probe {server.url}")
    lines.append("  Ctrl-C to stop")
    return lines


def serve_forever(config: ServerConfig, log: Callable[[str], None] | None = None) -> None:
    """Serve until SIGINT or SIGTERM, then close every connection and return.

    ``log`` receives the banner and one line per connection opened and closed (stdout by
    default).  An OSError from binding (port in use, address not local) propagates, for
    the CLI to turn into its one-line message.
    """
    say = log if log is not None else _say
    # A Ctrl-C that lands before the handlers are installed (or where the platform has
    # none) arrives as KeyboardInterrupt; it still means "stop", quietly.
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(config, say))


async def _serve(config: ServerConfig, say: Callable[[str], None]) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        # Not the main thread, or no add_signal_handler (Windows): KeyboardInterrupt it is.
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)
    async with TargetServer(config, log=say) as server:
        for line in banner(server):
            say(line)
        await stop.wait()
        say("stopping")
