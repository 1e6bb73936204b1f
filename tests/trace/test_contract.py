"""The event stream's contract (tests/trace/contract.py) holds however a run ends.

The checker is tested on small streams first, so a rule that never fires shows here.
Then real runs: the CLI against every misbehaving server, ``--deadline`` cutting a run
short at each kind of wait (TLS handshake, body, first byte, idle gap), Ctrl-C on a
``probe`` and a ``discover`` in a child process, and every recorded run.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from reusecheck.cli import main
from reusecheck.server import ServerConfig, ServerThread
from reusecheck.server.misbehave import KINDS, MisbehavingServer
from tests.records import event_lines, names
from tests.trace.contract import violations

ROOT = Path(__file__).resolve().parents[2]
# Generous: these bounds prove "no hang", they do not time anything.
SLACK = 5.0

Line = dict[str, Any]


# -- the checker on small streams ------------------------------------------------------


def _ev(event: str, request: int | None, conn: int | None, **fields: Any) -> Line:
    return {"t": 0.0, "event": event, "request": request, "conn": conn, **fields}


def _timed(lines: list[Line]) -> list[Line]:
    return [{**e, "t": round(0.001 * n, 6)} for n, e in enumerate(lines)]


def _one_request() -> list[Line]:
    """A fresh HTTP/1.1 connection carrying one request, closed at the end of the run."""
    return _timed(
        [
            _ev("get_conn", 0, None, key="http://h:80", method="GET", url="http://h/"),
            _ev("dns_start", 0, None, host="h"),
            _ev("dns_done", 0, None, addrs=["127.0.0.1"]),
            _ev("connect_start", 0, 1, addr="127.0.0.1:80"),
            _ev("connect_done", 0, 1, local="127.0.0.1:5000", remote="127.0.0.1:80"),
            _ev("got_conn", 0, 1, reused=False, was_idle=False, idle_time_s=0.0),
            _ev("wrote_headers", 0, 1, headers=[]),
            _ev("wrote_request", 0, 1, bytes=10),
            _ev("got_first_byte", 0, 1),
            _ev("response_headers", 0, 1, status=200),
            _ev("body_done", 0, 1, bytes=3, complete=True),
            _ev("put_idle", 0, 1, ok=True, reason=None),
            _ev("request_done", 0, 1, status=200, error=None, retried=False),
            _ev("conn_closed", None, 1, closed_by="client", reason="end-of-run", requests=1),
        ]
    )


def _names(lines: list[Line]) -> list[str]:
    return [e["event"] for e in lines]


def _without(name: str) -> Callable[[list[Line]], list[Line]]:
    def edit(lines: list[Line]) -> list[Line]:
        i = _names(lines).index(name)
        return lines[:i] + lines[i + 1 :]

    return edit


def _append(*extra: Line) -> Callable[[list[Line]], list[Line]]:
    return lambda lines: _timed([*lines, *extra])


def _insert_before(name: str, *extra: Line) -> Callable[[list[Line]], list[Line]]:
    def edit(lines: list[Line]) -> list[Line]:
        i = _names(lines).index(name)
        return _timed([*lines[:i], *extra, *lines[i:]])

    return edit


def _replace(name: str, line: Line) -> Callable[[list[Line]], list[Line]]:
    def edit(lines: list[Line]) -> list[Line]:
        i = _names(lines).index(name)
        return [*lines[:i], {**line, "t": lines[i]["t"]}, *lines[i + 1 :]]

    return edit


def _move_to_end(name: str) -> Callable[[list[Line]], list[Line]]:
    def edit(lines: list[Line]) -> list[Line]:
        i = _names(lines).index(name)
        return _timed([*lines[:i], *lines[i + 1 :], lines[i]])

    return edit


def _swap_times(lines: list[Line]) -> list[Line]:
    out = [dict(e) for e in lines]
    out[3]["t"], out[4]["t"] = out[4]["t"], out[3]["t"]
    return out


BROKEN: dict[str, tuple[Callable[[list[Line]], list[Line]], str]] = {
    "dns_start without dns_done": (_without("dns_done"), "no dns_done follows"),
    "connect_done without connect_start": (_without("connect_start"), "without a connect_start"),
    "tls_start without tls_done": (
        _insert_before("got_conn", _ev("tls_start", 0, 1, server_name="h")),
        "no tls_done follows",
    ),
    "done for another conn": (
        _replace("connect_done", _ev("connect_done", 0, 2, local="a:1", remote="b:2")),
        "without a connect_start",
    ),
    "done with neither error nor result": (
        _replace("dns_done", _ev("dns_done", 0, None)),
        "neither error nor addrs",
    ),
    "got_conn on a failed dial": (
        _replace("connect_done", _ev("connect_done", 0, 1, error="refused")),
        "whose dial failed",
    ),
    "first event is not get_conn": (_without("get_conn"), "first event is not get_conn"),
    "no request_done": (_without("request_done"), "request 0: no request_done"),
    "two request_done": (
        _append(_ev("request_done", 0, 1, status=200, error=None)),
        "a second request_done",
    ),
    "body_done after request_done": (_move_to_end("body_done"), "body_done after request 0"),
    "got_conn after request_done": (
        _append(_ev("got_conn", 0, 1, reused=True)),
        "got_conn after request 0",
    ),
    "put_idle ok after request_done": (
        _move_to_end("put_idle"),
        "put_idle after request 0's request_done without body-not-drained",
    ),
    "retry without get_conn": (
        _insert_before("request_done", _ev("retry", 0, 1, attempt=2, reason="stale")),
        "with no get_conn between them",
    ),
    "retry at the end": (_append(_ev("retry", 0, 1, attempt=2)), "no get_conn follows"),
    "no conn_closed": (_without("conn_closed"), "conn 1 (connected on line 5): no conn_closed"),
    "conn_closed twice": (
        _append(_ev("conn_closed", None, 1, closed_by="server", reason="eof")),
        "conn 1 closed again",
    ),
    "event after conn_closed": (
        _append(_ev("idle_closed", None, 1, reason="eof")),
        "idle_closed after conn 1's conn_closed",
    ),
    "time goes back": (_swap_times, "goes back"),
    "unknown event": (_append(_ev("got_conn_info", None, 1)), "unknown event name"),
    "missing request key": (
        lambda lines: [*lines[:-1], {k: v for k, v in lines[-1].items() if k != "request"}],
        "missing request",
    ),
}


def test_the_checker_accepts_a_whole_stream() -> None:
    assert violations(_one_request()) == []
    assert violations([]) == []


@pytest.mark.parametrize("case", list(BROKEN))
def test_the_checker_names_each_break(case: str) -> None:
    edit, expected = BROKEN[case]
    found = violations(edit(_one_request()))
    assert any(expected in v for v in found), found


def test_the_checker_accepts_what_may_follow_request_done() -> None:
    """A stale retry, Connection: close, a dial ending late, an unread body at close."""
    lines = _timed(
        [
            _ev("get_conn", 0, None),
            _ev("connect_start", 0, 1, addr="a"),
            _ev("connect_done", 0, 1, local="l1", remote="a"),
            _ev("got_conn", 0, 1, reused=False),
            _ev("response_headers", 0, 1, status=200),
            _ev("body_done", 0, 1, complete=True),
            _ev("put_idle", 0, 1, ok=True),
            _ev("request_done", 0, 1, status=200, error=None),
            _ev("get_conn", 1, None),
            _ev("got_conn", 1, 1, reused=True, was_idle=True),
            _ev("wrote_headers", 1, 1),
            _ev("conn_closed", 1, 1, closed_by="server", reason="eof"),
            _ev("retry", 1, 1, attempt=2, reason="stale"),  # names the closed connection
            _ev("get_conn", 1, None),
            _ev("connect_start", 1, 2, addr="a"),
            _ev("connect_done", 1, 2, local="l2", remote="a"),
            _ev("got_conn", 1, 2, reused=False),
            _ev("response_headers", 1, 2, status=200, connection="close"),
            _ev("body_done", 1, 2, complete=True),
            _ev("conn_closed", 1, 2, closed_by="server", reason="connection-close-header"),
            _ev("request_done", 1, 2, status=200, error=None, retried=True),
            # Request 2 dials conn 3 and, before that dial ends, is handed conn 4 (which
            # request 3 dialled); it leaves its body unread.
            _ev("get_conn", 2, None),
            _ev("connect_start", 2, 3, addr="a"),
            _ev("get_conn", 3, None),
            _ev("connect_start", 3, 4, addr="a"),
            _ev("connect_done", 3, 4, local="l4", remote="a"),
            _ev("got_conn", 2, 4, reused=False),
            _ev("connect_done", 2, 3, local="l3", remote="a"),
            _ev("tls_start", 2, 3, server_name="h"),
            _ev("response_headers", 2, 4, status=200),
            _ev("request_done", 2, 4, status=200, error=None),
            _ev("tls_done", 2, 3, version="TLSv1.3"),  # the dial ends after the request
            _ev("got_conn", 3, 3, reused=False),
            _ev("response_headers", 3, 3, status=200),
            _ev("body_done", 3, 3, complete=True),
            _ev("put_idle", 3, 3, ok=True),
            _ev("request_done", 3, 3, status=200, error=None),
            _ev("get_conn", 4, None),
            _ev("connect_start", 4, 5, addr="a"),
            _ev("connect_done", 4, 5, error="refused"),  # a failed dial: nothing to close
            _ev("request_done", 4, None, status=None, error={"kind": "connect"}),
            _ev("put_idle", 2, 4, ok=False, reason="body-not-drained"),
            _ev("conn_closed", 2, 4, closed_by="client", reason="body-not-drained"),
            _ev("conn_closed", None, 3, closed_by="client", reason="end-of-run"),
        ]
    )
    assert violations(lines) == []


# -- real runs -------------------------------------------------------------------------


class _Misbehaving:
    """A misbehaving server on its own thread and loop, so the CLI runs as users run it."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.server: MisbehavingServer | None = None

    def __enter__(self) -> MisbehavingServer:
        self.thread.start()
        start = MisbehavingServer(self.kind).start()
        self.server = asyncio.run_coroutine_threadsafe(start, self.loop).result(10)
        return self.server

    def __exit__(self, *exc: object) -> None:
        assert self.server is not None
        asyncio.run_coroutine_threadsafe(self.server.close(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


def _target_args(server: MisbehavingServer, tmp_path: Path) -> list[str]:
    args = ["--h2c"] if server.kind.startswith("h2-") else []
    if server.ca_pem is not None:
        ca = tmp_path / "ca.pem"
        ca.write_bytes(server.ca_pem)
        args += ["--cacert", str(ca)]
    return args


def _read_events(path: Path) -> list[Line]:
    text = path.read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _run_cli(args: list[str], events: Path, deadline: float) -> tuple[int, dict[str, Any]]:
    """Runs the CLI in-process with --events and --json; the exit code and the report."""
    started = time.monotonic()
    result = CliRunner().invoke(main, [*args, "--events", str(events), "--json"])
    took = time.monotonic() - started
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert "Traceback" not in result.output
    assert took < deadline + SLACK, f"{args[0]} took {took:.1f} s"
    return result.exit_code, json.loads(result.stdout)


def _assert_contract(lines: list[Line], ending: str) -> None:
    assert lines, f"{ending}: no events written"
    found = violations(lines)
    assert found == [], f"{ending}: the event contract broke:\n" + "\n".join(found)


def _request_errors(lines: list[Line]) -> list[str]:
    return [e["error"]["kind"] for e in lines if e["event"] == "request_done" and e.get("error")]


@pytest.mark.parametrize("kind", list(KINDS))
def test_contract_holds_against_every_misbehaving_server(kind: str, tmp_path: Path) -> None:
    events = tmp_path / "events.ndjson"
    deadline = 3.0
    # A drip of one byte a second beats a per-read timeout above 1 s; only the deadline
    # ends it (tests/test_hostile.py does the same).
    timeout = 2.0 if kind == "drip" else 0.5
    with _Misbehaving(kind) as server:
        args = ["probe", server.url, *_target_args(server, tmp_path)]
        args += ["--requests", "2", "--idle", "0", "--concurrency", "2"]
        args += ["--timeout", str(timeout), "--deadline", str(deadline)]
        _run_cli(args, events, deadline)
    _assert_contract(_read_events(events), kind)


# (kind, --timeout, --deadline): the deadline fires first, inside the kind's wait.
CUT_SHORT = {
    "tls-handshake": ("tls-stall", 30.0, 1.0),
    "mid-body": ("drip", 30.0, 1.5),
    "first-byte": ("never-answer", 30.0, 1.0),
}


@pytest.mark.parametrize("ending", list(CUT_SHORT))
def test_deadline_cutting_a_request_short(ending: str, tmp_path: Path) -> None:
    kind, timeout, deadline = CUT_SHORT[ending]
    events = tmp_path / "events.ndjson"
    with _Misbehaving(kind) as server:
        args = ["probe", server.url, *_target_args(server, tmp_path)]
        args += ["--requests", "1", "--idle", "0", "--concurrency", "0"]
        args += ["--timeout", str(timeout), "--deadline", str(deadline)]
        code, doc = _run_cli(args, events, deadline)
    assert code == 3 and doc["error"]["kind"] == "deadline", doc.get("error")
    lines = _read_events(events)
    _assert_contract(lines, f"deadline {ending}")
    assert _request_errors(lines) == ["deadline"]


def test_deadline_during_an_idle_gap(tmp_path: Path) -> None:
    events = tmp_path / "events.ndjson"
    deadline = 1.0
    with ServerThread(ServerConfig()) as server:
        args = ["probe", server.url, "--requests", "1", "--idle", "10", "--concurrency", "0"]
        args += ["--deadline", str(deadline)]
        code, doc = _run_cli(args, events, deadline)
    assert code == 3 and doc["error"]["kind"] == "deadline", doc.get("error")
    lines = _read_events(events)
    _assert_contract(lines, "deadline in the idle gap")
    # The gap was cut, not a request: the one before it finished, the one after never began.
    assert [e["status"] for e in lines if e["event"] == "request_done"] == [200]
    assert _request_errors(lines) == []


@pytest.mark.parametrize("kind", ["never-answer", "drip"])
def test_discover_cut_short_by_its_deadline(kind: str, tmp_path: Path) -> None:
    events = tmp_path / "events.ndjson"
    deadline = 1.5
    with _Misbehaving(kind) as server:
        args = ["discover", server.url, "--samples", "2", "--max-wait", "30"]
        args += ["--timeout", "30", "--deadline", str(deadline)]
        code, doc = _run_cli(args, events, deadline)
    assert code == 3, doc.get("error")
    lines = _read_events(events)
    _assert_contract(lines, f"discover deadline ({kind})")
    assert set(_request_errors(lines)) == {"deadline"}


# -- Ctrl-C ----------------------------------------------------------------------------
#
# The child writes --events to a regular file, which NDJSONWriter flushes only at
# request_done and connection events: a request stalled on its first byte shows nothing
# in the file until it ends. So "under way" is read from the file where the file can
# show it (a finished request before an idle gap), and otherwise from the stalling
# server, which sees the request arrive.


def _interrupt(args: list[str], events: Path, under_way: Callable[[], bool]) -> tuple[int, str]:
    """Starts ``python -m reusecheck ARGS --events EVENTS``, sends SIGINT once
    ``under_way()`` holds, and checks the child ended soon after, without a traceback.
    Returns its exit code and stderr."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen(
        [sys.executable, "-m", "reusecheck", *args, "--events", str(events)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        limit = time.monotonic() + 15.0
        while not (events.exists() and under_way()):
            assert child.poll() is None, f"ended before the signal: {child.communicate()}"
            assert time.monotonic() < limit, "the run never got under way"
            time.sleep(0.05)
        child.send_signal(signal.SIGINT)
        signalled = time.monotonic()
        _, stderr = child.communicate(timeout=SLACK + 5.0)
        took = time.monotonic() - signalled
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
    assert "Traceback" not in stderr, stderr
    assert took < SLACK, f"ended {took:.1f} s after SIGINT"
    assert child.returncode != 0, stderr
    return child.returncode, stderr


def _finished_lines(path: Path) -> list[Line]:
    """The lines written so far; a line still being written is not read yet."""
    text = path.read_text(encoding="utf-8")
    return [json.loads(line) for line in text.split("\n")[:-1] if line.strip()]


def _request_arrived(server: MisbehavingServer) -> Callable[[], bool]:
    """True once the server has read a request head (``answered`` counts them)."""

    def arrived() -> bool:
        transports = list(server._transports)  # the server's loop appends; a copy is safe
        return any(getattr(t.get_protocol(), "answered", 0) for t in transports)

    return arrived


@pytest.fixture
def never_answer() -> Iterator[MisbehavingServer]:
    with _Misbehaving("never-answer") as server:
        yield server


def test_ctrl_c_on_probe_waiting_for_a_first_byte(
    tmp_path: Path, never_answer: MisbehavingServer
) -> None:
    events = tmp_path / "events.ndjson"
    args = ["probe", never_answer.url, "--requests", "1", "--idle", "0", "--concurrency", "0"]
    args += ["--timeout", "60", "--deadline", "60"]
    code, stderr = _interrupt(args, events, _request_arrived(never_answer))
    lines = _read_events(events)
    _assert_contract(lines, "Ctrl-C on probe")
    assert _request_errors(lines) == ["cancelled"]
    # Interrupted: exit 130 (128 + SIGINT), one line naming it (the report is on stdout).
    assert code == 130 and stderr.splitlines()[-1].startswith("reusecheck: cancelled: "), stderr


def test_ctrl_c_on_probe_in_an_idle_gap(tmp_path: Path) -> None:
    events = tmp_path / "events.ndjson"

    def first_request_done() -> bool:
        return any(e["event"] == "request_done" for e in _finished_lines(events))

    with ServerThread(ServerConfig()) as server:
        args = ["probe", server.url, "--requests", "1", "--idle", "60", "--concurrency", "0"]
        _interrupt(args, events, first_request_done)
    lines = _read_events(events)
    _assert_contract(lines, "Ctrl-C in the idle gap")
    assert _request_errors(lines) == []


def _discover_args(url: str) -> list[str]:
    return ["discover", url, "--samples", "2", "--max-wait", "30", "--timeout", "30"]


def test_ctrl_c_on_discover(tmp_path: Path, never_answer: MisbehavingServer) -> None:
    events = tmp_path / "events.ndjson"
    args = [*_discover_args(never_answer.url), "--deadline", "30"]
    _interrupt(args, events, _request_arrived(never_answer))
    lines = _read_events(events)
    _assert_contract(lines, "Ctrl-C on discover")
    assert set(_request_errors(lines)) == {"cancelled"}


def test_ctrl_c_on_discover_ends_like_probe(
    tmp_path: Path, never_answer: MisbehavingServer
) -> None:
    """design.md: exit 130 when interrupted by SIGINT (discover never exits 1), one line
    naming it, and "a measurement cut short reports what it saw"."""
    args = [*_discover_args(never_answer.url), "--deadline", "30", "--json"]
    code, stderr = _interrupt(args, tmp_path / "events.ndjson", _request_arrived(never_answer))
    assert code == 130, stderr
    assert stderr.splitlines()[-1].startswith("reusecheck: cancelled: "), stderr


# -- recorded runs ---------------------------------------------------------------------


@pytest.mark.parametrize("name", names())
def test_contract_holds_in_every_recorded_run(name: str) -> None:
    _assert_contract(event_lines(name), f"record {name}")
