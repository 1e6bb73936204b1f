"""``reusecheck run SCENARIO [URL]``: a scenario file or a built-in, run and reported like
the probe, with its intro first; ``run --list``: the built-ins."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

from reusecheck.commands import exits
from reusecheck.commands.probe import run_one
from reusecheck.commands.routing import scenario_for
from reusecheck.commands.settings import (
    DEFAULT_CEILING,
    DEFAULT_TIMEOUT,
    ProbeSettings,
    check_outputs,
    check_url,
    outputs_of,
    parse_sets,
    tls_of,
)
from reusecheck.net.dial import Timeouts
from reusecheck.pool import PoolOptions


def builtin_listing() -> str:
    """What ``reusecheck run --list`` prints: each built-in, its line, its parameters."""
    from reusecheck.scenarios import BUILTINS

    lines = ["Built-in scenarios: reusecheck run builtin:NAME URL [--set PARAM=VALUE ...]"]
    width = max(len(name) for name in BUILTINS) + 2
    for b in BUILTINS.values():
        lines.append(f"  {b.name:<{width}}{b.summary}")
        for p in b.params:
            setting = f"{p.name}={'...' if p.default is None else format(p.default, 'g')}"
            lines.append(f"  {'':<{width}}  --set {setting:<26}{p.help}")
    return "\n".join(lines)


def run_scenario(spec: str, url: str | None, o: Mapping[str, Any]) -> int:
    """Resolve the scenario (exit 2 with one line naming the file, step and key when it
    is wrong), run it, report it."""
    from reusecheck.scenarios import ScenarioError

    if url is not None:
        check_url(url)
    check_outputs(o)
    t = DEFAULT_TIMEOUT
    base = PoolOptions(
        timeouts=Timeouts(connect=t, tls=t, first_byte=t, body=t),
        tls=tls_of(o),
    )
    try:
        scenario = scenario_for(spec, url, parse_sets(o["sets"]), o, base)
    except ScenarioError as exc:
        sys.stderr.write(f"reusecheck: {exc}\n")
        return exits.EXIT_USAGE
    settings = ProbeSettings(
        url=scenario.plan.target,
        plan_args={},
        pool=scenario.plan.pool,
        expectations=scenario.expectations,
        as_json=o["as_json"],
        events_path=o["events_path"],
        deadline=o["deadline"] if o["deadline"] is not None else scenario.run_deadline,
        outputs=outputs_of(o),
        max_total_requests=o.get("max_total_requests") or DEFAULT_CEILING,
    )
    intro = None if settings.as_json else scenario.intro
    return run_one(settings, scenario, describe=True, intro=intro)
