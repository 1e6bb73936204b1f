"""No JSON output ever holds NaN or Infinity (Python's json writes them by default; no
other parser reads them): every recorded run's report and discover document, a report
whose numbers are not finite, and a real run against a server sending such hints."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from typing import Any

import pytest
from click.testing import CliRunner

from reusecheck.analysis import analyze
from reusecheck.analysis.findings.catalogue import Finding
from reusecheck.analysis.model import ExpectationResult, KeepAliveHint, RequestRow
from reusecheck.cli import main
from reusecheck.report import discover_json
from reusecheck.report import json as json_report
from reusecheck.server.misbehave import MisbehavingServer
from tests.misbehaving import MisbehavingThread
from tests.records import is_discover_record, load, load_discover, names


def _strict(text: str) -> Any:
    def refuse(constant: str) -> Any:
        raise AssertionError(f"{constant} in JSON output")

    return json.loads(text, parse_constant=refuse)


@pytest.mark.parametrize("name", names())
def test_every_recorded_run_renders_as_strict_json(name: str) -> None:
    if is_discover_record(name):
        _strict(discover_json.dumps(load_discover(name).report()))
    else:
        _strict(json_report.dumps(analyze(load(name))))


def test_numbers_that_are_not_finite_become_null() -> None:
    a = analyze(load("healthy"))
    inf, nan = math.inf, math.nan
    row: RequestRow = replace(
        a.requests[0], keep_alive=KeepAliveHint(inf, None), idle_time_s=nan, ended_at_s=-inf
    )
    bad = replace(
        a,
        requests=(row, *a.requests[1:]),
        server=replace(a.server, keepalive_hint=KeepAliveHint(nan, 3), idle_timeout_s=inf),
        findings=(Finding("pool-churn", "warning", "m", "r", {"times_s": [inf, 1.5, nan]}),),
        verdict=replace(
            a.verdict, expectations=(ExpectationResult("min-reuse-ratio", True, "d", nan),)
        ),
        options={**a.options, "idle_timeout_s": inf},
    )
    doc = _strict(json_report.dumps(bad))
    first = doc["requests"][0]
    assert first["keep_alive"] == {"timeout_s": None, "max": None}
    assert first["idle_time_s"] is None and first["ended_at_s"] is None
    assert doc["server"]["keepalive_hint"] == {"timeout_s": None, "max": 3}
    assert doc["server"]["idle_timeout_s"] is None
    assert doc["findings"][0]["evidence"]["times_s"] == [None, 1.5, None]
    assert doc["verdict"]["expectations"][0]["value"] is None
    assert doc["options"]["idle_timeout_s"] is None


def test_a_discover_document_with_numbers_that_are_not_finite() -> None:
    run = load_discover(next(n for n in names() if is_discover_record(n)))
    report = replace(run.report(), duration_s=math.inf, options={"max_wait_s": math.nan})
    doc = _strict(discover_json.dumps(report))
    assert doc["summary"]["duration_s"] is None
    assert doc["options"]["max_wait_s"] is None


def test_a_server_sending_infinite_keep_alive_hints_gets_valid_json() -> None:
    args = ["--json", "--requests", "2", "--idle", "0", "--concurrency", "0", "--timeout", "2"]
    with MisbehavingThread("keepalive-inf") as server:
        assert isinstance(server, MisbehavingServer)
        result = CliRunner().invoke(main, ["probe", server.url, *args])
    assert result.exit_code == 0, result.output
    doc = _strict(result.stdout)
    assert [r["keep_alive"] for r in doc["requests"]] == [None, None]
    assert doc["server"]["keepalive_hint"] is None
