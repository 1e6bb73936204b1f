"""The connection budget under random runs: whatever the requests, the server and the
client's pool do, the report's budget adds up and explains itself.

Hypothesis draws a scenario (request steps and sleeps, a client pool, optionally a
check) and a behaviour of the built-in server (keep-alive, an idle timeout, a limit of
requests per connection, ``Connection: close`` always, HTTP/1.0); the real
``reusecheck run FILE URL --json`` runs it over loopback sockets, and the JSON report
must hold that:

1. ``connections_opened`` = ``budget.needed`` + the sum of ``budget.avoidable``;
2. every opened connection has a ``dial_reason``, and the avoidable ones, counted per
   reason, are ``budget.avoidable`` (one cause each);
3. every cause is named by a finding that may name it;
4. a cause on the client's side never brings a finding that blames the server for what
   the server did not do (``no-keepalive`` without a server that closes after each
   response, ``server-idle-timeout`` without a server idle timeout, ...);
5. ``verdict.reuse`` is ``yes`` exactly when nothing was avoidable;
6. every FAIL carries a finding;
7. the reuse line counts the requests, the connections, the needed ones and each cause
   group, and its numbers add up to ``connections_opened``.

Every report is also validated against the schema (``tests/schema_check.check_report``).
"""

from __future__ import annotations

import json
import re
import tempfile
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Final

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from reusecheck.cli import main
from reusecheck.server import ServerConfig, ServerThread
from reusecheck.trace.vocab import DIAL_REASONS, NEEDED_DIALS
from tests.budget_check import NAMED_BY
from tests.schema_check import check_report

Json = dict[str, Any]

# --- which findings may name each cause (read off the detectors) ---------------------------

# Which findings may name each cause: the suite's one mapping (tests/budget_check.py).
CLIENT_CAUSES: Final = frozenset(
    {"client-idle-timeout", "client-pool-full", "keepalives-disabled", "body-not-drained"}
)
# Findings that say the server ended connections, and what the server must be doing for
# each to be true.  These runs are HTTP/1.1 over plain TCP: no GOAWAY, no stray bytes.
SERVER_BLAME: Final = (
    "no-keepalive",
    "server-idle-timeout",
    "max-requests-per-conn",
    "http10-server",
    "h2-goaway",
    "unsolicited-response",
)


def server_may_cause(code: str, server: ServerConfig) -> bool:
    """Whether ``server`` can do what the finding ``code`` blames it for."""
    if code == "no-keepalive":
        return server.close_always or server.max_requests == 1
    if code == "server-idle-timeout":
        return server.idle_timeout is not None
    if code == "max-requests-per-conn":
        return server.max_requests is not None and server.max_requests >= 2
    if code == "http10-server":
        return server.http10
    return False  # h2-goaway, unsolicited-response: not with these servers


def server_keeps_alive(server: ServerConfig) -> bool:
    return not (server.close_always or server.http10 or server.max_requests == 1)


# How each cause reads in the reuse line ("+ 2 because ..."), from analysis/budget.py.
def phrase_cause(text: str) -> str | None:
    """The cause a '... because TEXT' phrase of the reuse line names."""
    if text.endswith("retried") or text.startswith(
        ("the server ended", "the server refused a stream")
    ):
        return "retry"
    if text.startswith(("the server closed", "the server sent a response nobody asked for")):
        return "server-closed"
    if text.startswith("the client's idle timeout closed"):
        return "client-idle-timeout"
    if text.startswith("the pause outlasted the server's idle timeout"):
        return "server-idle-limit"
    if text.startswith("the client's idle pool was full"):
        return "client-pool-full"
    if text.startswith("the client disabled keep-alive"):
        return "keepalives-disabled"
    if text.startswith("an unread response body pinned") or text.endswith(
        "with a response body unread"
    ):
        return "body-not-drained"
    if text.endswith(" failed"):
        return "connection-error"
    return None


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


# --- the runs ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Requests:
    count: int
    concurrency: int
    path: str
    response_body: str


@dataclass(frozen=True)
class Sleep:
    seconds: float


Step = Requests | Sleep


@dataclass(frozen=True)
class Case:
    server: ServerConfig
    pool: dict[str, Any]
    steps: tuple[Step, ...]
    expect: dict[str, Any] | None = None

    def __repr__(self) -> str:  # what hypothesis prints for a failing example
        server = ", ".join(f"{k}={v!r}" for k, v in changed(self.server).items())
        return (
            f"Case(server=ServerConfig({server}), pool={self.pool!r}, steps={self.steps!r}, "
            f"expect={self.expect!r})"
        )


