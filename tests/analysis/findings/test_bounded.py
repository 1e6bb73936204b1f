"""Findings for what a server controls and the run bounded: responses nobody asked for
(``unsolicited-response``), a server allowing no HTTP/2 streams (``h2-no-streams``),
what the record kept only part of (``record-capped``); over real runs (tests/records)
and, where a real run cannot show a case, over events written here."""

from __future__ import annotations

from typing import Any

from reusecheck.analysis import Analysis, RunRecord, analyze, parse_keep_alive
from reusecheck.analysis.model import KeepAliveHint
from reusecheck.trace import Event
from reusecheck.trace.vocab import RECORD_HEADER_PAIRS
from tests.records import load, load_discover


def finding(a: Analysis, code: str) -> Any:
    return next(f for f in a.findings if f.code == code)


def codes(a: Analysis) -> list[str]:
    return [f.code for f in a.findings]


# -- unsolicited-response ------------------------------------------------------------------


def test_a_late_second_response_is_reported_and_not_reuse_yes() -> None:
    a = analyze(load("unsolicited-response"))
    f = finding(a, "unsolicited-response")
    assert f.severity == "error"
    assert "starting 'HTTP/1.1 200 OK'" in f.message
    assert "may have been answered with the response meant for the request before" in f.message
    assert f.evidence["connections"] == [1]
    assert f.evidence["server_said"] == ["HTTP/1.1 200 OK"]
    (first,) = (c for c in a.connections if c.id == 1)
    assert (first.closed_by, first.close_reason) == ("client", "unsolicited-response")
    # Not the server's idle timeout, and the connections it cost are named.
    assert a.server.idle_timeout_s is None
    assert "server-idle-timeout" not in codes(a)
    assert a.verdict.reuse == "partial"
    assert a.verdict.detail.endswith(
        "+ 1 because the server sent a response nobody asked for on conn 1 after 3 requests, "
        "so the client closed it"
    )
    assert not a.verdict.ok


def test_bytes_after_each_response_are_reported_with_what_they_said() -> None:
    a = analyze(load("extra-body"))
    f = finding(a, "unsolicited-response")
    assert "', and then some'" in f.message
    # One request per connection: every response was its own request's.
    assert "may have been answered" not in f.message
    assert all(r.error is None and r.status == 200 for r in a.requests)
    assert {c.close_reason for c in a.connections} == {"unsolicited-response"}
    assert "new-conn-per-request" not in codes(a)  # the cause is named


def test_a_408_on_an_idle_connection_is_not_an_unsolicited_response() -> None:
    """Go reads an idle 408 as the server's idle close: so does the analysis."""
    events = [
        Event(0.0, "get_conn", 0, None, {"key": "http://h:80", "method": "GET", "url": "/"}),
        Event(0.001, "connect_start", 0, 1, {"addr": "127.0.0.1:80"}),
        Event(0.002, "connect_done", 0, 1, {"local": "127.0.0.1:5", "remote": "127.0.0.1:80"}),
        Event(
            0.003,
            "got_conn",
            0,
            1,
            {"reused": False, "was_idle": False, "idle_time_s": 0.0, "protocol": "http/1.1"},
        ),
        Event(0.004, "request_done", 0, 1, {"status": 200, "error": None, "retried": False}),
        Event(
            5.0,
            "idle_closed",
            None,
            1,
            {
                "idle_time_s": 5.0,
                "reason": "unsolicited-response",
                "closed_by": "server",
                "server_said": "HTTP/1.1 408 Request Timeout",
            },
        ),
        Event(
            5.0,
            "conn_closed",
            None,
            1,
            {"closed_by": "server", "reason": "idle-timeout", "requests": 1},
        ),
    ]
    a = analyze(RunRecord("http://h/", events))
    assert "unsolicited-response" not in codes(a)
    assert a.server.idle_timeout_s == 5.0


# -- h2-no-streams ------------------------------------------------------------------------


def test_a_server_allowing_no_streams_is_reported_not_a_crash() -> None:
    a = analyze(load("h2-no-streams"))  # ZeroDivisionError in the verdict, before
    f = finding(a, "h2-no-streams")
    assert f.severity == "error"
    assert "SETTINGS_MAX_CONCURRENT_STREAMS 0 on 1 of 1 h2 connection" in f.message
    assert a.server.h2_max_concurrent_streams == 0
    assert a.error is not None and a.error.kind == "first-byte-timeout"
    assert "SETTINGS_MAX_CONCURRENT_STREAMS 0" in a.error.message
    assert a.summary.connections_opened == 1


def test_discover_against_a_server_allowing_no_streams_says_so_and_stops() -> None:
    report = load_discover("discover-h2-no-streams").report()
    assert [f.code for f in report.findings] == ["h2-no-streams"]
    assert report.error is not None and report.error.kind == "first-byte-timeout"
    # One wait of the first-byte timeout (0.5 s), not the deadline.
    assert report.duration_s < 0.5 + 1.0


# -- record-capped ------------------------------------------------------------------------


def test_headers_past_the_cap_are_counted_and_reported() -> None:
    a = analyze(load("many-headers"))
    f = finding(a, "record-capped")
    assert f.severity == "info"
    assert f"({RECORD_HEADER_PAIRS} pairs, 16 KiB each)" in f.message
    assert f.evidence["headers_omitted"] == [10_002 - RECORD_HEADER_PAIRS] * len(a.requests)
    assert f.evidence["requests"] == [r.index for r in a.requests]
    # An info finding names no cause: reuse is judged as ever.
    assert a.verdict.reuse == "yes" and a.verdict.ok


def test_identical_settings_frames_are_reported_as_counted() -> None:
    a = analyze(load("h2-settings-flood"))
    f = finding(a, "record-capped")
    assert "identical SETTINGS frames were counted, not recorded (conn 1" in f.message
    assert f.evidence["connections"] == [1] and f.evidence["settings_repeated"][0] > 1000
    assert a.error is not None and a.error.kind == "first-byte-timeout"


# -- Keep-Alive hints that are not numbers ---------------------------------------------


def test_keep_alive_hints_count_only_finite_non_negative_numbers() -> None:
    assert parse_keep_alive("timeout=inf, max=nan") is None
    assert parse_keep_alive("timeout=NaN") is None
    assert parse_keep_alive("timeout=-Infinity, max=5") == KeepAliveHint(None, 5)
    assert parse_keep_alive("timeout=-1, max=-3") is None
    assert parse_keep_alive("timeout=1e400") is None  # inf once parsed
    assert parse_keep_alive("timeout=5, max=100") == KeepAliveHint(5.0, 100)


def test_a_server_sending_infinite_hints_gets_none() -> None:
    a = analyze(load("keepalive-inf"))
    assert all(r.keep_alive is None for r in a.requests)
    assert a.server.keepalive_hint is None
    assert a.findings == ()
