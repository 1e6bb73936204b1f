"""The command line's contract, as a CI job uses it: the one stderr line with the port,
the JSON document on stdout, the exit codes (0 reuse held, 1 it did not, 2 usage, 3
cannot listen), and SIGINT/SIGTERM as the ordinary end (the verdict's code, not 130)."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
from typing import Any

import jsonschema
import pytest
import requests
from click.testing import CliRunner

from reusecheck.cli import main
from reusecheck.schema import observe_event_schema, observe_schema

TIMEOUT = 10.0
LINE = re.compile(r"^reusecheck observe: listening on (https?)://127\.0\.0\.1:(\d+)/$")


def _start(*args: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "reusecheck", "observe", "--listen", "127.0.0.1:0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    line = proc.stderr.readline().rstrip("\n")
    m = LINE.match(line)
    assert m, line
    return proc, f"{m[1]}://127.0.0.1:{m[2]}/"


def _end(proc: subprocess.Popen[str], sig: int | None = None) -> tuple[int, dict[str, Any], str]:
    """Stop (or wait for) the observer; its JSON report, checked against the schema."""
    if sig is not None:
        proc.send_signal(sig)
    try:
        out, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()  # a failing test leaves no observer behind
        proc.communicate()
        raise
    doc = json.loads(out)
    jsonschema.validate(doc, observe_schema(strict=True))
    return proc.returncode, doc, err


def test_requests_n_ends_it_and_a_session_exits_0() -> None:
    proc, url = _start("--requests", "3", "--json")
    with requests.Session() as session:
        for _ in range(3):
            session.get(url, timeout=TIMEOUT)
    code, doc, err = _end(proc)
    assert code == 0, err
    assert doc["schema"] == "reusecheck/1" and doc["command"] == "observe"
    assert doc["stopped_by"] == "requests"
    assert doc["summary"]["requests"] == 3 and doc["summary"]["connections_opened"] == 1
    assert doc["findings"] == [] and doc["verdict"]["ok"] is True
    assert set(doc) >= {"summary", "connections", "findings", "clients", "upstream", "verdict"}
    assert doc["upstream"] is None
    assert "verdict: OK" in err


def test_duration_ends_it_by_itself_and_closes_what_the_client_kept() -> None:
    proc, url = _start("--duration", "1", "--json")
    session = requests.Session()
    for _ in range(2):
        session.get(url, timeout=TIMEOUT)
    code, doc, err = _end(proc)  # no signal: it must end on its own
    session.close()
    assert code == 0, err
    assert doc["stopped_by"] == "duration"
    (conn,) = doc["connections"]
    assert conn["requests"] == 2
    assert conn["closed_by"] == "server" and conn["close_reason"] == "end-of-run"


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_ends_it_with_the_verdicts_code(sig: int) -> None:
    proc, url = _start("--json")
    for _ in range(3):
        requests.get(url, timeout=TIMEOUT)
    code, doc, _ = _end(proc, sig)
    assert code == 1
    assert doc["stopped_by"] == "signal"
    assert [f["code"] for f in doc["findings"]] == ["client-new-conn-per-request"]
    (client,) = doc["clients"]
    assert client["findings"][0]["code"] == "client-new-conn-per-request"
    conn = doc["connections"][0]
    assert conn["closed_by"] == "client" and conn["close_kind"] == "fin"


def test_expect_none_only_reports() -> None:
    proc, url = _start("--json", "--expect", "none", "--requests", "2")
    for _ in range(2):
        requests.get(url, timeout=TIMEOUT)
    code, doc, _ = _end(proc)
    assert code == 0 and doc["verdict"]["reuse"] == "no" and doc["findings"]


def test_secrets_never_reach_the_outputs(tmp_path: Any) -> None:
    events = tmp_path / "events.ndjson"
    proc, url = _start("--json", "--requests", "1", "--events", str(events))
    requests.get(
        url + "p?token=hunter2",
        headers={"Authorization": "Bearer hunter2", "Cookie": "s=hunter2"},
        timeout=TIMEOUT,
    )
    _, doc, err = _end(proc)
    assert "hunter2" not in json.dumps(doc) + err + events.read_text()
    lines = [json.loads(x) for x in events.read_text().splitlines()]
    for line in lines:
        jsonschema.validate(line, observe_event_schema())
    assert {"client_conn_open", "client_request", "client_response"} <= {x["event"] for x in lines}


def test_port_in_use_is_one_line_and_exit_3() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "reusecheck", "observe", "--listen", f"127.0.0.1:{port}"],
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert done.returncode == 3
    assert done.stderr.count("\n") == 1 and "cannot listen" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["--listen", "nonsense"],
        ["--tls-cert", __file__],
        ["--upstream", "ftp://x/"],
        ["--events", "-", "--json"],
        ["--expect", "h2"],
    ],
)
def test_usage_errors_exit_2(args: list[str]) -> None:
    result = CliRunner().invoke(main, ["observe", *args])
    assert result.exit_code == 2, result.output


def test_explain_knows_the_observed_codes() -> None:
    for code in (
        "client-new-conn-per-request",
        "client-body-not-drained",
        "client-conn-leak",
        "client-idle-pool-churn",
        "client-idle-timeout-too-long",
        "client-h2-not-multiplexing",
    ):
        result = CliRunner().invoke(main, ["explain", code])
        assert result.exit_code == 0 and code in result.output


def test_an_answer_carries_its_status_phrase() -> None:
    """``HTTP/1.1 200 OK``: an empty reason phrase is legal, but some clients (h2load
    among them) count a response without one as failed."""
    proc, url = _start("--requests", "1", "--json", "--body-size", "2")
    port = int(url.rsplit(":", 1)[1].strip("/"))
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        head = s.recv(64)
    _end(proc)
    assert head.startswith(b"HTTP/1.1 200 OK\r\n"), head


def test_requests_n_counts_a_response_the_client_cut_short() -> None:
    """A client that reads a response's first bytes and leaves sends nothing more on
    that connection: --requests 1 must end there, not wait for a whole response."""
    proc, url = _start("--requests", "1", "--json", "--body-size", str(4 << 20))
    port = int(url.rsplit(":", 1)[1].strip("/"))
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        s.recv(64)
    code, doc, _ = _end(proc)
    assert doc["stopped_by"] == "requests"
    assert code == 1 and "client-body-not-drained" in [f["code"] for f in doc["findings"]]


@pytest.mark.parametrize("where", ["events", "stdout"])
def test_an_output_that_cannot_be_written_is_one_line_and_exit_3(where: str) -> None:
    """A full disk (/dev/full) under --events or stdout: the run still ends, one line
    names what could not be written, exit 3 (the run could not complete)."""
    args = ["--requests", "1", "--json"]
    if where == "events":
        args += ["--events", "/dev/full"]
    with open("/dev/full" if where == "stdout" else os.devnull, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "reusecheck", "observe", "--listen", "127.0.0.1:0", *args],
            stdout=out,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert proc.stderr is not None
        m = LINE.match(proc.stderr.readline().rstrip("\n"))
        assert m, "no listening line"
        requests.get(f"{m[1]}://127.0.0.1:{m[2]}/", timeout=TIMEOUT)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 3, err
    named = "'/dev/full'" if where == "events" else "stdout"
    assert [line for line in err.splitlines() if line.startswith("reusecheck: ")] == [
        f"reusecheck: cannot write {'to ' if where == 'stdout' else ''}{named}: "
        "No space left on device"
    ]
    assert "Traceback" not in err
