"""The request-sequence model: steps in order, each named (the phase in every output).

The probe is one plan built here; scripted scenarios (TOML) build the same objects, so
there is one way to run a sequence and one way to report it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from reusecheck.pool import PoolOptions

BODY_MODES = ("drain", "ignore", "close-early")
_PARTIAL = re.compile(r"^partial:(\d+)$")


def check_body_mode(mode: str) -> str:
    """``drain`` | ``ignore`` | ``close-early`` | ``partial:N``; raises ValueError otherwise."""
    if mode in BODY_MODES or _PARTIAL.match(mode):
        return mode
    raise ValueError(f"response_body {mode!r} is not one of drain, ignore, close-early, partial:N")


def partial_limit(mode: str) -> int | None:
    m = _PARTIAL.match(mode)
    return int(m.group(1)) if m else None


@dataclass(frozen=True, slots=True)
class RequestStep:
    """``count`` rounds one after another, each of ``concurrency`` requests at once."""

    name: str
    url: str
    method: str = "GET"
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes | None = None
    count: int = 1
    concurrency: int = 1
    response_body: str = "drain"


@dataclass(frozen=True, slots=True)
class SleepStep:
    name: str
    seconds: float


Step = RequestStep | SleepStep


@dataclass(frozen=True, slots=True)
class Plan:
    target: str
    steps: tuple[Step, ...]
    pool: PoolOptions = field(default_factory=PoolOptions)

    @property
    def total_requests(self) -> int:
        return sum(s.count * s.concurrency for s in self.steps if isinstance(s, RequestStep))


def probe_plan(
    url: str,
    *,
    requests: int = 5,
    idle: float = 1.0,
    concurrency: int = 4,
    method: str = "GET",
    headers: tuple[tuple[str, str], ...] = (),
    pool: PoolOptions | None = None,
) -> Plan:
    """sequential -> idle gap and one request -> two bursts.

    The second burst shows whether the first burst's connections were kept: with
    enough idle slots per host it reuses all of them; with Go's default of 2 it dials
    the rest again (pool churn).
    """

    def req(name: str, count: int = 1, conc: int = 1) -> RequestStep:
        return RequestStep(name, url, method, headers, None, count, conc)

    steps: list[Step] = []
    if requests > 0:
        steps.append(req("sequential", count=requests))
    if idle > 0:
        steps.append(SleepStep("idle", idle))
        steps.append(req("idle"))
    if concurrency > 0:
        steps.append(req("burst-1", conc=concurrency))
        steps.append(req("burst-2", conc=concurrency))
    return Plan(url, tuple(steps), pool or PoolOptions())
