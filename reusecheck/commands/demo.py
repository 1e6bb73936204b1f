"""``reusecheck demo``: the built-in server and the probe on loopback, in one process."""

from __future__ import annotations

from dataclasses import replace
from typing import Final

from reusecheck.analysis import Expectation
from reusecheck.commands import interrupt
from reusecheck.commands.probe import run_one
from reusecheck.commands.settings import ProbeSettings

DEMO_INTRO: Final = (
    "Demo: the built-in server on {url} closes idle connections after {idle:g} s and "
    "ends each connection after {maxreq} requests; watch the findings name both."
)


def run_demo(settings: ProbeSettings) -> int:
    """Serve and probe on loopback; exit 0 unless it broke (it only reports)."""
    from reusecheck.server import ServerConfig, ServerThread

    config = ServerConfig(idle_timeout=0.5, max_requests=4, keepalive_hint=True)
    with interrupt.handled(), ServerThread(config) as srv:
        url = srv.url
        settings = replace(settings, url=url, expectations=(Expectation("none"),))
        intro = None if settings.as_json else DEMO_INTRO.format(url=url, idle=0.5, maxreq=4)
        return run_one(settings, settings.scenario(), describe=False, intro=intro)