def changed(config: ServerConfig) -> dict[str, Any]:
    """The server's knobs this case turned (the rest are ServerConfig's defaults)."""
    default = ServerConfig()
    return {
        f.name: getattr(config, f.name)
        for f in fields(config)
        if getattr(config, f.name) != getattr(default, f.name)
    }


def toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{k} = {toml_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(type(v))


def scenario_toml(case: Case) -> str:
    lines = ['name = "budget-invariant"']
    if case.pool:
        lines.append("[pool]")
        lines.extend(f"{k} = {toml_value(v)}" for k, v in case.pool.items())
    for i, s in enumerate(case.steps):
        lines += ["", "[[step]]", f'name = "s{i}"']
        if isinstance(s, Sleep):
            lines.append(f"sleep = {s.seconds!r}")
        else:
            lines += [
                f"path = {toml_value(s.path)}",
                f"count = {s.count}",
                f"concurrency = {s.concurrency}",
                f"response_body = {toml_value(s.response_body)}",
            ]
    if case.expect is not None:
        lines += ["", "[[step]]", 'name = "check"', f"expect = {toml_value(case.expect)}"]
    return "\n".join(lines) + "\n"


# The client's idle timeouts; the server's stay above the analysis's threshold for "closed
# right after the response" (CLOSE_AFTER_RESPONSE_S, 0.1 s), which the client, measuring
# from a little after the server's last write, could see an idle close of 0.1 s fall under.
CLIENT_IDLE_TIMEOUTS: Final = (0.1, 0.15, 0.2, 0.3)
SERVER_IDLE_TIMEOUTS: Final = (0.15, 0.2, 0.3)

servers = st.one_of(
    st.just(ServerConfig()),
    st.sampled_from(SERVER_IDLE_TIMEOUTS).map(lambda t: ServerConfig(idle_timeout=t)),
    st.integers(1, 4).map(lambda n: ServerConfig(max_requests=n)),
    st.just(ServerConfig(close_always=True)),
    st.just(ServerConfig(http10=True)),
)
pools: st.SearchStrategy[dict[str, Any]] = st.one_of(
    st.just({}),
    st.sampled_from(CLIENT_IDLE_TIMEOUTS).map(lambda t: {"idle_timeout": t}),
    st.integers(1, 2).map(lambda n: {"max_idle_per_host": n}),
    st.just({"disable_keepalives": True}),
)
request_steps = st.builds(
    Requests,
    count=st.integers(1, 4),
    concurrency=st.integers(1, 3),
    path=st.sampled_from(["/", "/", "/bytes/4096", "/delay/10"]),
    response_body=st.sampled_from(["drain", "drain", "drain", "drain", "ignore", "close-early"]),
)
sleeps = st.builds(Sleep, st.sampled_from([0.05, 0.1, 0.15, 0.2, 0.25, 0.35]))


def with_a_request(steps: list[Step]) -> tuple[Step, ...]:
    if not any(isinstance(s, Requests) for s in steps):
        steps = [*steps, Requests(1, 1, "/", "drain")]
    return tuple(steps)


expects = st.one_of(
    st.none(),
    st.none(),
    st.just({"reused": True}),
    st.integers(1, 4).map(lambda n: {"max_connections": n}),
    st.sampled_from([0.3, 0.5, 0.8]).map(lambda r: {"reuse_ratio_min": r}),
)
cases = st.builds(
    Case,
    server=servers,
    pool=pools,
    steps=st.lists(st.one_of(request_steps, request_steps, sleeps), min_size=1, max_size=5).map(
        with_a_request
    ),
    expect=expects,
)


class Servers:
    """One built-in server per configuration, started when first drawn."""

    def __init__(self, stack: ExitStack) -> None:
        self._stack = stack
        self._running: dict[ServerConfig, ServerThread] = {}

    def url(self, config: ServerConfig) -> str:
        if config not in self._running:
            self._running[config] = self._stack.enter_context(ServerThread(config))
        return self._running[config].url


@pytest.fixture(scope="module")
def servers_cache() -> Iterator[Servers]:
    with ExitStack() as stack:
        yield Servers(stack)


@pytest.fixture(scope="module")
def scenario_dir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="budget-invariant-") as tmp:
        yield Path(tmp)


