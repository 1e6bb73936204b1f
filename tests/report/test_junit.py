"""JUnit XML: one suite per target, one case per expectation, read back as CI reads it.

``check_junit`` applies the rules of the JUnit XSD that Jenkins' xunit plugin ships
(junit-10.xsd, the common denominator GitLab and the GitHub report actions also read):
``testsuites`` holds only ``testsuite``; a suite needs ``name``, ``tests``,
``failures``, ``errors``; ``time`` matches SUREFIRE_TIME; a case needs ``name``;
``failure`` and ``error`` carry only ``type`` and ``message``; a property needs
``name`` and ``value``.  The counts must add up.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pytest

from reusecheck.analysis import (
    Analysis,
    Expectation,
    ExpectationResult,
    RunError,
    RunRecord,
    analyze,
)
from reusecheck.report.junit import classname, to_junit
from reusecheck.server import ServerConfig, ServerThread
from reusecheck.trace.redact import REDACTED
from tests.records import load
from tests.schema_check import probe, to_events

SUREFIRE_TIME = re.compile(r"(([0-9]{0,3},)*[0-9]{3}|[0-9]{0,3})*(\.[0-9]*)?")
SUITE_CHILDREN = {"testsuite", "properties", "testcase", "system-out", "system-err"}
CASE_CHILDREN = {"skipped", "error", "failure", "system-out", "system-err"}


def check_junit(xml: str) -> ET.Element:
    assert xml.startswith('<?xml version="1.0" encoding="UTF-8"?>\n')
    root = ET.fromstring(xml.encode("utf-8"))
    assert root.tag == "testsuites"
    assert {child.tag for child in root} <= {"testsuite"}
    totals = {"tests": 0, "failures": 0, "errors": 0}
    for suite in root:
        for attr in ("name", "tests", "failures", "errors"):
            assert suite.get(attr) is not None, f"testsuite without {attr}"
        assert SUREFIRE_TIME.fullmatch(suite.get("time", ""))
        assert {child.tag for child in suite} <= SUITE_CHILDREN
        cases = suite.findall("testcase")
        assert int(suite.get("tests", "")) == len(cases)
        assert int(suite.get("failures", "")) == sum(c.find("failure") is not None for c in cases)
        assert int(suite.get("errors", "")) == sum(c.find("error") is not None for c in cases)
        for case in cases:
            assert case.get("name") and case.get("classname")
            assert {child.tag for child in case} <= CASE_CHILDREN
            for problem in case:
                assert set(problem.attrib) <= {"type", "message"}
        for prop in suite.iter("property"):
            assert prop.get("name") is not None and prop.get("value") is not None
        for key in totals:
            totals[key] += int(suite.get(key, ""))
    for key, value in totals.items():
        assert root.get(key) == str(value)
    assert SUREFIRE_TIME.fullmatch(root.get("time", ""))
    return root


def _cases(suite: ET.Element) -> dict[str, ET.Element]:
    return {c.get("name", ""): c for c in suite.findall("testcase")}


def _expecting(record: RunRecord, *names: str) -> Analysis:
    return analyze(replace(record, expectations=tuple(Expectation(n) for n in names)))


def test_one_suite_per_target_and_one_case_per_expectation() -> None:
    healthy = analyze(load("healthy"))
    closing = analyze(load("connection-close"))
    root = check_junit(to_junit([("http://a.test/", healthy), ("http://b.test:8080/x", closing)]))
    assert root.get("name") == "reusecheck"
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("2", "1", "0")
    ok, failed = root.findall("testsuite")
    assert ok.get("name") == "http://a.test/" and failed.get("name") == "http://b.test:8080/x"
    (case,) = ok.findall("testcase")
    assert case.get("classname") == "reusecheck.a.test" and case.get("name") == "reuse"
    assert list(case) == []
    (case,) = failed.findall("testcase")
    assert case.get("classname") == "reusecheck.b.test"
    failure = case.find("failure")
    assert failure is not None and failure.get("type") == "expectation"
    detail = closing.verdict.expectations[0].detail
    assert failure.get("message") == detail and failure.text and detail in failure.text
    props = {p.get("name"): p.get("value") for p in failed.iter("property")}
    assert props["reuse"] == "no" and props["findings"] == "no-keepalive"
    assert props["connections_opened"] == "5" and props["reuse_ratio"] == "0.00"
    out = failed.findtext("system-out") or ""
    assert "verdict: FAILED" in out and "no-keepalive (error)" in out


def test_every_expectation_is_a_case_with_its_own_outcome() -> None:
    record = load("alpn-fallback")
    a = _expecting(record, "reuse", "h2", "multiplex")
    a = replace(
        a,
        verdict=replace(
            a.verdict,
            expectations=(
                *a.verdict.expectations,
                ExpectationResult("min-reuse-ratio", True, "reuse ratio 0.50 >= 0.5", 0.5),
            ),
        ),
    )
    (suite,) = check_junit(to_junit([(record.target, a)]))
    cases = _cases(suite)
    assert list(cases) == ["reuse", "h2", "multiplex", "min-reuse-ratio"]
    assert cases["h2"].find("failure") is not None
    assert cases["min-reuse-ratio"].find("failure") is None
    assert suite.get("failures") == str(sum(not e.ok for e in a.verdict.expectations))


def test_a_run_error_is_an_error_on_each_expectation() -> None:
    record = load("unreachable")
    assert record.error is not None
    a = _expecting(record, "reuse", "none")
    root = check_junit(to_junit([(record.target, a)]))
    (suite,) = root
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("2", "0", "2")
    for case in suite.findall("testcase"):
        error = case.find("error")
        assert error is not None and case.find("failure") is None
        assert error.get("type") == "connect"
        assert error.get("message") == f"connect: {record.error.message}"
        assert error.get("message", "").endswith("failed: Connection refused")
    assert "error: connect" in (suite.findtext("system-out") or "")


def test_markup_and_control_characters_survive() -> None:
    a = analyze(load("healthy"))
    evil = 'status <500> & "quotes" \x00\x1b[31m'
    broken = (ExpectationResult('step "a<b": reused', False, evil),)
    a = replace(a, verdict=replace(a.verdict, ok=False, expectations=broken))
    xml = to_junit([("http://x.test/?q=<&>", a)])
    (suite,) = check_junit(xml)
    (case,) = suite.findall("testcase")
    assert case.get("name") == 'step "a<b": reused'
    failure = case.find("failure")
    assert failure is not None
    assert failure.get("message") == 'status <500> & "quotes" \ufffd\ufffd[31m'
    assert suite.get("name") == "http://x.test/?q=<&>"


def test_target_secrets_are_redacted_unless_revealed() -> None:
    a = analyze(load("healthy"))
    target = "https://bob:pa55@api.example.test/?token=T0K"
    xml = to_junit([(target, a)])
    assert "pa55" not in xml and "T0K" not in xml
    (suite,) = check_junit(xml)
    assert suite.get("name") == f"https://bob:{REDACTED}@api.example.test/?token={REDACTED}"
    assert suite.find("testcase").get("classname") == "reusecheck.api.example.test"  # type: ignore[union-attr]
    assert "pa55" in to_junit([(target, a)], reveal=True)


def test_timestamp_and_empty_runs() -> None:
    a = analyze(load("healthy"))
    a = replace(a, verdict=replace(a.verdict, expectations=()))
    xml = to_junit([("http://x.test/", a)], timestamp=datetime(2024, 5, 1, 12, 0, 0, 250000))
    (suite,) = check_junit(xml)
    assert suite.get("timestamp") == "2024-05-01T12:00:00"
    assert [c.get("name") for c in suite.findall("testcase")] == ["run"]
    root = check_junit(to_junit([]))
    assert (root.get("tests"), root.get("time")) == ("0", "0.000")


def test_classname() -> None:
    assert classname("https://staging.example.com:8443/health") == "reusecheck.staging.example.com"
    assert classname("http://[::1]:8080/") == "reusecheck.::1"
    assert classname("not a url") == "reusecheck.not a url"


@pytest.mark.parametrize(
    ("config", "outcome"),
    [(ServerConfig(), None), (ServerConfig(close_always=True), "failure"), (None, "error")],
)
def test_real_runs(tmp_path: Path, config: ServerConfig | None, outcome: str | None) -> None:
    """Probe the built-in server (or a closed port), rebuild the analysis from the event
    stream, and read the JUnit file back: exit 0 passes, 1 fails, 3 errs."""
    args = ("--idle", "0", "--min-reuse-ratio", "0.5")
    with ServerThread(config or ServerConfig()) as srv:
        url = srv.url
        if config is not None:
            run = probe(url, *args, events_path=tmp_path / "ev.ndjson")
    if config is None:
        run = probe(url, *args, events_path=tmp_path / "ev.ndjson")
    assert run.result.exit_code == {None: 0, "failure": 1, "error": 3}[outcome]
    error = run.report["error"]
    expected = (Expectation("reuse"), Expectation("min-reuse-ratio", 0.5))
    record = RunRecord(url, to_events(run.events), expected, RunError(**error) if error else None)
    (suite,) = check_junit(to_junit([(url, analyze(record))]))
    tags = {next((p.tag for p in case), None) for case in suite.findall("testcase")}
    assert outcome in tags and tags <= {None, outcome}
