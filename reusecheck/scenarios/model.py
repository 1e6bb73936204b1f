"""The request-sequence model: steps in order, each named (the phase in every output).

The probe is one plan built here; scripted scenarios (TOML, ``scenarios/loader.py``) and
the other built-ins (``scenarios/builtin.py``) build the same objects, so there is one
way to run a sequence and one way to report it.

A ``Scenario`` is a ``Plan`` plus what to say before it runs and what to check after:
the runner only ever sees the plan.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from reusecheck.pool import PoolOptions

if TYPE_CHECKING:
    from reusecheck.analysis import Analysis, Expectation, ExpectationResult


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
    # Follow 301/302/303/307/308 as Go's http.Client does (net/redirect.py): each hop
    # is a request of its own, linked to the one it follows (``redirected_from``).
    follow_redirects: bool = False


@dataclass(frozen=True, slots=True)
class SleepStep:
    name: str
    seconds: float
    # The client does not run while it sleeps (its event loop is blocked, as a client's
    # busy with CPU work is): it cannot see the server close an idle connection until
    # its next request is already written.  On a real network the same happens when the
    # server's FIN is still in flight as the request leaves; ``busy`` makes that
    # ordering certain, so the stale-connection race reproduces on loopback too.
    busy: bool = False


@dataclass(frozen=True, slots=True)
class PoolStep:
    """From here on, a fresh pool with ``options`` (a new ``http.Transport`` in Go terms).

    The old pool's connections are closed first; a response body it never read is
    reported then (``body-not-drained``).  Connection ids keep counting, so each part's
    connections stay apart in the report, and the phases say which part they served.
    """

    name: str
    options: PoolOptions


@dataclass(frozen=True, slots=True)
class MeasureIdleStep:
    """Waits until the server closes the idle connection the previous step left, at
    most ``limit`` seconds, then runs the steps ``then`` builds from the idle time
    measured (``None``: nothing was idle, or the server kept it past the limit).

    How a scenario paces requests around a server's keep-alive timeout it does not know
    beforehand: the idle timeout is measured first, in the same run.
    """

    name: str
    limit: float
    then: Callable[[float | None], tuple[Step, ...]]


Step = RequestStep | SleepStep | PoolStep | MeasureIdleStep


@dataclass(frozen=True, slots=True)
class Plan:
    target: str
    steps: tuple[Step, ...]
    pool: PoolOptions = field(default_factory=PoolOptions)

    @property
    def total_requests(self) -> int:
        """Requests of the fixed steps (steps a MeasureIdleStep builds are not known yet)."""
        return sum(s.count * s.concurrency for s in self.steps if isinstance(s, RequestStep))

    @property
    def wait_s(self) -> float:
        """Seconds the plan spends waiting on purpose (sleeps, measurement limits)."""
        return sum(
            s.seconds if isinstance(s, SleepStep) else s.limit
            for s in self.steps
            if isinstance(s, SleepStep | MeasureIdleStep)
        )


class Check(Protocol):
    """Something a scenario expects of its run, judged from the analysis afterwards."""

    def evaluate(self, analysis: Analysis) -> ExpectationResult: ...


@dataclass(frozen=True, slots=True)
class Scenario:
    """A plan with what to say before it runs and what must hold after it ran."""

    name: str  # "probe", "leaky-body", or the file's own name
    source: str  # "builtin:NAME" or the file's path
    plan: Plan
    intro: str | None = None  # one line for people, printed before the report
    # Judged by the analysis itself (the probe's --expect); scenario files use checks.
    expectations: tuple[Expectation, ...] = ()
    checks: tuple[Check, ...] = ()
    deadline: float | None = None  # bound on the whole run; None: 60 s + the plan's waits

    @property
    def run_deadline(self) -> float:
        return self.deadline if self.deadline is not None else 60.0 + self.plan.wait_s


def probe_plan(
    url: str,
    *,
    requests: int = 5,
    idle: float = 1.0,
    concurrency: int = 4,
    method: str = "GET",
    headers: tuple[tuple[str, str], ...] = (),
    pool: PoolOptions | None = None,
    body: bytes | None = None,
    follow_redirects: bool = False,
) -> Plan:
    """sequential -> idle gap and one request -> two bursts.

    The second burst shows whether the first burst's connections were kept: with
    enough idle slots per host it reuses all of them; with Go's default of 2 it dials
    the rest again (pool churn).
    """

    def req(name: str, count: int = 1, conc: int = 1) -> RequestStep:
        return RequestStep(
            name, url, method, headers, body, count, conc, follow_redirects=follow_redirects
        )

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