def run(case: Case, url: str, where: Path) -> Json:
    path = where / "scenario.toml"
    text = scenario_toml(case)
    path.write_text(text, encoding="utf-8")
    result = CliRunner().invoke(main, ["run", str(path), url, "--json"])
    shown = f"scenario:\n{text}\nexit {result.exit_code}\n{result.output}"
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(shown) from result.exception
    assert result.exit_code in (0, 1), shown
    doc: Json = json.loads(result.stdout)
    return doc


# --- the properties ------------------------------------------------------------------------


def assert_budget_explains_itself(doc: Json, case: Case) -> None:
    summary, verdict, findings = doc["summary"], doc["verdict"], doc["findings"]
    budget = summary["budget"]
    avoidable: dict[str, int] = budget["avoidable"]
    codes = {f["code"] for f in findings}
    context = (
        f"\nbudget {budget}, findings {sorted(codes)}, detail {verdict['detail']!r}"
        f"\nconnections (id, dial_reason, close_reason): "
        f"{[(c['id'], c['dial_reason'], c['close_reason']) for c in doc['connections']]}"
    )

    # 1. the counts add up
    assert summary["connections_opened"] == budget["needed"] + sum(avoidable.values()), context

    # 2. one cause per avoidable connection, from the dial reasons themselves
    opened = [c for c in doc["connections"] if c["error"] is None and c["local"] is not None]
    assert len(opened) == summary["connections_opened"], context
    assert all(c["dial_reason"] in DIAL_REASONS for c in opened), context
    by_reason = Counter(c["dial_reason"] for c in opened if c["dial_reason"] not in NEEDED_DIALS)
    assert dict(by_reason) == avoidable, context
    assert budget["needed"] == sum(1 for c in opened if c["dial_reason"] in NEEDED_DIALS), context
    assert all(n > 0 for n in avoidable.values()), context

    # 3. every cause is named by a finding
    for cause in avoidable:
        assert NAMED_BY[cause] & codes, f"cause {cause!r} named by no finding{context}"

    # 4. the server is not blamed for what it did not do: a client-side cause (or a
    # server that keeps connections alive) brings no finding about the server's closes
    for code in SERVER_BLAME:
        if code in codes:
            assert server_may_cause(code, case.server), (
                f"{code} blames the server {changed(case.server)} for what it did not do{context}"
            )
    if set(avoidable) <= CLIENT_CAUSES and server_keeps_alive(case.server):
        wrong = codes & {"no-keepalive", "http10-server"}
        if case.server.idle_timeout is None:
            wrong |= codes & {"server-idle-timeout"}
        if case.server.max_requests is None:
            wrong |= codes & {"max-requests-per-conn"}
        assert not wrong, f"client-side causes blamed on the server: {wrong}{context}"
    if case.server == ServerConfig():
        # a server that never ends a connection cannot have closed the one a dial needed
        assert "server-closed" not in avoidable, f"a keep-alive server blamed{context}"

    # 5. reuse: yes exactly when nothing was avoidable
    assert (verdict["reuse"] == "yes") == (sum(avoidable.values()) == 0), context

    # 6. every FAIL has a finding
    if not verdict["ok"]:
        failed = [(e["name"], e["detail"]) for e in verdict["expectations"] if not e["ok"]]
        assert findings, f"a FAIL without any finding: {failed}{context}"

    # 7. the reuse line
    detail: str = verdict["detail"]
    head = (
        f"{plural(summary['requests'], 'request')} · "
        f"{plural(summary['connections_opened'], 'connection')} = {budget['needed']} needed"
    )
    assert detail.startswith(head), f"{detail!r} does not start with {head!r}{context}"
    parts = detail.split(" = ", 1)[1].split(" + ")
    assert parts[0].startswith(f"{budget['needed']} needed"), context
    said: Counter[str] = Counter()
    for part in parts[1:]:
        m = re.fullmatch(r"(\d+) because (.+)", part)
        assert m is not None, f"{part!r} is not 'N because ...'{context}"
        named = phrase_cause(m[2])
        assert named is not None, f"{part!r} names no known cause{context}"
        said[named] += int(m[1])
    assert dict(said) == avoidable, f"the line says {dict(said)}{context}"
    assert budget["needed"] + sum(said.values()) == summary["connections_opened"], context


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(case=cases)
def test_the_budget_explains_every_connection(
    case: Case, servers_cache: Servers, scenario_dir: Path
) -> None:
    note(f"server: {changed(case.server)}\nscenario:\n{scenario_toml(case)}")
    doc = run(case, servers_cache.url(case.server), scenario_dir)
    assert_budget_explains_itself(doc, case)
    check_report(doc)
