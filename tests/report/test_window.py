"""A window's record (reusecheck/report/window.py) from real cycles on one pool: the
connections carried in from earlier windows are not counted as dialled again, the
findings a window cannot judge are left out, the JSON line and the log line say what
the record holds, and the counters add windows up."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace

import pytest

from reusecheck.analysis import Analysis, Expectation, Finding, RunRecord, analyze
from reusecheck.commands.watch_windows import WindowSplitter
from reusecheck.report.window import (
    Counters,
    WindowRecord,
    dumps,
    judged,
    summary_line,
    to_document,
    window_record,
)
from reusecheck.scenarios.model import probe_plan
from reusecheck.scenarios.runner import Runner
from reusecheck.server import ServerConfig, ServerThread
from reusecheck.trace import Event, Tracer

Window = tuple[Analysis, frozenset[int], list[Event]]


async def _cycles(url: str, count: int, pause: float) -> list[Window]:
    """``count`` cycles of 3 sequential requests on one pool, a pause after each, cut
    into windows as watch cuts them (the pool closed in the last)."""
    splitter = WindowSplitter()
    runner = Runner(probe_plan(url, requests=3, idle=0, concurrency=0), Tracer(splitter))
    windows = []
    for i in range(count):
        assert await runner.run(10.0, keep_pool=True) is None
        await asyncio.sleep(pause)
        if i == count - 1:
            await runner.pool.close()
        events, carried = splitter.cut()
        record = RunRecord(url, events, [Expectation("reuse")])
        windows.append((analyze(record), carried, events))
    return windows


@pytest.fixture(scope="module")
def kept() -> list[Window]:
    """A server that keeps connections: one connection for every window."""
    with ServerThread(ServerConfig()) as srv:
        return asyncio.run(_cycles(srv.url, 3, 0.05))


@pytest.fixture(scope="module")
def closed_idle() -> list[Window]:
    """A server that closes idle connections in each window's pause."""
    with ServerThread(ServerConfig(idle_timeout=0.1)) as srv:
        return asyncio.run(_cycles(srv.url, 2, 0.3))


def _record(w: Window, n: int, seen: frozenset[str] = frozenset()) -> WindowRecord:
    analysis, carried, _ = w
    return window_record(analysis, window=n, start_s=0.0, end_s=1.0, carried=carried, seen=seen)


def test_a_connection_from_an_earlier_window_carries_reused_requests_and_no_dial(
    kept: list[Window],
) -> None:
    first, second, last = (_record(w, i + 1) for i, w in enumerate(kept))
    assert (first.requests, first.reused, first.connections_opened) == (3, 2, 1)
    assert first.budget.needed == 1 and first.dials == (("first", 1),)
    # The analysis alone sees connection 1 without its dial and counts it as needed ...
    analysis, carried, _ = kept[1]
    assert carried == {1} and analysis.summary.budget.needed == 1
    # ... the record does not: its dial was window 1's.
    for r in (second, last):
        assert (r.requests, r.reused, r.connections_opened) == (3, 3, 0)
        assert r.budget.needed == 0 and r.budget.avoidable == () and r.dials == ()
        assert r.reuse == "yes"
    assert second.closed == ()
    assert last.closed == (("client", "end-of-run", 1),)


def test_a_close_counts_where_it_happens_the_dial_it_costs_in_the_next_window(
    closed_idle: list[Window],
) -> None:
    first, second = (_record(w, i + 1) for i, w in enumerate(closed_idle))
    assert first.closed == (("server", "idle-timeout", 1),)
    assert first.budget.needed == 1 and first.budget.avoidable == ()
    assert second.budget.needed == 0
    assert second.budget.avoidable == (("server-closed", 1),)
    assert second.causes == (("server-closed", "idle-timeout", 1),)
    assert second.reuse == "partial"
    assert "server-idle-timeout" in {f.code for f in second.findings}


def _with(analysis: Analysis, *findings: Finding) -> Analysis:
    return replace(analysis, findings=findings)


def test_findings_about_whole_connections_are_judged_only_on_whole_connections(
    kept: list[Window],
) -> None:
    analysis, carried, _ = kept[1]
    assert carried == {1}

    def f(code: str, conns: list[int]) -> Finding:
        return Finding(code, "warning", "m", "r", {"connections": conns})

    about_carried = [f("no-keepalive", [1]), f("max-requests-per-conn", [1, 2])]
    about_own = [f("max-requests-per-conn", [2]), f("server-idle-timeout", [1])]
    run_wide = [f("expectation-unmet", [])]
    kept_codes = judged(_with(analysis, *about_carried, *about_own, *run_wide), carried)
    assert kept_codes == tuple(about_own)


def test_the_json_line_names_only_the_findings_new_to_the_run(
    closed_idle: list[Window],
) -> None:
    first = _record(closed_idle[0], 1)
    second = _record(closed_idle[1], 2, seen=frozenset(f.code for f in first.findings))
    doc = to_document(first)
    assert list(doc)[:4] == ["type", "schema", "target", "window"]
    assert doc["type"] == "window" and doc["schema"] == "reusecheck/1"
    assert doc["closed"] == {"server/idle-timeout": 1}
    assert [x["code"] for x in doc["findings"]] == ["server-idle-timeout"]
    assert set(doc["findings"][0]) == {"code", "severity", "message"}
    again = json.loads(dumps(second))
    assert again["findings"] == [] and again["finding_codes"] == ["server-idle-timeout"]
    assert again["budget"] == {"needed": 0, "avoidable": {"server-closed": 1}}
    assert "\n" not in dumps(second)


def test_secrets_in_the_target_stay_out_of_the_line(kept: list[Window]) -> None:
    analysis = replace(kept[0][0], target="http://user:pw@127.0.0.1/?token=s3cr3t")
    line = dumps(window_record(analysis, window=1, start_s=0.0, end_s=1.0))
    assert "s3cr3t" not in line and ":pw@" not in line


def test_the_log_line(closed_idle: list[Window]) -> None:
    second = replace(_record(closed_idle[1], 2), start_s=0.5, end_s=1.0)
    assert summary_line(second) == (
        "window 2 · 0.5-1.0 s · 3 requests, 2 reused (0.67) · 1 opened, server-closed 1 · "
        "closed server/idle-timeout 1 · reuse partial"
    )


def test_counters_add_the_windows_up(closed_idle: list[Window], kept: list[Window]) -> None:
    counters = Counters()
    records = [_record(w, i + 1) for i, w in enumerate(closed_idle)]
    for r in records:
        counters.add(r)
    assert counters.windows == 2
    assert (counters.requests, counters.reused) == (6, 4)
    assert counters.connections_opened == 2 == counters.needed + sum(counters.avoidable.values())
    assert dict(counters.dials) == {"first": 1, "server-closed": 1}
    assert dict(counters.closed) == {("server", "idle-timeout"): 2}
    assert counters.reuse_ratio == 0.6667
