"""Options that cannot work together, and output paths that cannot be written: refused
with exit 2 and one line saying why, before anything is sent (the server sees no
connection)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from reusecheck.cli import main
from reusecheck.server import ServerConfig, ServerThread


@pytest.fixture(scope="module")
def server() -> Iterator[ServerThread]:
    with ServerThread(ServerConfig()) as srv:
        yield srv


def _refused(server: ServerThread, *args: str) -> Result:
    before = len(server.connections)
    r = CliRunner().invoke(main, list(args))
    assert r.exit_code == 2, r.output
    assert "Traceback" not in r.output
    assert len(server.connections) == before, "something was sent before the refusal"
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith("Error: ")]
    assert len(errors) == 1, r.stderr
    return r


HTTP_CASES = [
    (("--http2",), "http", "--http2 needs an https:// URL"),
    (("--h2c",), "https", "--h2c is HTTP/2 over cleartext, for http:// URLs"),
    (("--http1", "--http2", "--h2c"), "http", "--http1 and --http2 and --h2c contradict"),
    (("--http2", "--http1"), "https", "--http1 and --http2 contradict"),
    (("--h2c", "--http1"), "http", "--http1 and --h2c contradict"),
]


@pytest.mark.parametrize(("flags", "scheme", "says"), HTTP_CASES)
@pytest.mark.parametrize("command", ["probe", "discover"])
def test_contradictory_protocol_options(
    server: ServerThread, command: str, flags: tuple[str, ...], scheme: str, says: str
) -> None:
    url = server.url.replace("http://", f"{scheme}://")
    r = _refused(server, command, url, *flags)
    assert says in r.stderr


def test_demo_refuses_http2_on_its_cleartext_server(server: ServerThread) -> None:
    r = CliRunner().invoke(main, ["demo", "--http2"])
    assert r.exit_code == 2 and "--http2 needs an https:// URL" in r.stderr


@pytest.mark.parametrize(
    "option", [("--expect", "reuse"), ("--min-reuse-ratio", "0.5"), ("--max-connections", "3")]
)
def test_demo_refuses_expectations_it_would_ignore(option: tuple[str, str]) -> None:
    r = CliRunner().invoke(main, ["demo", *option])
    assert r.exit_code == 2
    assert f"demo only reports (it probes its own server), so {option[0]} does not apply" in (
        r.stderr
    )
    assert option[0] not in CliRunner().invoke(main, ["demo", "--help"]).stdout


def test_svg_without_output_dir(server: ServerThread) -> None:
    for command in (["probe", server.url], ["run", "builtin:probe", server.url]):
        r = _refused(server, *command, "--svg")
        assert "--svg writes report.svg into --output-dir DIR" in r.stderr
    r = _refused(server, "discover", server.url, "--svg")
    assert "give --output-dir too" in r.stderr


def _paths(tmp_path: Path) -> list[tuple[str, str, str]]:
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    missing = tmp_path / "missing" / "deeper"
    return [
        ("--output-dir", str(a_file), "exists and is not a directory"),
        ("--output-dir", str(a_file / "sub"), "is not a directory"),
        ("--har", str(missing / "run.har"), "does not exist"),
        ("--junit", str(missing / "junit.xml"), "does not exist"),
        ("--events", str(missing / "events.ndjson"), "does not exist"),
        ("--har", str(a_file / "run.har"), "is not a directory"),
        ("--junit", str(tmp_path), "is a directory"),
        ("--events", str(tmp_path), "is a directory"),
        ("--har", "/proc/self/run.har", "cannot write"),  # a directory nothing is written in
    ]


@pytest.mark.parametrize("case", range(9))
def test_output_paths_are_checked_before_the_run(
    server: ServerThread, tmp_path: Path, case: int
) -> None:
    option, path, says = _paths(tmp_path)[case]
    r = _refused(server, "probe", server.url, "--idle", "0", option, path)
    assert says in r.stderr and f"'{option}'" in r.stderr


@pytest.mark.parametrize("command", ["run", "discover", "demo"])
def test_every_command_checks_its_output_paths(
    server: ServerThread, tmp_path: Path, command: str
) -> None:
    missing = str(tmp_path / "missing" / "junit.xml")
    args = {
        "run": ["run", "builtin:probe", server.url],
        "discover": ["discover", server.url],
        "demo": ["demo"],
    }[command]
    r = CliRunner().invoke(main, [*args, "--junit", missing])
    assert r.exit_code == 2 and "does not exist" in r.stderr


def test_files_inside_the_output_dir_it_creates_are_allowed(
    server: ServerThread, tmp_path: Path
) -> None:
    """docs/ci.md's recipe: --junit inside an --output-dir that does not exist yet."""
    out = tmp_path / "reusecheck-out" / "self"
    r = CliRunner().invoke(
        main,
        [
            *("probe", server.url, "--idle", "0", "--output-dir", str(out), "--svg"),
            *("--junit", str(out / "junit.xml")),
        ],
    )
    assert r.exit_code == 0, r.output
    assert (out / "junit.xml").exists() and (out / "report.svg").exists()
