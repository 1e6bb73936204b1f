"""The runner over real loopback sockets: phases, a fresh pool per part, busy sleeps and
measuring the server's idle timeout, as the event record shows them."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from reusecheck.pool import PoolOptions
from reusecheck.scenarios.model import MeasureIdleStep, Plan, PoolStep, RequestStep, SleepStep, Step
from reusecheck.scenarios.runner import Runner
from reusecheck.server import ServerConfig, ServerThread
from reusecheck.trace import Recorder, Tracer


def run(plan: Plan, deadline: float = 20.0) -> Recorder:
    recorder = Recorder()
    error = asyncio.run(Runner(plan, Tracer(recorder)).run(deadline))
    assert error is None, error
    return recorder


@pytest.fixture(scope="module")
def idle_server() -> Iterator[ServerThread]:
    with ServerThread(ServerConfig(idle_timeout=0.2)) as srv:
        yield srv


def test_every_request_ends_with_its_phase_and_rounds_run_at_once(
    idle_server: ServerThread,
) -> None:
    url = idle_server.url.rstrip("/") + "/delay/20"
    rec = run(Plan(url, (RequestStep("a", url, count=2), RequestStep("b", url, concurrency=3))))
    done = rec.named("request_done")
    assert [e.fields["phase"] for e in done] == ["a", "a", "b", "b", "b"]
    assert [e.request for e in done[:2]] == [0, 1] and {e.request for e in done[2:]} == {2, 3, 4}
    assert len({e.conn for e in done[2:]}) == 3  # three in flight at once: three connections


def test_a_pool_step_closes_the_old_pool_and_keeps_counting_connection_ids(
    idle_server: ServerThread,
) -> None:
    url = idle_server.url
    steps: tuple[Step, ...] = (
        RequestStep("one", url, count=2),
        PoolStep("two", PoolOptions(max_idle_per_host=1)),
        RequestStep("two", url, count=2),
    )
    recorder = Recorder()
    runner = Runner(Plan(url, steps), Tracer(recorder))
    assert asyncio.run(runner.run(20)) is None
    got = [(e.request, e.conn, e.fields["reused"]) for e in recorder.named("got_conn")]
    assert got == [(0, 1, False), (1, 1, True), (2, 2, False), (3, 2, True)]
    closed = recorder.named("conn_closed")
    assert closed[0].conn == 1 and closed[0].fields["reason"] == "end-of-run"
    # conn 1 was closed before the second part dialled conn 2
    dial = next(e for e in recorder.named("connect_start") if e.conn == 2)
    assert closed[0].t < dial.t
    assert [(name, o.max_idle_per_host) for name, o in runner.pools] == [("", 100), ("two", 1)]


def test_a_pool_step_reports_bodies_the_old_pool_never_read(idle_server: ServerThread) -> None:
    url = idle_server.url
    steps: tuple[Step, ...] = (
        RequestStep("leaky", url, count=2, response_body="ignore"),
        PoolStep("drained", PoolOptions()),
        RequestStep("drained", url),
    )
    rec = run(Plan(url, steps))
    puts = [(e.request, e.fields["reason"]) for e in rec.named("put_idle") if not e.fields["ok"]]
    assert puts == [(0, "body-not-drained"), (1, "body-not-drained")]
    last_leaky = max(e.t for e in rec.named("put_idle") if e.request == 1)
    first_drained = next(e.t for e in rec.named("get_conn") if e.request == 2)
    assert last_leaky < first_drained


def test_a_busy_sleep_makes_the_stale_connection_race_certain(
    idle_server: ServerThread,
) -> None:
    """Across the server's idle timeout, a blocked client cannot see the close: the next
    request goes out on the closed connection and is retried on a new one."""
    url = idle_server.url
    steps: tuple[Step, ...] = (
        RequestStep("warm", url),
        SleepStep("wait", 0.1),
        SleepStep("wait", 0.2, busy=True),
        RequestStep("race", url),
    )
    rec = run(Plan(url, steps))
    retries = rec.named("retry")
    assert [(e.request, e.conn, e.fields["reason"]) for e in retries] == [(1, 1, "stale")]
    assert rec.named("request_done")[-1].fields["retried"] is True


def test_an_asleep_but_watching_client_sees_the_close_and_dials(
    idle_server: ServerThread,
) -> None:
    url = idle_server.url
    rec = run(
        Plan(url, (RequestStep("warm", url), SleepStep("wait", 0.3), RequestStep("late", url)))
    )
    assert not rec.named("retry")
    idle = rec.named("idle_closed")
    assert [e.fields["closed_by"] for e in idle] == ["server"]


def test_measure_idle_hands_the_servers_idle_timeout_to_the_next_steps(
    idle_server: ServerThread,
) -> None:
    url = idle_server.url
    seen: list[float | None] = []

    def then(measured: float | None) -> tuple[Step, ...]:
        seen.append(measured)
        return (RequestStep("after", url),)

    rec = run(Plan(url, (RequestStep("measure", url), MeasureIdleStep("measure", 5.0, then))))
    assert seen[0] == pytest.approx(0.2, abs=0.05)
    assert [e.fields["phase"] for e in rec.named("request_done")] == ["measure", "after"]


def test_measure_idle_gives_none_past_its_limit_or_with_nothing_idle() -> None:
    seen: list[float | None] = []

    def then(measured: float | None) -> tuple[Step, ...]:
        seen.append(measured)
        return ()

    with ServerThread(ServerConfig()) as srv:
        url = srv.url
        run(Plan(url, (RequestStep("m", url), MeasureIdleStep("m", 0.1, then))))
        run(
            Plan(
                url,
                (
                    RequestStep("m", url, response_body="close-early"),
                    MeasureIdleStep("m", 5.0, then),
                ),
            )
        )
    assert seen == [None, None]
