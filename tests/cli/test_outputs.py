"""Several targets in one run, and the files a run leaves for other tools."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from reusecheck.cli import main
from reusecheck.server import ServerConfig, ServerThread
from tests.schema_check import check_event, check_report

FAST = ("--idle", "0", "--concurrency", "2", "--requests", "2")


def invoke(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[str, str, str]]:
    with (
        ServerThread(ServerConfig()) as good,
        ServerThread(ServerConfig(close_always=True)) as closing,
    ):
        down = ServerThread(ServerConfig()).start()
        gone = down.url
        down.stop()
        yield good.url, closing.url, gone


def test_several_targets_json_lines_in_order_and_worst_exit(servers: tuple[str, ...]) -> None:
    good, closing, gone = servers
    r = invoke("probe", good, closing, gone, "--json", *FAST)
    reports = [json.loads(line) for line in r.stdout.splitlines()]
    assert [d["target"] for d in reports] == [good, closing, gone]
    for d in reports:
        check_report(d)
    assert [d["verdict"]["ok"] for d in reports] == [True, False, False]
    assert reports[2]["error"]["kind"] == "connect"
    assert r.exit_code == 3  # the worst: unreachable
    assert invoke("probe", good, closing, "--json", *FAST).exit_code == 1
    assert invoke("probe", good, good, *FAST).exit_code == 0


def test_summary_table_for_several_targets(servers: tuple[str, ...]) -> None:
    good, closing, _ = servers
    r = invoke("probe", good, closing, *FAST)
    rows = [ln for ln in r.stdout.splitlines() if ln.strip().startswith("http://")]
    assert len(rows) == 2
    assert "OK · yes" in rows[0] and "FAIL · no" in rows[1]
    assert rows[1].rstrip().endswith("no-keepalive")  # why: its first finding


def test_targets_file_with_comments(servers: tuple[str, ...], tmp_path: Path) -> None:
    good, closing, _ = servers
    listing = tmp_path / "targets.txt"
    listing.write_text(f"# staging\n{good}   # the healthy one\n\n{closing}\n")
    r = invoke("probe", "--targets", str(listing), "--json", *FAST)
    assert [json.loads(ln)["target"] for ln in r.stdout.splitlines()] == [good, closing]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("probe",), "give a URL"),
        (("probe", "--targets", "/nonexistent/targets.txt"), "cannot read"),
        (("probe", "--targets", "/"), "is a directory"),
        (("probe", "http://127.0.0.1:1/", "http://127.0.0.1:2/", "--events", "e.nd"), "--events"),
    ],
)
def test_bad_target_input_exits_2(args: tuple[str, ...], needle: str) -> None:
    r = invoke(*args)
    assert r.exit_code == 2 and needle in r.output


def test_output_dir_single_target(servers: tuple[str, ...], tmp_path: Path) -> None:
    good, _, _ = servers
    out = tmp_path / "out"
    r = invoke("probe", good, "--output-dir", str(out), "--svg", *FAST)
    assert r.exit_code == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "events.ndjson",
        "report.json",
        "report.svg",
        "run.har",
    ]
    check_report(json.loads((out / "report.json").read_text()))
    for line in (out / "events.ndjson").read_text().splitlines():
        check_event(json.loads(line))
    har = json.loads((out / "run.har").read_text())
    assert len(har["log"]["entries"]) == 6
    assert (out / "report.svg").read_text().lstrip().startswith("<svg")


def test_output_dir_several_targets(servers: tuple[str, ...], tmp_path: Path) -> None:
    good, closing, _ = servers
    out = tmp_path / "out"
    r = invoke(
        "probe", good, closing, "--output-dir", str(out), "--junit", str(out / "j.xml"), *FAST
    )
    assert r.exit_code == 1
    dirs = sorted(p.name for p in out.iterdir() if p.is_dir())
    assert len(dirs) == 2 and dirs[0].startswith("01-127.0.0.1")
    assert len((out / "reports.jsonl").read_text().splitlines()) == 2
    suites = ET.parse(out / "j.xml").getroot().findall("testsuite")
    assert [s.get("failures") for s in suites] == ["0", "1"]


def test_secrets_are_redacted_in_every_output(servers: tuple[str, ...], tmp_path: Path) -> None:
    good, _, _ = servers
    out = tmp_path / "out"
    secret_url = good + "?token=url-s3cret"
    r = invoke(
        "probe",
        secret_url,
        "--json",
        "--output-dir",
        str(out),
        "--svg",
        "--har",
        str(tmp_path / "x.har"),
        "--junit",
        str(tmp_path / "j.xml"),
        *FAST,
        "-H",
        "Authorization: Bearer auth-s3cret",
        "-H",
        "Cookie: sid=cookie-s3cret",
    )
    assert r.exit_code == 0
    texts = [r.stdout, r.stderr] + [
        p.read_text() for p in [*out.iterdir(), tmp_path / "x.har", tmp_path / "j.xml"]
    ]
    for text in texts:
        for secret in ("auth-s3cret", "cookie-s3cret", "url-s3cret"):
            assert secret not in text


def test_unwritable_output_is_exit_2(servers: tuple[str, ...], tmp_path: Path) -> None:
    good, _, _ = servers
    blocker = tmp_path / "file"
    blocker.write_text("x")
    r = invoke("probe", good, "--har", str(blocker / "x.har"), *FAST)
    assert r.exit_code == 2 and "cannot write" in r.stderr


def test_schema_command_prints_the_schema() -> None:
    r = invoke("schema")
    doc = json.loads(r.stdout)
    assert doc["$schema"].endswith("2020-12/schema")
    assert {"report", "event"} <= set(doc["$defs"])


def test_secrets_are_redacted_in_the_terminal_report(servers: tuple[str, ...]) -> None:
    good, _, _ = servers
    r = invoke(
        "probe",
        good + "?api_key=url-s3cret",
        *FAST,
        "-H",
        "Authorization: Basic auth-s3cret",
        "-H",
        "X-Api-Key: key-s3cret",
    )
    assert r.exit_code == 0
    for secret in ("url-s3cret", "auth-s3cret", "key-s3cret"):
        assert secret not in r.stdout and secret not in r.stderr
