"""``reusecheck watch`` through the real CLI (in-process), against the built-in server on
loopback: one pool over the whole run, a record per window, the whole run's report
judged at the end, the metrics file, and what the command line refuses.

Cycles are short (a few requests, no idle phase) and windows a fraction of a second,
so the file runs in seconds; the server's idle timeout sits well inside a window's
pause, so which window sees a close never depends on the machine's speed.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from jsonschema import Draft202012Validator

from reusecheck.cli import main
from reusecheck.schema import window_schema
from reusecheck.server import ServerConfig, ServerThread
from tests.budget_check import problems
from tests.commands.child import whole_events
from tests.schema_check import report_validator

Json = dict[str, Any]
CYCLE = ("--requests", "2", "--idle", "0", "--concurrency", "0")


@cache
def window_validator() -> Draft202012Validator:
    return Draft202012Validator(window_schema(strict=True))


def check_window(doc: Json) -> Json:
    errors = [f"{e.json_path}: {e.message}" for e in window_validator().iter_errors(doc)]
    assert errors == [], f"window {doc.get('window')} does not match its schema: {errors}"
    budget = doc["budget"]
    assert doc["connections_opened"] == budget["needed"] + sum(budget["avoidable"].values())
    assert doc["reuse_ratio"] == (
        round(doc["reused"] / doc["requests"], 4) if doc["requests"] else 0
    )
    return doc


def check_whole_run(doc: Json) -> Json:
    """The last line: the probe's report of the whole run (strict schema) with
    ``type``: every request and connection of the run, its budget explained."""
    errors = [f"{e.json_path}: {e.message}" for e in report_validator().iter_errors(doc)]
    assert errors == [], f"the whole run's report does not match the schema: {errors}"
    assert doc["type"] == "report"
    assert len(doc["requests"]) == doc["summary"]["requests"]
    assert [r["index"] for r in doc["requests"]] == list(range(len(doc["requests"])))
    assert problems(doc) == []
    return doc


@dataclass
class WatchRun:
    result: Result
    windows: list[Json]
    report: Json


def watch(url: str, *args: str) -> WatchRun:
    """``reusecheck watch URL ARGS --json``; every line validated before it is returned."""
    result = CliRunner().invoke(main, ["watch", url, *args, "--json"])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert lines and all(d["type"] == "window" for d in lines[:-1]), result.output
    windows = [check_window(d) for d in lines[:-1]]
    assert [w["window"] for w in windows] == list(range(1, len(windows) + 1))
    return WatchRun(result, windows, check_whole_run(lines[-1]))


def adds_up(run: WatchRun) -> None:
    """The whole run is the sum of its windows."""
    summary = run.report["summary"]
    for key in ("requests", "reused", "connections_opened", "retried", "failed"):
        assert summary[key] == sum(w[key] for w in run.windows), key
    assert summary["budget"]["needed"] == sum(w["budget"]["needed"] for w in run.windows)
    avoidable: dict[str, int] = {}
    for w in run.windows:
        for cause, n in w["budget"]["avoidable"].items():
            avoidable[cause] = avoidable.get(cause, 0) + n
    assert summary["budget"]["avoidable"] == avoidable
    assert run.report["options"]["watch"]["windows"] == len(run.windows)


@pytest.fixture(scope="module")
def healthy() -> Iterator[ServerThread]:
    with ServerThread(ServerConfig()) as srv:
        yield srv


def test_a_server_idle_timeout_shorter_than_the_cycle_costs_a_dial_every_window(
    tmp_path: Path,
) -> None:
    # The server closes a connection idle 0.2 s; a cycle comes every 0.5 s.
    with ServerThread(ServerConfig(idle_timeout=0.2)) as srv:
        run = watch(srv.url, *CYCLE, "--every", "500ms", "--duration", "2s")
    assert run.result.exit_code == 1, run.result.output
    assert len(run.windows) == 4
    first, *later = run.windows
    assert first["budget"] == {"needed": 1, "avoidable": {}}
    assert first["findings"][0]["code"] == "server-idle-timeout"
    for w in run.windows:
        # Each window's connection carries both its requests, then idles past 0.2 s.
        assert (w["requests"], w["reused"], w["connections_opened"]) == (2, 1, 1)
        assert w["closed"] == {"server/idle-timeout": 1}
        assert "server-idle-timeout" in w["finding_codes"]
    for w in later:
        assert w["budget"] == {"needed": 0, "avoidable": {"server-closed": 1}}
        assert w["reuse"] == "partial" and w["findings"] == []  # no longer new
    adds_up(run)
    report = run.report
    assert report["summary"]["budget"] == {"needed": 1, "avoidable": {"server-closed": 3}}
    assert report["server"]["idle_timeout_s"] == pytest.approx(0.2, abs=0.05)
    # The whole run's own analysis: every connection's life, as a probe would say it.
    (finding,) = report["findings"]
    assert finding["code"] == "server-idle-timeout"
    assert finding["message"].startswith("server closed 4 idle connections after 0.2 s idle")
    assert [c["dial_reason"] for c in report["connections"]] == ["first"] + ["server-closed"] * 3
    (reuse,) = report["verdict"]["expectations"]
    assert (reuse["name"], reuse["ok"]) == ("reuse", False)
    assert report["verdict"]["detail"] == (
        "8 requests · 4 connections = 1 needed + 3 because the server closed conn 1, 2, 3 "
        "while it was idle after 2 requests each"
    )
    assert run.result.stderr.startswith("verdict: FAIL · reuse partial · 4/8 reused")


def test_a_per_connection_limit_longer_than_a_window_is_found_over_the_run() -> None:
    # 3 requests per connection, 2 per cycle: every connection lives across windows, so
    # no window sees one whole; the dials that replace them record what they carried.
    with ServerThread(ServerConfig(max_requests=3)) as srv:
        run = watch(srv.url, *CYCLE, "--every", "0.15", "--duration", "0.9")
    assert run.result.exit_code == 1, run.result.output
    closes = [w["closed"].get("server/connection-close-header", 0) for w in run.windows]
    assert closes == [0, 1, 1, 0, 1, 1]  # requests 3, 6, 9 and 12 meet the limit
    assert "max-requests-per-conn" not in {c for w in run.windows for c in w["finding_codes"]}
    adds_up(run)
    report = run.report
    assert report["summary"]["budget"] == {"needed": 1, "avoidable": {"server-closed": 3}}
    assert report["server"]["max_requests_per_conn"] == 3
    assert report["server"]["max_requests_evidence"] == "repeated"
    # The whole run saw every connection whole: the limit is plain.
    (finding,) = report["findings"]
    assert finding["code"] == "max-requests-per-conn"
    assert finding["message"].startswith("server closed 4 of 4 connections after exactly 3")
    assert report["verdict"]["detail"].endswith(
        "+ 3 because the server closed conn 1, 2, 3 with Connection: close after 3 requests each"
    )


def _samples(text: str) -> dict[str, float]:
    """A metrics file's samples, ``name{labels}`` -> value (every line checked)."""
    assert text.endswith("\n")
    samples: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("#"):
            assert re.fullmatch(r"# (HELP|TYPE) reusecheck_[a-z_]+ .+", line), line
            continue
        name, value = line.rsplit(" ", 1)
        assert re.fullmatch(r'reusecheck_[a-z_]+_total\{target="[^"]+"(,[a-z]+="[^"]*")*\}', name)
        samples[name] = float(value)
    return samples


