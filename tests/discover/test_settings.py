"""discover's settings and the ``discover`` command's options: their errors (exit 2)
and the output discipline, in-process with CliRunner."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from click.testing import CliRunner, Result

from reusecheck.cli import main
from reusecheck.discover import MEASUREMENTS, DiscoverSettings
from reusecheck.discover.settings import DEADLINE_MARGIN_S, parse_only
from reusecheck.server import ServerConfig, ServerThread


def invoke(*args: str) -> Result:
    return CliRunner().invoke(main, ["discover", *args])


@pytest.fixture(scope="module")
def target() -> Iterator[ServerThread]:
    with ServerThread(ServerConfig(idle_timeout=0.3, max_requests=3, keepalive_hint=True)) as s:
        yield s


def test_parse_only() -> None:
    assert parse_only(None) == MEASUREMENTS
    assert parse_only(("tls,idle-timeout",)) == ("idle-timeout", "tls")
    assert parse_only(("h2", " max-requests ")) == ("max-requests", "h2")
    with pytest.raises(ValueError, match="unknown measurement bogus"):
        parse_only(("idle-timeout,bogus",))


def test_defaults_and_the_computed_deadline() -> None:
    s = DiscoverSettings("http://127.0.0.1:1/")
    limits = (s.samples, s.max_wait, s.max_requests, s.rate, s.max_streams)
    assert limits == (5, 120, 1000, None, 256)
    assert s.total_deadline == 120 + DEADLINE_MARGIN_S
    paced = DiscoverSettings("http://127.0.0.1:1/", rate=2.0, max_requests=1000)
    assert paced.total_deadline == 500 + DEADLINE_MARGIN_S
    only_tls = DiscoverSettings("http://127.0.0.1:1/", only=("tls",))
    assert only_tls.total_deadline == DEADLINE_MARGIN_S
    assert DiscoverSettings("http://127.0.0.1:1/", deadline=5).total_deadline == 5
    with pytest.raises(ValueError):
        DiscoverSettings("http://127.0.0.1:1/", samples=0)
    with pytest.raises(ValueError):
        DiscoverSettings("http://127.0.0.1:1/", max_wait=float("nan"))


def test_bad_input_is_exit_2() -> None:
    assert invoke("ftp://127.0.0.1/").exit_code == 2
    r = invoke("http://127.0.0.1:1/", "--only", "idle,tls")
    assert r.exit_code == 2 and "unknown measurement idle" in r.output
    assert invoke("http://127.0.0.1:1/", "--samples", "0").exit_code == 2
    assert invoke("http://127.0.0.1:1/", "--max-wait", "nan").exit_code == 2
    assert invoke("http://127.0.0.1:1/", "--json", "--events", "-").exit_code == 2
    assert invoke("http://127.0.0.1:1/", "-H", "no colon").exit_code == 2


def test_help_lists_every_option() -> None:
    out = invoke("--help").output
    for opt in (
        "--only",
        "--samples",
        "--max-wait",
        "--max-requests",
        "--rate",
        "--max-streams",
        "--json",
        "--events",
        "--http1",
        "--http2",
        "--h2c",
        "--timeout",
        "--deadline",
        "--cacert",
        "--insecure",
        "-H",
    ):
        assert opt in out


def test_terminal_report_through_the_options(target: ServerThread) -> None:
    r = invoke(target.url, "--only", "idle-timeout,max-requests", "--samples", "2")
    assert r.exit_code == 0, r.output
    lines = [ln for ln in r.stdout.splitlines() if ln.strip()]
    assert lines[0].startswith("target") and target.url in lines[0]
    text = r.stdout
    assert "Idle timeout" in text and "median of 2 idle connections" in text
    assert "Max requests  3 per connection" in text
    assert "hint Keep-Alive max=3 (matches)" in text


def test_json_through_the_options(target: ServerThread) -> None:
    r = invoke(target.url, "--json", "--only", "max-requests", "--max-requests", "10")
    assert r.exit_code == 0
    doc = json.loads(r.stdout)
    assert doc["server"]["max_requests_per_conn"] == 3
    assert doc["options"]["only"] == ["max-requests"]
    assert doc["discover"]["idle_timeout"] is None


def test_events_to_stdout_move_the_report_to_stderr(target: ServerThread) -> None:
    r = invoke(target.url, "--only", "max-requests", "--events", "-")
    assert r.exit_code == 0
    events = [json.loads(line) for line in r.stdout.splitlines()]
    assert {e["event"] for e in events} >= {"get_conn", "got_conn", "request_done"}
    assert "Max requests" in r.stderr
