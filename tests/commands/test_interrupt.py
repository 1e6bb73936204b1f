"""Ctrl-C and SIGTERM (reusecheck/commands/interrupt.py), in real child processes.

What curl's and Go's users expect: exit 130 on SIGINT, 143 on SIGTERM; before that the
run stops its requests, closes its connections and writes a report of what ran to
every output asked for, marked interrupted and partial and valid against the schema; a
second signal ends the process at once.  The signal is sent once the events file (or
the server) shows the run under way.
"""

from __future__ import annotations

import asyncio
import json
import signal
import time
from pathlib import Path

import pytest

from reusecheck.analysis import Expectation, RunRecord, analyze
from reusecheck.analysis.model import RunError
from reusecheck.commands import exits, interrupt
from reusecheck.scenarios.deadline import INTERRUPTED, absorb_interrupt
from reusecheck.server import ServerConfig, ServerThread
from tests.commands.child import (
    Misbehaving,
    clean_ending,
    request_done,
    requests_arrived,
    signal_and_wait,
    start,
    wait_until,
    whole_events,
    whole_har,
    whole_junit,
    whole_output_dir,
)
from tests.schema_check import check_report, check_reports


@pytest.fixture(scope="module")
def healthy() -> ServerThread:
    with ServerThread(ServerConfig()) as srv:
        yield srv


def _closed_by_the_client_at_the_end(lines: list[dict[str, object]]) -> None:
    """Every connection the run opened was closed (the contract checker has checked
    each has exactly one conn_closed); the ones open at the signal by the client."""
    closes = [e for e in lines if e["event"] == "conn_closed"]
    assert closes and all(e["closed_by"] == "client" for e in closes[-1:])


def _interrupted_report(doc: dict[str, object], signame: str) -> None:
    error = doc["error"]
    assert isinstance(error, dict) and error["kind"] == "cancelled"
    assert str(error["message"]).startswith(f"interrupted by {signame}")
    verdict = doc["verdict"]
    assert isinstance(verdict, dict) and verdict["ok"] is False
    assert str(verdict["detail"]).startswith(f"partial: interrupted by {signame}")


@pytest.mark.parametrize(
    ("signum", "code", "signame"),
    [(signal.SIGINT, 130, "SIGINT"), (signal.SIGTERM, 143, "SIGTERM")],
)
def test_a_signal_mid_probe_writes_every_output_and_exits_128_plus_it(
    healthy: ServerThread, tmp_path: Path, signum: int, code: int, signame: str
) -> None:
    events, har, junit, out = (
        tmp_path / "events.ndjson",
        tmp_path / "run.har",
        tmp_path / "junit.xml",
        tmp_path / "out",
    )
    child = start(
        "probe", healthy.url, "--requests", "2", "--idle", "60", "--json",
        "--events", str(events), "--har", str(har), "--junit", str(junit),
        "--output-dir", str(out), "--svg",
    )  # fmt: skip
    wait_until(request_done(events), child)
    got, stdout, stderr, took = signal_and_wait(child, signum)
    clean_ending(stderr)
    assert got == code, stderr
    assert took < 10.0, f"ended {took:.1f} s after {signame}"
    doc = check_report(stdout)
    _interrupted_report(doc, signame)
    assert doc["summary"]["requests"] == 2  # the two sequential ones ran, nothing after
    lines = stderr.splitlines()
    assert lines[-2].startswith("verdict: INTERRUPTED · partial report: ")
    assert lines[-1] == f"reusecheck: cancelled: {doc['error']['message']}"
    _closed_by_the_client_at_the_end(whole_events(events))
    assert len(whole_har(har)["log"]["entries"]) == 2
    suites = whole_junit(junit).findall("testsuite")
    assert [s.get("errors") for s in suites] == ["1"]
    _interrupted_report(whole_output_dir(out, svg=True), signame)


def test_ctrl_c_with_the_terminal_report_ends_with_the_interrupted_verdict(
    healthy: ServerThread, tmp_path: Path
) -> None:
    events = tmp_path / "events.ndjson"
    child = start("probe", healthy.url, "--requests", "1", "--idle", "60", "--events", str(events))
    wait_until(request_done(events), child)
    code, stdout, stderr, _ = signal_and_wait(child)
    clean_ending(stderr)
    assert code == exits.EXIT_SIGINT
    assert stdout.rstrip().splitlines()[-1].startswith("verdict: INTERRUPTED · partial report")
    assert stderr.splitlines()[-1].startswith("reusecheck: cancelled: interrupted by SIGINT")


