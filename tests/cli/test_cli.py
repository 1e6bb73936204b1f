"""The command line as users and CI meet it: exit codes, stdout discipline, first lines."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from reusecheck.cli import main
from reusecheck.server import ServerConfig, ServerThread


def invoke(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


@pytest.fixture(scope="module")
def healthy() -> Iterator[ServerThread]:
    with ServerThread(ServerConfig()) as srv:
        yield srv


@pytest.fixture(scope="module")
def closing() -> Iterator[ServerThread]:
    with ServerThread(ServerConfig(close_always=True)) as srv:
        yield srv


FAST = ("--idle", "0")


def test_version_and_help() -> None:
    assert invoke("--version").output.startswith("reusecheck, version ")
    r = invoke("--help")
    assert r.exit_code == 0 and "probe" in r.output and "demo" in r.output


def test_probe_healthy_server_exits_0_with_the_verdict_last(healthy: ServerThread) -> None:
    r = invoke("probe", healthy.url, *FAST)
    assert r.exit_code == 0, r.output
    lines = [ln for ln in r.stdout.splitlines() if ln.strip()]
    assert lines[0].startswith("target")
    assert "verdict: OK" in lines[-1] and "reuse yes" in lines[-1]


def test_json_is_one_document_and_nothing_else(healthy: ServerThread) -> None:
    r = invoke("probe", healthy.url, "--json", *FAST)
    assert r.exit_code == 0
    doc = json.loads(r.stdout)
    assert doc["schema"] == "reusecheck/1"
    assert doc["target"] == healthy.url
    assert doc["summary"]["requests"] == 5 + 8
    assert [q["phase"] for q in doc["requests"]][:6] == ["sequential"] * 5 + ["burst-1"]
    assert {"id", "local", "remote", "closed_by", "close_reason"} <= set(doc["connections"][0])


def test_connection_close_server_fails_expect_reuse(closing: ServerThread) -> None:
    r = invoke("probe", closing.url, "--json", *FAST)
    assert r.exit_code == 1
    doc = json.loads(r.stdout)
    assert doc["verdict"]["reuse"] == "no"
    assert "no-keepalive" in [f["code"] for f in doc["findings"]]
    assert invoke("probe", closing.url, "--expect", "none", *FAST).exit_code == 0


def test_min_reuse_ratio_and_max_connections(healthy: ServerThread) -> None:
    assert invoke("probe", healthy.url, *FAST, "--min-reuse-ratio", "0.99").exit_code == 1
    assert invoke("probe", healthy.url, *FAST, "--min-reuse-ratio", "0.5").exit_code == 0
    assert invoke("probe", healthy.url, *FAST, "--max-connections", "1").exit_code == 1
    assert invoke("probe", healthy.url, *FAST, "--max-connections", "4").exit_code == 0


def test_events_to_stdout_are_ndjson_in_the_design_vocabulary(healthy: ServerThread) -> None:
    r = invoke(
        "probe", healthy.url, "--events", "-", "--requests", "2", *FAST, "--concurrency", "0"
    )
    events = [json.loads(line) for line in r.stdout.splitlines()]
    assert r.exit_code == 0
    assert events[0]["event"] == "get_conn" and events[0]["request"] == 0
    assert all({"t", "event", "request", "conn"} <= set(e) for e in events)
    assert [e["reused"] for e in events if e["event"] == "got_conn"] == [False, True]


def test_events_file(healthy: ServerThread, tmp_path: Path) -> None:
    path = tmp_path / "ev.ndjson"
    r = invoke("probe", healthy.url, "--events", str(path), "--json", *FAST)
    assert r.exit_code == 0
    lines = path.read_text().splitlines()
    assert sum(json.loads(ln)["event"] == "request_done" for ln in lines) == 13


def test_secrets_are_redacted_in_json_and_events(healthy: ServerThread, tmp_path: Path) -> None:
    path = tmp_path / "ev.ndjson"
    r = invoke(
        "probe",
        healthy.url,
        "--json",
        "--events",
        str(path),
        *FAST,
        "-H",
        "Authorization: Bearer s3cr3t-token",
        "-H",
        "Cookie: id=c00kie",
    )
    assert r.exit_code == 0
    for text in (r.stdout, r.stderr, path.read_text()):
        assert "s3cr3t-token" not in text and "c00kie" not in text


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("probe", "example.test/health"), "no scheme"),
        (("probe", "ftp://127.0.0.1/"), "unsupported scheme"),
        (("probe", "http:///path"), "no host"),
        (("probe", "http://127.0.0.1:99999/"), "malformed URL"),
        (("probe", "http://127.0.0.1/", "-H", "NoColon"), "Name: value"),
        (("probe", "http://127.0.0.1/", "--timeout", "nan"), "not a finite number"),
        (("probe", "http://127.0.0.1/", "--requests", "-1"), "-1"),
        (("probe", "http://127.0.0.1/", "--json", "--events", "-"), "stdout"),
        (("probe", "http://127.0.0.1/", "--cacert", "/nonexistent.pem"), "not a readable file"),
    ],
)
def test_bad_input_exits_2_with_one_line(args: tuple[str, ...], needle: str) -> None:
    r = invoke(*args)
    assert r.exit_code == 2
    assert needle in r.output
    assert "Traceback" not in r.output


def test_unreachable_target_exits_3_with_a_reason() -> None:
    with ServerThread(ServerConfig()) as srv:
        url = srv.url
    r = invoke("probe", url, *FAST)
    assert r.exit_code == 3
    assert "connect" in r.stderr and "refused" in r.stderr.lower()
    r = invoke("probe", url, "--json", *FAST)
    assert r.exit_code == 3
    doc = json.loads(r.stdout)
    assert doc["verdict"]["ok"] is False and doc["error"]["kind"] == "connect"


def test_timeout_is_exit_3_and_named() -> None:
    with ServerThread(ServerConfig()) as srv:
        r = invoke(
            "probe",
            srv.url.rstrip("/") + "/delay/3000",
            "--timeout",
            "0.3",
            "--requests",
            "1",
            *FAST,
            "--concurrency",
            "0",
            "--json",
        )
    doc = json.loads(r.stdout)
    assert doc["requests"][0]["error"]["kind"] == "first-byte-timeout"
    assert r.exit_code == 3


def test_explain() -> None:
    r = invoke("explain", "server-idle-timeout")
    assert r.exit_code == 0 and "idle" in r.output.lower()
    r = invoke("explain", "nope")
    assert r.exit_code == 2 and "no-keepalive" in r.output


def test_demo_runs_on_loopback_and_exits_0() -> None:
    r = invoke("demo", "--idle", "0.6")
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith("Demo: ")
    assert "server-idle-timeout" in r.stdout and "max-requests-per-conn" in r.stdout


def test_python_dash_m_works() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "reusecheck", "--version"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 0 and "reusecheck" in out.stdout


def test_h2c_probe_against_the_built_in_h2_server_multiplexes() -> None:
    with ServerThread(ServerConfig(h2=True)) as srv:
        r = invoke(
            "probe", "--h2c", srv.url, "--expect", "h2", "--expect", "multiplex", "--json", *FAST
        )
    assert r.exit_code == 0, r.stdout
    doc = json.loads(r.stdout)
    assert doc["protocol"] == "h2" and doc["summary"]["connections_opened"] == 1
    burst = [q for q in doc["requests"] if q["phase"] == "burst-1"]
    assert {q["conn_id"] for q in burst} == {1} and all(q["stream_id"] for q in burst)


def test_https_probe_against_the_built_in_server_with_its_ca() -> None:
    with ServerThread(ServerConfig(tls=True, h2=True)) as srv:
        r = invoke("probe", srv.url, "--cacert", str(srv.ca_path), "--json", *FAST)
    assert r.exit_code == 0
    doc = json.loads(r.stdout)
    assert doc["connections"][0]["tls"]["alpn"] == "h2"


def test_rate_paces_request_starts(healthy: ServerThread, tmp_path: Path) -> None:
    events = tmp_path / "ev.ndjson"
    r = invoke(
        "probe",
        healthy.url,
        "--rate",
        "20",
        "--requests",
        "3",
        "--concurrency",
        "2",
        "--events",
        str(events),
        *FAST,
    )
    assert r.exit_code == 0
    starts = [
        json.loads(ln)["t"]
        for ln in events.read_text().splitlines()
        if json.loads(ln)["event"] == "get_conn"
    ]
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert len(starts) == 7 and min(gaps) >= 0.045  # 1/20 s apart, bursts included


def test_max_drain_gives_up_the_connection_and_says_so(
    healthy: ServerThread, tmp_path: Path
) -> None:
    events = tmp_path / "ev.ndjson"
    r = invoke(
        "probe",
        healthy.url.rstrip("/") + "/bytes/200000",
        "--max-drain",
        "1000",
        "--requests",
        "2",
        "--concurrency",
        "0",
        "--events",
        str(events),
        "--json",
        *FAST,
    )
    lines = [json.loads(ln) for ln in events.read_text().splitlines()]
    done = [e for e in lines if e["event"] == "request_done"]
    assert [e.get("max_drain_hit") for e in done] == [1000, 1000]
    closed = [e for e in lines if e["event"] == "conn_closed"]
    assert [e["reason"] for e in closed] == ["body-not-drained", "body-not-drained"]
    assert json.loads(r.stdout)["summary"]["connections_opened"] == 2


def test_each_timeout_is_its_own_option(healthy: ServerThread) -> None:
    r = invoke(
        "probe",
        healthy.url.rstrip("/") + "/delay/2000",
        "--first-byte-timeout",
        "0.2",
        "--requests",
        "1",
        "--concurrency",
        "0",
        *FAST,
    )
    assert r.exit_code == 3
    assert "first-byte-timeout" in r.stderr and "within 0.2 s" in r.stderr


def test_request_ceiling_refuses_an_accidental_flood() -> None:
    r = invoke("probe", "http://127.0.0.1:1/", "--requests", "20000")
    assert r.exit_code == 2 and "--max-total-requests" in r.output
    r = invoke("probe", "http://127.0.0.1:1/", "--requests", "20", "--max-total-requests", "10")
    assert r.exit_code == 2


def test_discover_command_measures_the_servers_limits() -> None:
    config = ServerConfig(idle_timeout=0.4, max_requests=4, keepalive_hint=True)
    with ServerThread(config) as srv:
        r = invoke("discover", srv.url, "--json", "--samples", "2", "--max-wait", "5")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert 0.35 <= doc["server"]["idle_timeout_s"] <= 0.6
    assert doc["server"]["max_requests_per_conn"] == 4


def test_probe_discover_folds_the_measurements_into_the_report() -> None:
    with ServerThread(ServerConfig(idle_timeout=0.4, max_requests=50)) as srv:
        r = invoke("probe", srv.url, "--discover", "--json", *FAST)
    doc = json.loads(r.stdout)
    assert 0.35 <= doc["server"]["idle_timeout_s"] <= 0.6  # the probe alone never idles
    assert doc["server"]["max_requests_per_conn"] == 50
    assert {"idle_timeout", "max_requests"} <= set(doc["discover"])
    assert invoke("probe", srv.url, srv.url, "--discover").exit_code == 2
