"""Outputs that fail or go away (reusecheck/commands/writing.py, trace/sinks.py): a full
disk, a full or closed stdout, a reader that went away.

The promise: no traceback, one line naming the file (or stdout) and the OS reason, exit
3 (the run could not complete), every other output still written and whole; NDJSON only
in whole lines, the other files whole or absent.  A reader that went away (EPIPE) is not
a failure: the run's own exit code and error line stand, and nothing waits for the
deadline because of it.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from reusecheck.cli import main
from reusecheck.server import ServerConfig, ServerThread
from tests.commands.child import (
    clean_ending,
    run,
    start,
    whole_events,
    whole_har,
    whole_junit,
)
from tests.schema_check import check_report
from tests.test_hostile import _open_sockets

FAST = ("--idle", "0", "--requests", "3", "--concurrency", "2")


@pytest.fixture(scope="module")
def healthy() -> Iterator[ServerThread]:
    with ServerThread(ServerConfig()) as srv:
        yield srv


@pytest.fixture(scope="module")
def closing() -> Iterator[ServerThread]:
    """Connection: close on every response: reuse no, exit 1 (the run's own code)."""
    with ServerThread(ServerConfig(close_always=True)) as srv:
        yield srv


def _no_leftovers(directory: Path) -> None:
    """No temporary file of a write that failed is left behind."""
    assert [p.name for p in directory.iterdir() if p.name.startswith(".")] == []


# -- a full disk -----------------------------------------------------------------------


def test_events_to_a_full_device_in_process(healthy: ServerThread, tmp_path: Path) -> None:
    """/dev/full: the events fail, the run and every other output do not."""
    har, junit = tmp_path / "run.har", tmp_path / "junit.xml"
    before = _open_sockets()
    r = CliRunner().invoke(
        main,
        [
            *("probe", healthy.url, *FAST, "--json", "--events", "/dev/full"),
            *("--har", str(har), "--junit", str(junit)),
        ],
    )
    after = _open_sockets()
    assert r.exception is None or isinstance(r.exception, SystemExit), r.output
    assert r.exit_code == 3, r.output
    check_report(r.stdout)
    assert r.stderr.splitlines()[-1] == (
        "reusecheck: cannot write '/dev/full': No space left on device"
    )
    whole_har(har)
    whole_junit(har.parent / "junit.xml")
    assert after <= before, f"TCP sockets left open: {sorted(after - before)}"


def _fill_at(limit: int) -> None:
    """In the child: files may not grow past ``limit`` bytes, as on a disk that fills
    during the run (writes past it fail with EFBIG, a short write first)."""
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


def test_a_disk_that_fills_during_the_run(healthy: ServerThread, tmp_path: Path) -> None:
    events, har, junit = tmp_path / "events.ndjson", tmp_path / "run.har", tmp_path / "j.xml"
    r = run(
        "probe", healthy.url, *FAST, "--json", "--events", str(events),
        "--har", str(har), "--junit", str(junit),
        preexec_fn=lambda: _fill_at(4000),
    )  # fmt: skip
    clean_ending(r.stderr)
    assert r.returncode == 3, r.stderr
    check_report(r.stdout)  # stdout is a pipe: not limited
    failures = [ln for ln in r.stderr.splitlines() if "cannot write" in ln]
    assert failures == [
        f"reusecheck: cannot write {str(events)!r}: File too large",
        f"reusecheck: cannot write {str(har)!r}: File too large",
    ]
    assert 0 < events.stat().st_size <= 4000  # cut back to its last whole line
    assert whole_events(events, complete=False)
    assert not har.exists()  # whole or not at all
    whole_junit(junit)  # small enough: still written
    _no_leftovers(tmp_path)


def test_a_failed_file_keeps_the_old_one_whole(healthy: ServerThread, tmp_path: Path) -> None:
    har = tmp_path / "run.har"
    har.write_text('{"an": "older run"}')
    r = run("probe", healthy.url, *FAST, "--har", str(har), preexec_fn=lambda: _fill_at(200))
    clean_ending(r.stderr)
    assert r.returncode == 3
    assert json.loads(har.read_text()) == {"an": "older run"}
    _no_leftovers(tmp_path)


# -- stdout full, closed, or gone ------------------------------------------------------


@pytest.mark.parametrize("as_json", [True, False])
def test_a_full_stdout(healthy: ServerThread, tmp_path: Path, as_json: bool) -> None:
    junit = tmp_path / "junit.xml"
    args = ["probe", healthy.url, *FAST, "--junit", str(junit)] + (["--json"] if as_json else [])
    with open("/dev/full", "w") as full:
        r = run(*args, stdout=full, stderr=subprocess.PIPE, capture_output=False)
    clean_ending(r.stderr)
    assert r.returncode == 3, r.stderr
    full = "reusecheck: cannot write to stdout: No space left on device"
    assert r.stderr.splitlines()[-1] == full
    whole_junit(junit)


def test_a_closed_stdout(healthy: ServerThread, tmp_path: Path) -> None:
    """``>&-``: descriptor 1 closed before the start."""
    events = tmp_path / "events.ndjson"
    r = run(
        "probe", healthy.url, *FAST, "--json", "--events", str(events),
        preexec_fn=lambda: os.close(1), stdout=None, stderr=subprocess.PIPE,
        capture_output=False,
    )  # fmt: skip
    clean_ending(r.stderr)
    assert r.returncode == 3, r.stderr
    assert r.stderr.splitlines()[-1] == "reusecheck: cannot write to stdout: Bad file descriptor"
    whole_events(events)


def test_events_to_a_closed_stdout(healthy: ServerThread) -> None:
    r = run(
        "probe", healthy.url, *FAST, "--events", "-",
        preexec_fn=lambda: os.close(1), stdout=None, stderr=subprocess.PIPE,
        capture_output=False,
    )  # fmt: skip
    clean_ending(r.stderr)
    assert r.returncode == 3
    assert "reusecheck: cannot write to stdout: Bad file descriptor" in r.stderr.splitlines()


@pytest.mark.parametrize(("server", "code"), [("healthy", 0), ("closing", 1), ("unreachable", 3)])
def test_a_reader_that_went_away_keeps_the_runs_exit_code(
    server: str, code: int, request: pytest.FixtureRequest
) -> None:
    """``reusecheck probe URL --json | true``: the reader is gone before the report."""
    if server == "unreachable":
        gone = ServerThread(ServerConfig()).start()
        url = gone.url
        gone.stop()
    else:
        url = request.getfixturevalue(server).url
    child = start("probe", url, *FAST, "--json")
    assert child.stdout is not None
    child.stdout.close()  # as `| true` does
    started = time.monotonic()
    _, stderr = child.communicate(timeout=30)
    clean_ending(stderr)
    assert child.returncode == code, stderr
    assert time.monotonic() - started < 10.0
    lines = stderr.splitlines()
    assert lines[0].startswith("verdict: ")  # the human text still reaches stderr
    assert "cannot write" not in stderr
    if code == 3:
        assert lines[-1].startswith("reusecheck: connect: ")


def test_events_to_a_reader_that_reads_one_line(closing: ServerThread) -> None:
    """``--events - | head -1``: the writing stops at EPIPE, the run goes on to its own
    ending (exit 1 here, the error line on stderr), without waiting for the deadline."""
    child = start("probe", closing.url, "--idle", "0.5", "--deadline", "60", "--events", "-")
    assert child.stdout is not None
    first = child.stdout.readline()
    assert json.loads(first)["event"] == "get_conn"
    child.stdout.close()
    started = time.monotonic()
    _, stderr = child.communicate(timeout=30)
    clean_ending(stderr)
    assert child.returncode == 1, stderr
    assert time.monotonic() - started < 10.0  # nowhere near --deadline 60
    assert stderr.rstrip().splitlines()[-1].startswith("verdict: FAIL · reuse no")