def test_ctrl_c_with_several_targets_keeps_finished_marks_cut_short_and_not_run(
    healthy: ServerThread, tmp_path: Path
) -> None:
    """parallel 2: the healthy target finishes, the two never-answering ones are cut
    short waiting for their first byte, and the last one never got its turn."""
    junit, out = tmp_path / "junit.xml", tmp_path / "out"
    with Misbehaving("never-answer") as stuck, Misbehaving("never-answer") as stuck2:
        targets = [healthy.url, stuck.url, stuck2.url, healthy.url + "last"]
        child = start(
            "probe", *targets, "--idle", "0", "--requests", "1", "--concurrency", "0",
            "--timeout", "60", "--parallel", "2", "--json",
            "--junit", str(junit), "--output-dir", str(out),
        )  # fmt: skip
        wait_until(lambda: requests_arrived(stuck)() and requests_arrived(stuck2)(), child)
        code, stdout, stderr, _ = signal_and_wait(child)
    clean_ending(stderr)
    assert code == 130, stderr
    docs = check_reports(stdout)
    assert [d["target"] for d in docs] == targets
    finished, cut, cut2, not_run = docs
    assert finished["error"] is None and finished["verdict"]["ok"] is True
    for d in (cut, cut2):
        _interrupted_report(d, "SIGINT")
    assert not_run["error"]["kind"] == "cancelled"
    assert not_run["error"]["message"].startswith("not run: interrupted by SIGINT")
    assert not_run["requests"] == [] and not_run["verdict"]["ok"] is False
    verdicts = [ln for ln in stderr.splitlines() if "verdict: " in ln]
    assert [v.split(": verdict: ")[1].split(" · ")[0] for v in verdicts] == [
        "OK",
        "INTERRUPTED",
        "INTERRUPTED",
        "INTERRUPTED",
    ]
    suites = whole_junit(junit).findall("testsuite")
    assert [s.get("errors") for s in suites] == ["0", "1", "1", "1"]
    lines = (out / "reports.jsonl").read_text(encoding="utf-8").splitlines()
    assert [check_report(ln)["target"] for ln in lines] == targets


def test_sigterm_mid_run_scenario(healthy: ServerThread, tmp_path: Path) -> None:
    events, junit = tmp_path / "events.ndjson", tmp_path / "junit.xml"
    child = start(
        "run", "builtin:probe", healthy.url, "--set", "idle=60", "--json",
        "--events", str(events), "--junit", str(junit),
    )  # fmt: skip
    wait_until(request_done(events), child)
    code, stdout, stderr, _ = signal_and_wait(child, signal.SIGTERM)
    clean_ending(stderr)
    assert code == 143, stderr
    _interrupted_report(check_report(stdout), "SIGTERM")
    whole_events(events)
    assert whole_junit(junit).get("errors") == "1"


def test_ctrl_c_mid_discover_writes_its_outputs(tmp_path: Path) -> None:
    events, junit, out = tmp_path / "events.ndjson", tmp_path / "junit.xml", tmp_path / "out"
    with Misbehaving("never-answer") as stuck:
        child = start(
            "discover", stuck.url, "--samples", "1", "--max-wait", "30", "--timeout", "30",
            "--json", "--events", str(events), "--junit", str(junit), "--output-dir", str(out),
        )  # fmt: skip
        wait_until(requests_arrived(stuck), child)
        code, stdout, stderr, _ = signal_and_wait(child)
    clean_ending(stderr)
    assert code == 130, stderr
    doc = json.loads(stdout)
    assert doc["command"] == "discover" and doc["error"]["kind"] == "cancelled"
    assert doc["error"]["message"].startswith("interrupted by SIGINT")
    assert stderr.splitlines()[-2].startswith("discover: INTERRUPTED")
    whole_events(events)
    root = whole_junit(junit)
    assert root.get("failures") == "0" and int(root.get("errors") or 0) >= 1
    assert {p.name for p in out.iterdir()} == {"report.json", "events.ndjson"}
    assert json.loads((out / "report.json").read_text())["error"]["kind"] == "cancelled"


def test_ctrl_c_mid_demo(tmp_path: Path) -> None:
    events = tmp_path / "events.ndjson"
    child = start("demo", "--idle", "60", "--json", "--events", str(events))
    wait_until(request_done(events), child)
    code, stdout, stderr, _ = signal_and_wait(child)
    clean_ending(stderr)
    assert code == 130, stderr
    _interrupted_report(check_report(stdout), "SIGINT")
    whole_events(events)