def test_a_healthy_server_serves_the_whole_run_on_one_connection(
    healthy: ServerThread, tmp_path: Path
) -> None:
    metrics, events = tmp_path / "reuse.prom", tmp_path / "events.ndjson"
    run = watch(
        healthy.url, "--requests", "3", "--idle", "0", "--concurrency", "0",
        "--every", "0.25", "--duration", "1", "--metrics", str(metrics),
        "--events", str(events), "--expect", "reuse", "--max-connections", "1",
    )  # fmt: skip
    assert run.result.exit_code == 0, run.result.output
    assert len(run.windows) == 4
    assert run.windows[0]["budget"] == {"needed": 1, "avoidable": {}}
    for w in run.windows[1:]:
        # The connection was dialled in window 1: here it only carries reused requests.
        assert (w["requests"], w["reused"], w["connections_opened"]) == (3, 3, 0)
        assert w["budget"] == {"needed": 0, "avoidable": {}} and w["reuse"] == "yes"
    assert run.windows[-1]["closed"] == {"client/end-of-run": 1}  # the pool's close
    assert all(w["closed"] == {} for w in run.windows[:-1])
    adds_up(run)
    summary = run.report["summary"]
    assert summary["budget"] == {"needed": 1, "avoidable": {}}
    assert (summary["requests"], summary["reused"]) == (12, 11)
    assert [e["ok"] for e in run.report["verdict"]["expectations"]] == [True, True]
    # The windows tile the run: each starts where the one before ended, the last at the
    # duration.
    assert run.windows[0]["start_s"] == 0.0
    for before, after in pairwise(run.windows):
        assert after["start_s"] == before["end_s"]
    assert run.windows[-1]["end_s"] == pytest.approx(1.0, abs=0.2)
    # The whole run's NDJSON: valid, its contract kept, request indexes counting on.
    lines = whole_events(events)
    assert sorted({e["request"] for e in lines if e["event"] == "request_done"}) == list(range(12))
    assert {e["conn"] for e in lines if e["conn"] is not None} == {1}
    samples = _samples(metrics.read_text(encoding="utf-8"))
    t = f'target="{healthy.url}"'
    assert samples[f"reusecheck_requests_total{{{t}}}"] == 12
    assert samples[f"reusecheck_reused_requests_total{{{t}}}"] == 11
    assert samples[f"reusecheck_windows_total{{{t}}}"] == 4
    assert samples[f'reusecheck_connections_opened_total{{{t},cause="first"}}'] == 1
    assert samples[f'reusecheck_connections_opened_total{{{t},cause="server-closed"}}'] == 0
    closed = f'reusecheck_connections_closed_total{{{t},by="client",reason="end-of-run"}}'
    assert samples[closed] == 1
    assert samples[f"reusecheck_retries_total{{{t}}}"] == 0
    assert samples[f'reusecheck_errors_total{{{t},kind="connect"}}'] == 0


