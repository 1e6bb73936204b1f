"""The probe's default plan (sequential, idle gap, bursts) against servers that push
on what the client bounds: a late second response must not pass as "reuse yes", and
the new error kinds stop the run."""

from __future__ import annotations

import asyncio

from reusecheck.analysis import Expectation, RunRecord, analyze
from reusecheck.net.errors import RequestError
from reusecheck.scenarios.model import probe_plan
from reusecheck.scenarios.runner import Runner, stops_run
from reusecheck.server.misbehave import MisbehavingServer
from reusecheck.trace import Recorder, Tracer


def test_the_default_probe_against_a_late_second_response_is_not_reuse_yes() -> None:
    async def main() -> RunRecord:
        rec = Recorder()
        async with MisbehavingServer("late-response") as srv:
            runner = Runner(probe_plan(srv.url), Tracer(rec))
            error = await runner.run(deadline=20.0)
            return RunRecord(srv.url, rec.events, (Expectation("reuse"),), error)

    a = analyze(asyncio.run(asyncio.wait_for(main(), 30)))
    assert a.error is None
    assert "unsolicited-response" in [f.code for f in a.findings]
    assert a.verdict.reuse != "yes" and not a.verdict.ok


def test_a_write_timeout_and_a_local_limit_stop_the_run() -> None:
    assert stops_run(RequestError("write-timeout", "the server stopped reading"))
    assert stops_run(RequestError("local-limit", "too many open files"))