def test_a_second_ctrl_c_ends_at_once(tmp_path: Path) -> None:
    """A busy sleep blocks the loop, so the first Ctrl-C's clean-up waits for it; the
    second one does not wait: exit 130 at once, no report."""
    events = tmp_path / "events.ndjson"
    with ServerThread(ServerConfig()) as srv:
        scenario = tmp_path / "busy.toml"
        scenario.write_text(
            f'[defaults]\nurl = "{srv.url}"\n'
            '[[step]]\nname = "first"\npath = "/"\n'
            '[[step]]\nname = "stuck"\nsleep = 30\nbusy = true\n'
            '[[step]]\nname = "after"\npath = "/"\n'
        )
        child = start("run", str(scenario), "--json", "--events", str(events))
        wait_until(request_done(events), child)
        child.send_signal(signal.SIGINT)
        time.sleep(0.3)
        assert child.poll() is None  # still in the busy sleep, as documented
        code, stdout, stderr, took = signal_and_wait(child)
    clean_ending(stderr)
    assert code == 130 and took < 5.0
    assert stdout == ""
    assert stderr.splitlines()[-1] == "reusecheck: SIGINT (Ctrl-C) again: stopped at once"


# -- the pieces, in-process --------------------------------------------------------------


def test_a_signal_cancels_each_registered_task_once_and_the_run_absorbs_it() -> None:
    stop = interrupt.Interrupts()

    async def run() -> str:
        await asyncio.sleep(30)
        return "finished"

    async def absorbing(register: bool = False) -> str:
        if register:  # as the commands' tasks do: themselves, first thing
            stop.register()
        try:
            return await run()
        except asyncio.CancelledError:
            assert absorb_interrupt()
            return "absorbed"

    async def main() -> list[str]:
        loop = asyncio.get_running_loop()
        stop._loop = loop
        tasks = [loop.create_task(absorbing()) for _ in range(2)]
        for task in tasks:
            stop.register(task)
        await asyncio.sleep(0)
        stop._on_signal(signal.SIGTERM, None)  # as the handler is called
        stop._cancel_all()  # a second cancel of the same tasks is not one
        late = loop.create_task(absorbing(register=True))  # after the signal: cancelled at once
        return list(await asyncio.gather(*tasks, late))

    assert asyncio.run(main()) == ["absorbed"] * 3
    assert stop.signum == signal.SIGTERM
    assert exits.final(1, stop.signum) == 143 and exits.final(1, None) == 1


def test_mark_names_the_signal_and_leaves_a_finished_run_alone() -> None:
    stop = interrupt.Interrupts()
    stop.signum = signal.SIGINT
    record = RunRecord(
        target="http://h.test/",
        events=[],
        expectations=(Expectation("none"),),
        error=RunError("cancelled", INTERRUPTED),
    )
    marked = interrupt.mark(analyze(record), stop, planned=14)
    assert marked.error == RunError(
        "cancelled", "interrupted by SIGINT (Ctrl-C): the report holds what ran until then"
    )
    assert not marked.verdict.ok
    assert marked.verdict.detail.startswith("partial: interrupted by SIGINT (Ctrl-C) after 0 of 14")
    finished = analyze(RunRecord(target="http://h.test/", events=[], expectations=()))
    assert interrupt.mark(finished, stop) is finished


def test_ctrl_c_during_probe_discover_marks_the_report_partial(tmp_path: Path) -> None:
    """The probe finished, discover's measurements were under way: the report holds the
    probe and what discover saw, marked partial."""
    with ServerThread(ServerConfig()) as srv:  # keeps idle connections: discover waits
        child = start(
            "probe", srv.url, "--requests", "1", "--idle", "0", "--concurrency", "0",
            "--discover", "--json",
        )  # fmt: skip
        # The probe's one connection, then discover's own (idle samples, the counter).
        wait_until(lambda: len(srv.connections) >= 3, child)
        code, stdout, stderr, _ = signal_and_wait(child)
    clean_ending(stderr)
    assert code == 130, stderr
    doc = json.loads(stdout)
    assert "discover" in doc
    del doc["discover"]  # probe --discover's addition (docs/discover.md)
    _interrupted_report(check_report(doc), "SIGINT")