def test_on_a_log_each_window_is_a_line_then_the_whole_runs_report(
    healthy: ServerThread,
) -> None:
    r = CliRunner().invoke(
        main, ["watch", healthy.url, *CYCLE, "--every", ".2", "--duration", ".4"]
    )
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert lines[0].startswith("window 1 · 0.0-0.2 s · 2 requests, 1 reused (0.50) · 1 opened")
    assert lines[1].startswith("window 2 · 0.2-0.4 s · 2 requests, 2 reused (1.00) · 0 opened")
    assert lines[2] == "watch: 2 windows, every 0.2 s, one pool; the whole run:"
    assert lines[-1] == "verdict: OK · reuse yes · 3/4 reused · 1 connection"


def test_a_scenario_is_the_cycle_and_its_checks_hold_in_every_window(
    healthy: ServerThread, tmp_path: Path
) -> None:
    scenario = tmp_path / "calls.toml"
    scenario.write_text(
        '[[step]]\nname = "calls"\npath = "/"\ncount = 3\nexpect = [{ max_connections = 1 }]\n',
        encoding="utf-8",
    )
    run = watch(healthy.url, "--scenario", str(scenario), "--every", "0.2", "--duration", "0.6")
    assert run.result.exit_code == 0, run.result.output
    assert [w["requests"] for w in run.windows] == [3, 3, 3]
    (check,) = run.report["verdict"]["expectations"]
    assert check["name"] == "step 1: max_connections"
    assert check["ok"] and check["detail"] == (
        "in all 3 windows: 3 requests on 1 connection (at most 1)"
    )
    assert run.report["options"]["scenario"] == {"name": "calls", "source": str(scenario)}


def test_a_target_never_reached_ends_the_watch_at_once() -> None:
    with ServerThread(ServerConfig()) as srv:
        url = srv.url  # nobody listens there once the server stopped
    run = watch(url, *CYCLE, "--every", "10s")
    assert run.result.exit_code == 3
    (window,) = run.windows
    assert window["error"]["kind"] == "connect" and window["errors"] == {"connect": 1}
    assert run.report["error"]["kind"] == "connect"
    assert run.report["error"]["message"].startswith("window 1: ")


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (("--every", "0"), "'0' is not a duration of more than 0 seconds"),
        (("--every", "10x"), "'10x' is not a duration"),
        (("--duration=-1s",), "'-1s' is not a duration"),
        (("--scenario", "builtin:probe", "--requests", "3"), "--requests shapes the probe's"),
        (("--scenario", "builtin:nope"), "no such built-in scenario"),
        (("--set", "idle=0"), "--set gives a scenario's parameters"),
        (("--metrics", "/nonexistent/dir/m.prom"), "directory '/nonexistent/dir' does not"),
    ],
)
def test_bad_input_is_exit_2_before_anything_is_sent(args: tuple[str, ...], said: str) -> None:
    with ServerThread(ServerConfig()) as srv:
        r = CliRunner().invoke(main, ["watch", srv.url, *args])
        assert r.exit_code == 2, r.output
        assert said in r.stderr
        assert srv.connections == []


def test_the_durations_people_write() -> None:
    from reusecheck.commands.watch_settings import parse_duration

    assert parse_duration("10s") == 10
    assert parse_duration("1m") == 60
    assert parse_duration("500ms") == 0.5
    assert parse_duration("1m30s") == 90
    assert parse_duration("2h") == 7200
    assert parse_duration(" 2.5 ") == 2.5
    for bad in ("", "s", "10 s", "1d", "nan", "inf", "-5", "0ms", "1m-30s"):
        with pytest.raises(ValueError):
            parse_duration(bad)
    assert math.isclose(parse_duration(".5s"), 0.5)
