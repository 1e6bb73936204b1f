"""The CI outputs of every command: ``run`` has probe's (--har, --junit, --output-dir,
--svg, --max-total-requests); ``discover`` has --junit (a test case per measurement)
and --output-dir (report.json, events.ndjson, report.svg)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from reusecheck.cli import main
from reusecheck.server import ServerConfig, ServerThread
from tests.commands.child import whole_events, whole_har, whole_junit, whole_output_dir


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    with ServerThread(ServerConfig(max_requests=3)) as srv:
        yield srv.url


def test_run_writes_every_ci_output(url: str, tmp_path: Path) -> None:
    out, har, junit = tmp_path / "out", tmp_path / "run.har", tmp_path / "junit.xml"
    r = CliRunner().invoke(
        main,
        [
            *("run", "builtin:probe", url, "--set", "idle=0", "--output-dir", str(out), "--svg"),
            *("--har", str(har), "--junit", str(junit)),
        ],
    )
    assert r.exit_code in (0, 1), r.output
    doc = whole_output_dir(out, svg=True)
    assert doc["options"]["scenario"]["name"] == "probe"
    assert len(whole_har(har)["log"]["entries"]) == doc["summary"]["requests"]
    cases = whole_junit(junit).findall("testsuite/testcase")
    assert [c.get("name") for c in cases] == [e["name"] for e in doc["verdict"]["expectations"]]


def test_run_has_the_ceiling_its_message_names(url: str) -> None:
    r = CliRunner().invoke(main, ["run", "builtin:probe", url, "--max-total-requests", "3"])
    assert r.exit_code == 2
    assert "over the ceiling of 3; raise it with --max-total-requests" in r.stderr
    ok = CliRunner().invoke(
        main, ["run", "builtin:probe", url, "--set", "idle=0", "--max-total-requests", "14"]
    )
    assert ok.exit_code in (0, 1), ok.output


def test_discover_junit_and_output_dir(url: str, tmp_path: Path) -> None:
    out, junit = tmp_path / "out", tmp_path / "junit.xml"
    r = CliRunner().invoke(
        main,
        [
            *("discover", url, "--only", "max-requests,tls", "--json", "--output-dir", str(out)),
            *("--svg", "--junit", str(junit)),
        ],
    )
    assert r.exit_code == 0, r.output
    assert {p.name for p in out.iterdir()} == {"report.json", "events.ndjson", "report.svg"}
    doc = json.loads((out / "report.json").read_text())
    assert doc == json.loads(r.stdout)
    assert doc["discover"]["max_requests"]["count"] == 3
    whole_events(out / "events.ndjson")
    root = whole_junit(junit)
    suite = root.find("testsuite")
    assert suite is not None
    cases = {c.get("name"): c for c in suite.findall("testcase")}
    assert list(cases) == ["max-requests", "tls"]
    assert cases["max-requests"].find("failure") is None
    assert "3" in (cases["max-requests"].findtext("system-out") or "")
    assert cases["tls"].find("skipped") is not None  # TLS on http://: does not apply
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("2", "0", "0")


def test_discover_junit_shows_a_run_that_could_not_complete_as_errors(tmp_path: Path) -> None:
    gone = ServerThread(ServerConfig()).start()
    url = gone.url
    gone.stop()
    junit = tmp_path / "junit.xml"
    r = CliRunner().invoke(main, ["discover", url, "--only", "max-requests", "--junit", str(junit)])
    assert r.exit_code == 3
    case = whole_junit(junit).find("testsuite/testcase")
    assert case is not None
    error = case.find("error")
    assert error is not None and error.get("type") == "connect"


# -- one line per report (JSON Lines), written a row at a time ------------------------------


def test_the_compact_line_is_the_document_on_one_line_written_row_by_row() -> None:
    """watch's last line and several targets' lines: the same object as the JSON
    report, on one line, produced in pieces so millions of rows never sit in memory."""
    import json as _json

    from reusecheck.analysis import analyze
    from reusecheck.commands.outputs import compact, compact_chunks
    from reusecheck.report.json import to_document
    from tests.records import load

    analysis = analyze(load("probe-default"))
    pieces = list(compact_chunks(analysis, first={"type": "report"}))
    line = "".join(pieces)
    assert "\n" not in line and line == compact(analysis, first={"type": "report"})
    assert len(pieces) == len(analysis.requests) + 2  # head, a row each, tail
    want = {"type": "report", **to_document(analysis)}
    assert _json.loads(line) == want
    assert list(_json.loads(line)) == list(want)  # every key keeps its place
