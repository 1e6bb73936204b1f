"""The built-in scenarios: the probe, and the classic reuse mistakes reproduced.

Each is a function of the target URL, its parameters (``--set NAME=VALUE``) and the
pool the command line set up (timeouts, TLS), returning the same ``Scenario`` a file
would load to.  The side-by-side ones start a fresh pool half-way (``PoolStep``): the
mistake first, then the fix, with the phases telling the two parts apart.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Final
from urllib.parse import urlsplit, urlunsplit

from reusecheck.analysis import Analysis, Expectation, ExpectationResult
from reusecheck.net.request import URLError, parse_url
from reusecheck.pool import PoolOptions
from reusecheck.scenarios.checks import StepExpect
from reusecheck.scenarios.fields import ScenarioError, shown
from reusecheck.scenarios.model import (
    MeasureIdleStep,
    Plan,
    PoolStep,
    RequestStep,
    Scenario,
    SleepStep,
    Step,
    probe_plan,
)

ParamValue = int | float | str | None


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    kind: type[int] | type[float] | type[str]
    default: ParamValue
    help: str
    least: float = 0.0  # numbers only


@dataclass(frozen=True, slots=True)
class Builtin:
    name: str
    summary: str  # one line for --list
    params: tuple[Param, ...]
    build: Callable[[str, Mapping[str, ParamValue], PoolOptions], Scenario]


def _step(name: str, phases: tuple[str, ...] | str, key: str, value: bool | int) -> StepExpect:
    wanted = (phases,) if isinstance(phases, str) else phases
    return StepExpect(key, value, wanted, f'step "{wanted[0]}"')


# --- probe ---------------------------------------------------------------------------------

PROBE_INTRO: Final = (
    "probe: {requests} sequential requests, {idle:g} s idle and one more, then two bursts "
    "of {concurrency}: does {url} keep connections open and reuse them?"
)


def probe_scenario(
    url: str,
    *,
    requests: int = 5,
    idle: float = 1.0,
    concurrency: int = 4,
    method: str = "GET",
    headers: tuple[tuple[str, str], ...] = (),
    pool: PoolOptions | None = None,
    expectations: tuple[Expectation, ...] = (Expectation("reuse"),),
    body: bytes | None = None,
    follow_redirects: bool = False,
) -> Scenario:
    """The probe (``reusecheck probe`` runs exactly this)."""
    plan = probe_plan(
        url,
        requests=requests,
        idle=idle,
        concurrency=concurrency,
        method=method,
        headers=headers,
        pool=pool,
        body=body,
        follow_redirects=follow_redirects,
    )
    intro = PROBE_INTRO.format(requests=requests, idle=idle, concurrency=concurrency, url=url)
    return Scenario("probe", "builtin:probe", plan, intro, expectations)


def _probe(url: str, p: Mapping[str, ParamValue], pool: PoolOptions) -> Scenario:
    return probe_scenario(
        url,
        requests=int(p["requests"] or 0),
        idle=float(p["idle"] or 0.0),
        concurrency=int(p["concurrency"] or 0),
        pool=pool,
    )


# --- leaky-body ----------------------------------------------------------------------------


def _leaky_body(url: str, p: Mapping[str, ParamValue], pool: PoolOptions) -> Scenario:
    n = int(p["requests"] or 2)
    # HTTP/1.1's mistake: on h2 an unread body holds a stream, not the connection.
    pool = replace(pool, http="1.1")
    steps: tuple[Step, ...] = (
        RequestStep("leaky", url, count=n, response_body="ignore"),
        PoolStep("drained", pool),
        RequestStep("drained", url, count=n),
    )
    intro = (
        f"leaky-body: {n} responses are never read or closed, so each pins its connection "
        f"and the next request dials (body-not-drained); then {n} read to the end share one."
    )
    checks = (
        _step("leaky", "leaky", "new_connections", n),
        _step("drained", "drained", "new_connections", 1),
    )
    return Scenario("leaky-body", "builtin:leaky-body", Plan(url, steps, pool), intro, (), checks)


# --- go-default-pool -----------------------------------------------------------------------

GO_IDLE_PER_HOST: Final = 2  # Go's DefaultMaxIdleConnsPerHost


def _go_default_pool(url: str, p: Mapping[str, ParamValue], pool: PoolOptions) -> Scenario:
    c = int(p["concurrency"] or 10)
    rounds = int(p["rounds"] or 3)
    fixed = f"idle-{c}"
    # HTTP/1.1: over h2, Go's pool multiplexes the burst on one connection, nothing churns.
    go = replace(
        pool, max_idle=100, max_idle_per_host=GO_IDLE_PER_HOST, idle_timeout=90.0, http="1.1"
    )
    steps: tuple[Step, ...] = (
        RequestStep("go-default", url, count=rounds, concurrency=c),
        PoolStep(fixed, replace(go, max_idle_per_host=c)),
        RequestStep(fixed, url, count=rounds, concurrency=c),
    )
    intro = (
        f"go-default-pool: {rounds} bursts of {c} through Go's DefaultTransport limits "
        f"(2 idle per host): {c - GO_IDLE_PER_HOST} connections closed and dialled again after "
        f"every burst (pool-churn); then with max_idle_per_host = {c}."
    )
    checks = (_step(fixed, fixed, "max_connections", c),)
    plan = Plan(url, steps, go)
    return Scenario("go-default-pool", "builtin:go-default-pool", plan, intro, (), checks)


# --- idle-race -----------------------------------------------------------------------------

_QUICK_CLOSE: Final = 0.1  # the analysis' "closed right after the response" threshold


def race_margin(server_idle: float) -> float:
    """How far before the server's timeout the client stops watching its sockets, and
    how far after it the request goes out: wide enough for timer jitter on a loaded
    machine, never more than half the timeout."""
    return min(max(0.1, 0.2 * server_idle), 1.0, 0.5 * server_idle)


def race_steps(url: str, server_idle: float, pool: PoolOptions) -> tuple[Step, ...]:
    """Reuse a connection just after the server's idle timeout closed it, with a client
    idle timeout longer than the server's (the mistake), then shorter (the fix).

    The client sleeps until ``margin`` before the timeout, then is busy (its loop
    blocked) until ``margin`` after: the server's FIN arrives while nobody looks, as it
    does on a real network when it is still in flight as the request leaves.
    """
    m = race_margin(server_idle)
    wait = (
        SleepStep("race", server_idle - m),
        SleepStep("race", 2 * m, busy=True),
    )
    late = replace(pool, idle_timeout=max(90.0, 2 * server_idle))
    fixed = replace(pool, idle_timeout=round(server_idle / 2, 3))
    return (
        PoolStep("race-warm", late),
        RequestStep("race-warm", url),
        *wait,
        RequestStep("race", url),
        PoolStep("fix-warm", fixed),
        RequestStep("fix-warm", url),
        *(replace(s, name="fixed") for s in wait),
        RequestStep("fixed", url),
    )


@dataclass(frozen=True, slots=True)
class MeasuredIdle:
    """The measurement the race depends on: the server closed the 'measure' request's
    connection after it sat idle (read from the analysis, like any other fact)."""

    limit: float

    def evaluate(self, analysis: Analysis) -> ExpectationResult:
        first = next((r for r in analysis.requests if r.phase == "measure"), None)
        conn = next(
            (c for c in analysis.connections if first and c.id == first.conn_id),
            None,
        )
        idle = conn.idle_time_at_close_s if conn is not None else None
        if idle is None:
            return ExpectationResult(
                "server-idle-timeout",
                False,
                f"the server kept the idle connection open for {self.limit:g} s: nothing to "
                "race (raise --set max_wait=S, or give --set server_idle_timeout=S)",
            )
        if idle < _QUICK_CLOSE:
            return ExpectationResult(
                "server-idle-timeout",
                False,
                f"the server closed the connection {idle:.3f} s after the response: "
                "keep-alive is off, there is no idle connection to race",
            )
        return ExpectationResult(
            "server-idle-timeout", True, f"the server closed an idle connection after {idle:.2f} s"
        )


def _idle_race(url: str, p: Mapping[str, ParamValue], pool: PoolOptions) -> Scenario:
    # The race is HTTP/1.1's: on h2 the server says GOAWAY and nothing is stale.
    h1 = replace(pool, http="1.1", idle_timeout=None)
    given = p["server_idle_timeout"]
    limit = float(p["max_wait"] or 120.0)
    checks: list[StepExpect | MeasuredIdle] = [
        _step("race", "race", "retried", True),
        _step("fixed", "fixed", "retried", False),
    ]
    if given is not None:
        t = float(given)
        steps: tuple[Step, ...] = race_steps(url, t, h1)
        how = f"{t:g} s (given)"
        deadline = 60.0 + 3 * t
    else:

        def then(measured: float | None) -> tuple[Step, ...]:
            if measured is None or measured < _QUICK_CLOSE:
                return ()
            return race_steps(url, measured, h1)

        steps = (RequestStep("measure", url), MeasureIdleStep("measure", limit, then))
        checks.insert(0, MeasuredIdle(limit))
        how = "T (measured first)"
        deadline = 60.0 + 4 * limit
    intro = (
        f"idle-race: the server closes idle connections after {how}; a client keeping them "
        "longer reuses one just as the server closes it and retries (stale-conn-retry); "
        "with a client idle timeout of T/2 it dials a new one instead."
    )
    plan = Plan(url, steps, h1)
    return Scenario("idle-race", "builtin:idle-race", plan, intro, (), tuple(checks), deadline)


# --- cross-host ----------------------------------------------------------------------------

_LOOPBACK_NAMES: Final = {"127.0.0.1": "localhost", "localhost": "127.0.0.1"}
_DEFAULT_PORT: Final = {"http": 80, "https": 443}


def other_origin(url: str) -> str:
    """The same path on another origin: a loopback address under its other name (the
    same server, another pool key), else the other scheme on its default port."""
    key, _, _ = parse_url(url)
    parts = urlsplit(url)
    if key.host in _LOOPBACK_NAMES:
        netloc = f"{_LOOPBACK_NAMES[key.host]}:{key.port}"
        return urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))
    if key.port != _DEFAULT_PORT[key.scheme]:
        raise ValueError(f"no other origin to guess for port {key.port}: give --set other=URL")
    scheme = "http" if key.scheme == "https" else "https"
    host = f"[{key.host}]" if ":" in key.host else key.host
    return urlunsplit((scheme, host, parts.path, parts.query, ""))


def _cross_host(url: str, p: Mapping[str, ParamValue], pool: PoolOptions) -> Scenario:
    other = str(p["other"]) if p["other"] is not None else other_origin(url)
    a, b = parse_url(url)[0], parse_url(other)[0]
    if a == b:
        raise ValueError(f"other={shown(other, 80)} is the same origin as the URL ({a})")
    steps: tuple[Step, ...] = (
        RequestStep("origin-a", url, count=3),
        RequestStep("origin-b", other, count=3),
        RequestStep("a-again", url, count=2),
    )
    intro = (
        f"cross-host: the same path on {a} and {b}; a connection is reused only for its own "
        "scheme, host and port, so the second origin dials its own while the first one's "
        "waits idle for its next request."
    )
    checks = (
        _step("origin-a", "origin-a", "new_connections", 1),
        _step("origin-b", "origin-b", "new_connections", 1),
        _step("a-again", "a-again", "reused", True),
    )
    return Scenario("cross-host", "builtin:cross-host", Plan(url, steps, pool), intro, (), checks)


BUILTINS: Final = {
    b.name: b
    for b in (
        Builtin(
            "probe",
            "sequential requests, an idle gap, two bursts: the default probe",
            (
                Param("requests", int, 5, "sequential requests"),
                Param("idle", float, 1.0, "idle gap in seconds before one more request"),
                Param("concurrency", int, 4, "requests at once in each burst"),
            ),
            _probe,
        ),
        Builtin(
            "leaky-body",
            "responses never read, then read: body-not-drained side by side with reuse",
            (Param("requests", int, 5, "requests in each part", least=2),),
            _leaky_body,
        ),
        Builtin(
            "go-default-pool",
            "bursts through Go's 2 idle connections per host, then 10: pool-churn",
            (
                Param("concurrency", int, 10, "requests in each burst", least=3),
                Param("rounds", int, 3, "bursts in each part", least=2),
            ),
            _go_default_pool,
        ),
        Builtin(
            "idle-race",
            "reuse just as the server's idle timeout closes the connection: stale-conn-retry",
            (
                Param("server_idle_timeout", float, None, "skip measuring: the server's T in s"),
                Param("max_wait", float, 120.0, "longest wait for the server to close", 0.1),
            ),
            _idle_race,
        ),
        Builtin(
            "cross-host",
            "the same path on two origins: reuse only within scheme, host and port",
            (Param("other", str, None, "the second origin's URL [default: guessed]"),),
            _cross_host,
        ),
    )
}


def _parse(b: Builtin, raw: Mapping[str, str]) -> dict[str, ParamValue]:
    where = f"builtin:{b.name}"
    by_name = {p.name: p for p in b.params}
    values: dict[str, ParamValue] = {p.name: p.default for p in b.params}
    for name, text in raw.items():
        param = by_name.get(name)
        if param is None:
            known = ", ".join(by_name) or "none"
            raise ScenarioError(f"{where}: {shown(name)}: unknown parameter; known: {known}")
        if param.kind is str:
            values[name] = text
            continue
        try:
            number: float = int(text) if param.kind is int else float(text)
        except ValueError:
            raise ScenarioError(
                f"{where}: {name}: must be {'an integer' if param.kind is int else 'a number'}, "
                f"not {shown(text)!r}"
            ) from None
        if not number >= param.least or number > 1e6:  # also refuses NaN
            raise ScenarioError(
                f"{where}: {name}: must be {param.least:g} to 1e6, not {shown(text)}"
            )
        values[name] = number
    return values


def builtin_scenario(name: str, url: str, params: Mapping[str, str], pool: PoolOptions) -> Scenario:
    """``builtin:NAME`` for ``url``; ScenarioError (one line) for an unknown name or a
    parameter it does not take or cannot read."""
    b = BUILTINS.get(name)
    if b is None:
        raise ScenarioError(
            f"builtin:{shown(name)}: no such built-in scenario; known: {', '.join(BUILTINS)}"
        )
    values = _parse(b, params)
    try:
        return b.build(url, values, pool)
    except (ValueError, URLError) as exc:
        raise ScenarioError(f"builtin:{name}: {exc}") from None
