"""Scenarios: scripted request sequences from TOML files, and the built-in ones.

``resolve`` turns what the user gave to ``reusecheck run`` (a file, or ``builtin:NAME``)
into a ``Scenario``; ``apply_checks`` judges its ``expect`` blocks after the run.  The
model itself (Plan, steps, Scenario) is ``reusecheck.scenarios.model``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from reusecheck.pool import PoolOptions
from reusecheck.scenarios.builtin import BUILTINS, Builtin, builtin_scenario, probe_scenario
from reusecheck.scenarios.checks import StepExpect, apply_checks
from reusecheck.scenarios.fields import ScenarioError
from reusecheck.scenarios.loader import from_document, load_file
from reusecheck.scenarios.model import PoolStep, Scenario

__all__ = [
    "BUILTINS",
    "Builtin",
    "ScenarioError",
    "StepExpect",
    "apply_checks",
    "builtin_scenario",
    "from_document",
    "load_file",
    "probe_scenario",
    "resolve",
]

BUILTIN_PREFIX = "builtin:"


def resolve(
    spec: str,
    url: str | None,
    settings: Mapping[str, str],
    pool: PoolOptions,
    *,
    cacert: str | None = None,
    insecure: bool = False,
    cert: str | None = None,
    key: str | None = None,
) -> Scenario:
    """``builtin:NAME`` (``settings`` are its parameters) or a scenario file
    (``settings`` define ``${NAME}``).  ``pool`` is the built-ins' base pool; a file
    brings its own, and ``cacert`` / ``insecure`` / ``cert`` (with ``key``) from the
    command line win over it."""
    if spec.startswith(BUILTIN_PREFIX):
        name = spec[len(BUILTIN_PREFIX) :]
        if url is None:
            raise ScenarioError(f"{spec}: needs the target URL: reusecheck run {spec} URL")
        return builtin_scenario(name, url, settings, pool)
    scenario = load_file(spec, url, settings)
    if cacert is None and not insecure and cert is None:
        return scenario
    return _with_tls(scenario, cacert, insecure, cert, key)


def _with_tls(
    scenario: Scenario,
    cacert: str | None,
    insecure: bool,
    cert: str | None = None,
    key: str | None = None,
) -> Scenario:
    def fix(o: PoolOptions) -> PoolOptions:
        tls = replace(o.tls, cacert=cacert or o.tls.cacert, insecure=insecure or o.tls.insecure)
        if cert is not None:  # the command line's certificate, with its own key
            tls = replace(tls, cert=cert, key=key)
        return replace(o, tls=tls)

    plan = scenario.plan
    steps = tuple(
        replace(s, options=fix(s.options)) if isinstance(s, PoolStep) else s for s in plan.steps
    )
    return replace(scenario, plan=replace(plan, steps=steps, pool=fix(plan.pool)))
