"""``--json`` keeps stdout for the JSON and gives stderr the human text: the verdict line
the terminal report ends with (one per target with several), then the error line."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from click.testing import CliRunner

from reusecheck.cli import main
from reusecheck.server import ServerConfig, ServerThread
from tests.schema_check import check_report, check_reports

FAST = ("--idle", "0", "--requests", "2", "--concurrency", "2")


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[str, str]]:
    with (
        ServerThread(ServerConfig()) as good,
        ServerThread(ServerConfig(close_always=True)) as closing,
    ):
        yield good.url, closing.url


def _last_line(text: str) -> str:
    return text.rstrip().splitlines()[-1]


def test_json_prints_the_terminal_reports_verdict_line_on_stderr(
    servers: tuple[str, str],
) -> None:
    good, _ = servers
    terminal = CliRunner().invoke(main, ["probe", good, *FAST])
    as_json = CliRunner().invoke(main, ["probe", good, *FAST, "--json"])
    assert as_json.exit_code == terminal.exit_code == 0
    check_report(as_json.stdout)
    assert as_json.stderr.splitlines() == [_last_line(terminal.stdout)]
    assert as_json.stderr.startswith("verdict: OK · reuse yes · ")


def test_json_with_several_targets_prints_one_verdict_line_each(
    servers: tuple[str, str],
) -> None:
    good, closing = servers
    r = CliRunner().invoke(main, ["probe", good, closing, *FAST, "--json"])
    assert r.exit_code == 1
    assert [d["target"] for d in check_reports(r.stdout)] == [good, closing]
    lines = r.stderr.splitlines()
    assert lines[0].startswith(f"{good}: verdict: OK · reuse yes")
    assert lines[1].startswith(f"{closing}: verdict: FAIL · reuse no")


def test_json_run_and_demo_too(servers: tuple[str, str]) -> None:
    good, _ = servers
    r = CliRunner().invoke(main, ["run", "builtin:probe", good, "--set", "idle=0", "--json"])
    check_report(r.stdout)
    assert r.stderr.startswith("verdict: ")
    d = CliRunner().invoke(main, ["demo", "--idle", "0", "--json"])
    check_report(d.stdout)
    assert d.stderr.startswith("verdict: OK · reuse ")


def test_discover_json_prints_its_summary_line_on_stderr(servers: tuple[str, str]) -> None:
    good, _ = servers
    args = ["discover", good, "--only", "max-requests", "--max-requests", "3"]
    terminal = CliRunner().invoke(main, args)
    as_json = CliRunner().invoke(main, [*args, "--json"])
    assert as_json.exit_code == terminal.exit_code == 0
    assert json.loads(as_json.stdout)["command"] == "discover"
    assert as_json.stderr.splitlines() == [_last_line(terminal.stdout)]
    assert as_json.stderr.startswith("discover: max requests at least 3")
