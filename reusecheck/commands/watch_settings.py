"""``watch``'s command line checked into what its run needs (bad input: ``BadInput``,
exit 2, before anything is sent).

The cycle is the probe's phases, built from probe's own options by probe's own
settings, or a scenario (``--scenario FILE|builtin:NAME``) resolved as ``run`` resolves
it; ``--every`` and ``--duration`` are durations as people write them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Final

from reusecheck.analysis import Expectation
from reusecheck.commands.exits import BadInput
from reusecheck.commands.routing import scenario_for
from reusecheck.commands.settings import (
    DEFAULT_CEILING,
    ProbeSettings,
    check_output_file,
    check_outputs,
    check_url,
    outputs_of,
    parse_sets,
    probe_settings,
    tls_of,
)
from reusecheck.net.dial import Timeouts
from reusecheck.pool import PoolOptions
from reusecheck.scenarios.model import Scenario
from reusecheck.scenarios.runner import RunLimits

_UNITS: Final = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_PART: Final = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ms|s|m|h)")


def parse_duration(text: str) -> float:
    """'10s', '1m', '500ms', '1h', '1m30s' (as Go's time.ParseDuration reads them), or
    plain seconds ('2.5'); in seconds, more than 0.  ValueError otherwise."""
    t = text.strip().lower()
    try:
        seconds = float(t)
    except ValueError:
        parts = list(_PART.finditer(t))
        if not parts or "".join(p.group(0) for p in parts) != t:
            raise ValueError(
                f"{text!r} is not a duration: give seconds or a number with a unit, "
                "e.g. 10s, 1m, 500ms, 1h, 1m30s"
            ) from None
        seconds = sum(float(p.group(1)) * _UNITS[p.group(2)] for p in parts)
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"{text!r} is not a duration of more than 0 seconds")
    return seconds


def duration_of(value: str | None, option: str) -> float | None:
    if value is None:
        return None
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise BadInput(str(exc), f"'{option}'") from None


@dataclass(frozen=True)
class WatchSettings:
    """The run: the cycle (``scenario``), how often, how long, and where it goes."""

    probe: ProbeSettings  # the pool, limits, expectations, --json, --events, --deadline
    scenario: Scenario  # one cycle
    every: float
    duration: float | None  # None: until Ctrl-C or SIGTERM
    metrics_path: str | None = None
    describe: bool = False  # a scenario was given: name it in the report's options

    @property
    def options(self) -> dict[str, Any]:
        """The whole-run report's ``options``: the pool's, the scenario, the watch."""
        options: dict[str, Any] = self.scenario.plan.pool.to_record()
        if self.describe:
            options["scenario"] = {"name": self.scenario.name, "source": self.scenario.source}
        options["watch"] = {"every_s": self.every, "duration_s": self.duration}
        return options


def _expectations(o: Mapping[str, Any]) -> tuple[Expectation, ...]:
    """The expectations given on the command line (none: the scenario's own)."""
    found = [Expectation(name) for name in o.get("expect") or ()]
    if o.get("min_reuse_ratio") is not None:
        found.append(Expectation("min-reuse-ratio", o["min_reuse_ratio"]))
    if o.get("max_connections") is not None:
        found.append(Expectation("max-connections", o["max_connections"]))
    return tuple(found)


def _scenario(spec: str, url: str | None, o: Mapping[str, Any]) -> tuple[ProbeSettings, Scenario]:
    """The cycle from a scenario: its plan, with the command line's pool as the
    built-ins' base (a file brings its own; --cacert and --insecure win over it)."""
    from reusecheck.scenarios import ScenarioError

    if url is not None:
        base = probe_settings(url, o).pool
    else:
        check_outputs(o)
        t = o["timeout"]
        base = PoolOptions(
            timeouts=Timeouts(connect=t, tls=t, first_byte=t, body=t),
            tls=tls_of(o),
        )
    try:
        scenario = scenario_for(spec, url, parse_sets(o["sets"]), o, base)
    except ScenarioError as exc:
        raise BadInput(str(exc), "'--scenario'") from None
    expectations = _expectations(o) or scenario.expectations
    scenario = replace(scenario, expectations=expectations)
    settings = ProbeSettings(
        url=scenario.plan.target,
        plan_args={},
        pool=scenario.plan.pool,
        expectations=expectations,
        as_json=o["as_json"],
        events_path=o["events_path"],
        deadline=o["deadline"] if o["deadline"] is not None else scenario.run_deadline,
        outputs=outputs_of(o),
        limits=RunLimits(rate=o.get("rate"), max_drain=o.get("max_drain") or None),
        max_total_requests=o.get("max_total_requests") or DEFAULT_CEILING,
    )
    return settings, scenario


def watch_settings(url: str | None, o: Mapping[str, Any]) -> WatchSettings:
    """``watch``: the options ``cli.options.watch_options`` and ``probe_options`` declare."""
    every = duration_of(o.get("every"), "--every")
    duration = duration_of(o.get("duration"), "--duration")
    assert every is not None  # click gives the default
    spec = o.get("scenario")
    if spec is None:
        if url is None:
            raise BadInput("give the URL to watch (or --scenario FILE with the URL in it)")
        probe = probe_settings(url, o)
        scenario = probe.scenario()
    else:
        if url is not None:
            check_url(url)
        probe, scenario = _scenario(spec, url, o)
    metrics = o.get("metrics")
    if metrics:
        check_output_file(metrics, "--metrics")
    return WatchSettings(
        probe=probe,
        scenario=scenario,
        every=every,
        duration=duration,
        metrics_path=metrics,
        describe=spec is not None,
    )
