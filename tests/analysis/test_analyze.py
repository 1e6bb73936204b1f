"""The analysis of real runs (tests/records): counts, findings, server facts, verdicts.

Each record is a real run of the pool against the built-in server (or a broken one);
the assertions are on what a run of that server always shows (counts, codes, connection
ids, close reasons), and messages holding a measured time are checked against the
record's own numbers.
"""

from __future__ import annotations

import statistics
from dataclasses import replace
from typing import Any

import pytest

from reusecheck.analysis import (
    EXIT_EXPECTATION_FAILED,
    EXIT_OK,
    EXIT_UNREACHABLE,
    Analysis,
    Expectation,
    GoAway,
    H2Connection,
    KeepAliveHint,
    RunError,
    RunRecord,
    analyze,
    exit_code,
    parse_keep_alive,
)
from tests.records import event_lines, load


def codes(a: Analysis) -> list[str]:
    return [f.code for f in a.findings]


def finding(a: Analysis, code: str) -> Any:
    return next(f for f in a.findings if f.code == code)


def first(name: str, event: str, **match: Any) -> dict[str, Any]:
    """The record's first event line of that name with those values."""
    return next(
        e
        for e in event_lines(name)
        if e["event"] == event and all(e.get(k) == v for k, v in match.items())
    )


# --- HTTP/1.1 keep-alive and what breaks it --------------------------------------------


def test_healthy_keepalive_is_yes_with_ratio_0_8() -> None:
    a = analyze(load("healthy"))
    assert a.summary.requests == 5
    assert a.summary.connections_opened == 1
    assert a.summary.reused == 4
    assert a.summary.reuse_ratio == 0.8
    assert a.verdict.reuse == "yes"
    assert a.verdict.ok
    assert a.findings == ()
    assert a.server.keepalive is True
    assert a.server.idle_timeout_s is None
    assert a.server.max_requests_per_conn is None
    assert a.server.software == "reusecheck"
    assert exit_code(a) == EXIT_OK
    (conn,) = a.connections
    assert conn.requests == 5
    assert tuple(conn.request_indexes) == (0, 1, 2, 3, 4)
    assert (conn.closed_by, conn.close_reason) == ("client", "end-of-run")
    assert conn.local == first("healthy", "connect_done", conn=1)["local"]
    assert a.protocol == "http/1.1"


def test_timings_are_null_where_a_reused_connection_skipped_the_phase() -> None:
    a = analyze(load("healthy"))
    first_row, second = a.requests[:2]
    assert first_row.timings_s.connect is not None
    assert first_row.timings_s.dns is None  # an IP literal: nothing to resolve
    assert first_row.timings_s.tls is None  # plain HTTP
    assert second.timings_s.dns is None
    assert second.timings_s.connect is None
    assert second.timings_s.wait is not None and second.timings_s.wait > 0
    assert second.timings_s.total is not None and second.timings_s.total > 0
    assert second.reused and second.was_idle and second.idle_time_s > 0
    assert first_row.stream_id is None and second.stream_id is None
    assert second.phase == "sequential" and second.method == "GET"
    assert second.url == load("healthy").target


def test_a_name_to_resolve_has_a_dns_timing() -> None:
    a = analyze(load("cross-host"))
    other = next(r for r in a.requests if r.phase == "origin-b")
    assert other.url is not None and "localhost" in other.url
    assert other.timings_s.dns is not None and other.timings_s.connect is not None


def test_connection_close_server_is_no_keepalive_and_verdict_no() -> None:
    a = analyze(load("connection-close"))
    assert a.server.keepalive is False
    assert a.verdict.reuse == "no"
    assert codes(a) == ["no-keepalive"]  # new-conn-per-request defers to it
    f = finding(a, "no-keepalive")
    assert f.severity == "error"
    assert f.message == (
        "server closed 5 of 5 connections after one request each (Connection: close)"
    )
    assert f.evidence["connections"] == [1, 2, 3, 4, 5]
    assert f.evidence["requests"] == [0, 1, 2, 3, 4]
    assert a.summary.reuse_ratio == 0.0
    assert all(r.response_connection == "close" for r in a.requests)
    assert exit_code(a) == EXIT_EXPECTATION_FAILED
    assert not a.verdict.expectations[0].ok


def test_http10_server() -> None:
    a = analyze(load("http10"))
    assert a.server.keepalive is False
    assert codes(a) == ["http10-server"]
    assert finding(a, "http10-server").message == (
        "server answered HTTP/1.0 without keep-alive and closed 3 of 3 connections after "
        "1 request each"
    )
    assert a.verdict.reuse == "no"
    assert {c.close_reason for c in a.connections} == {"http10"}
    assert a.requests[0].http_version == "1.0"


def test_max_requests_3_over_8_requests() -> None:
    a = analyze(load("max-requests"))
    assert a.server.max_requests_per_conn == 3
    assert a.server.keepalive is True
    assert [c.requests for c in a.connections] == [3, 3, 2]
    assert codes(a) == ["max-requests-per-conn"]
    f = finding(a, "max-requests-per-conn")
    assert f.message == (
        "server closed 2 of 3 connections after exactly 3 requests (Connection: close)"
    )
    assert f.severity == "warning"
    assert "one request in 3" in f.remedy and "keepalive_requests" in f.remedy
    assert "MaxKeepAliveRequests" in f.remedy
    assert a.verdict.reuse == "partial"
    assert a.verdict.redialled_connections == (2, 3)
    assert a.verdict.detail == (
        "8 requests · 3 connections = 1 needed + 2 because the server closed conn 1, 2 "
        "with Connection: close after 3 requests each"
    )
    assert a.server.max_requests_evidence == "repeated"
    assert a.summary.reused == 5


def test_max_requests_seen_once_is_reported_with_its_weight() -> None:
    # One close after 3 requests is reported, said to be a single observation ...
    once = analyze(load("max-requests-once"))
    assert [c.requests for c in once.connections] == [3, 1]
    assert once.server.max_requests_per_conn == 3
    assert once.server.max_requests_evidence == "once"
    f = finding(once, "max-requests-per-conn")
    assert f.message.startswith("server closed 1 of 2 connections after exactly 3 requests")
    assert "once: likely a per-connection limit of 3" in f.message
    assert "--discover" in f.message
    assert once.verdict.detail.endswith(
        "+ 1 because the server closed conn 1 with Connection: close after 3 requests"
    )
    # ... and a Keep-Alive hint announcing max=3 on that connection makes it certain.
    a = analyze(load("max-requests-hint"))
    assert [c.requests for c in a.connections] == [3, 1]
    assert a.server.max_requests_per_conn == 3
    assert a.server.max_requests_evidence == "announced"
    assert a.server.keepalive_hint == KeepAliveHint(None, 3)
    assert a.server.max_requests_hint_delta == 0
    assert finding(a, "max-requests-per-conn").message == (
        "server closed 1 of 2 connections after exactly 3 requests (Connection: close); "
        "Keep-Alive hint max=3"
    )


def test_idle_timeout_between_phases() -> None:
    a = analyze(load("idle-timeout"))
    c1, _ = a.connections
    idle = c1.idle_time_at_close_s
    assert idle is not None
    assert a.server.idle_timeout_s == round(idle, 3)
    assert a.server.keepalive is True
    assert codes(a) == ["server-idle-timeout"]
    f = finding(a, "server-idle-timeout")
    assert f.message == f"server closed 1 idle connection after {idle:.1f} s idle (eof)"
    for knob in ("IdleConnTimeout: ", "keepalive_expiry=", "keepalive_timeout=", "--idle-timeout"):
        assert knob in f.remedy
    assert f"below {round(idle, 2):g} s" in f.remedy
    assert f.evidence["connections"] == [1]
    assert f.evidence["idle_timeout_s"] == a.server.idle_timeout_s
    assert (c1.closed_by, c1.close_reason, tuple(c1.request_indexes)) == (
        "server",
        "idle-timeout",
        (0, 1),
    )
    assert a.verdict.reuse == "partial"
    assert a.verdict.redialled_connections == (2,)
    assert a.verdict.detail == (
        "3 requests · 2 connections = 1 needed + 1 because the server closed conn 1 while "
        "it was idle after 2 requests"
    )
    assert [r.phase for r in a.requests] == ["sequential"] * 2 + ["idle"]


def test_idle_timeout_is_compared_with_the_keep_alive_hint() -> None:
    a = analyze(load("idle-timeout-hint"))
    assert a.server.keepalive_hint == KeepAliveHint(5.0, 100)
    measured = a.server.idle_timeout_s
    assert measured is not None and measured < 1.0
    assert a.server.idle_timeout_hint_delta_s == round(5.0 - measured, 3)
    f = finding(a, "server-idle-timeout")
    delta = 5.0 - measured
    assert f.message.endswith(f"; Keep-Alive hint timeout=5 ({delta:+.1f} s vs measured)")


def test_idle_timeout_is_the_median_of_several_closes() -> None:
    a = analyze(load("idle-timeout-pair"))
    closed = [c for c in a.connections if c.close_reason == "idle-timeout"]
    idles = [c.idle_time_at_close_s for c in closed if c.idle_time_at_close_s is not None]
    assert len(closed) == len(idles) == 2
    assert a.server.idle_timeout_s == round(statistics.median(idles), 3)
    f = finding(a, "server-idle-timeout")
    assert f.message.startswith("server closed 2 idle connections after ")
    assert f.evidence["connections"] == [1, 2]
    # The spread is named when it shows at a tenth of a second.
    assert ("median of" in f.message) == (max(idles) - min(idles) >= 0.05)


def test_stale_connection_retry() -> None:
    a = analyze(load("stale-retry"))
    row = a.requests[2]
    assert row.retried
    assert row.conn_id == 2
    assert not row.reused  # the final attempt's connection
    assert row.timings_s.connect is not None
    assert row.timings_s.total is not None and row.timings_s.total > row.timings_s.connect
    c1, c2 = a.connections
    assert c1.requests == 2 and tuple(c1.request_indexes) == (0, 1)  # the failed try is not carried
    assert (c1.closed_by, c1.close_reason) == ("server", "eof")
    assert tuple(c2.request_indexes) == (2,)
    assert codes(a) == ["stale-conn-retry"]
    f = finding(a, "stale-conn-retry")
    assert f.message == (
        "1 request hit a reused connection the server had closed (eof) and was retried on "
        "a new connection"
    )
    assert f.evidence["requests"] == [2] and f.evidence["connections"] == [1]
    assert "IdleConnTimeout" in f.remedy and "keepalive_timeout" in f.remedy
    assert a.summary.retried == 1
    assert a.server.keepalive is True  # a stale close is no "closed after the response"
    assert a.verdict.reuse == "partial"


def test_stale_retry_after_idling_names_the_idle_time_and_discover() -> None:
    # idle-race told the timeout: the run never sees the server close an idle connection,
    # only the request that met the close.
    a = analyze(load("idle-race-given"))
    assert a.server.idle_timeout_s is None
    race = next(r for r in a.requests if r.phase == "race")
    assert race.retried
    f = finding(a, "stale-conn-retry")
    idle = min(f.evidence["idle_times_s"])
    assert f.message == (
        f"1 request hit a reused connection the server had closed (eof after {idle:.1f} s "
        "idle) and was retried on a new connection"
    )
    assert f.evidence["requests"] == [race.index]
    assert f"below {round(idle, 2):g} s" in f.remedy and "reusecheck discover" in f.remedy
    fixed = next(r for r in a.requests if r.phase == "fixed")
    assert not fixed.retried  # the fix: a client idle timeout below the server's


def test_pool_churn_under_concurrency_4_with_max_idle_per_host_2() -> None:
    a = analyze(load("pool-churn"))
    assert a.summary.peak_concurrency == 4
    assert a.summary.connections_opened == 6
    full = [c.id for c in a.connections if c.close_reason == "pool-full"]
    assert codes(a) == ["pool-churn"]
    f = finding(a, "pool-churn")
    assert f.message == (
        f"pool closed {len(full)} connections because its idle list was full "
        "(max_idle_per_host=2) and dialled 2 new after; up to 4 requests ran at once"
    )
    assert "MaxIdleConnsPerHost = 4" in f.remedy
    assert "max_keepalive_connections=4" in f.remedy
    assert "limit_per_host=4" in f.remedy
    assert f.evidence["redialled_connections"] == [5, 6]
    assert a.verdict.reuse == "partial"
    assert a.verdict.redialled_connections == (5, 6)
    assert a.verdict.detail.endswith(
        "+ 2 because the client's idle pool was full and dropped conn 3, 4"
    )
    assert [c.dial.replaces for c in a.connections[4:] if c.dial] == [4, 3]
    assert a.server.keepalive is True


def test_unread_body() -> None:
    a = analyze(load("close-early"))
    assert codes(a) == ["body-not-drained"]
    f = finding(a, "body-not-drained")
    assert f.message == (
        "3 response bodies were not read to the end (request 0, 1, 2), so 3 connections "
        "could not be reused"
    )
    assert "io.Copy(io.Discard, resp.Body)" in f.remedy
    assert a.server.keepalive is None  # the client's doing: nothing learnt about the server
    assert a.verdict.reuse == "no"
    assert "not read" not in a.verdict.detail
    assert {(c.closed_by, c.close_reason) for c in a.connections} == {
        ("client", "body-not-drained")
    }


def test_bursts_on_fresh_connections_are_yes() -> None:
    a = analyze(load("burst"))
    assert a.summary.requests == 8
    assert a.summary.connections_opened == 4
    assert a.summary.peak_concurrency == 4
    assert a.summary.reused == 4  # the second burst, on the first one's connections
    assert [r.reused for r in a.requests if r.phase == "burst-1"] == [False] * 4
    assert a.verdict.reuse == "yes"
    assert a.verdict.redialled_connections == ()
    assert a.verdict.detail == "8 requests · 4 connections = 4 needed for up to 4 requests at once"
    assert a.summary.budget.needed == 4 and a.summary.budget.avoidable == ()
    assert [c.dial.reason for c in a.connections if c.dial] == ["first"] + ["all-busy"] * 3
    assert a.findings == ()
    assert exit_code(a) == EXIT_OK


def test_unreachable_run_exits_3() -> None:
    record = load("unreachable")
    port = record.target.rsplit(":", 1)[1].strip("/")
    a = analyze(record)
    assert a.error == RunError("connect", f"connect to 127.0.0.1:{port} failed: Connection refused")
    assert not a.verdict.ok
    assert exit_code(a) == EXIT_UNREACHABLE
    assert a.summary.connections_opened == 0
    (conn,) = a.connections
    assert conn.error is not None and conn.local is None
    (row,) = a.requests
    assert row.error is not None and row.error.kind == "connect"
    assert row.conn_id is None and row.status is None


# --- server facts and more findings ---------------------------------------------------------


def test_eof_right_after_each_response_counts_as_no_keepalive() -> None:
    a = analyze(load("eof-after-response"))
    assert all(c.close_reason == "idle-timeout" for c in a.connections)
    assert all((c.idle_time_at_close_s or 1.0) < 0.1 for c in a.connections)
    assert a.server.keepalive is False
    assert a.server.idle_timeout_s is None
    assert codes(a) == ["no-keepalive"]
    assert finding(a, "no-keepalive").message == (
        "server closed 3 of 3 connections after one request each (EOF right after the response)"
    )


def test_client_without_keepalive_is_blamed_on_the_client() -> None:
    a = analyze(load("disable-keepalives"))
    assert a.summary.connections_opened == 3
    assert a.server.keepalive is None  # the client asked for every close
    assert codes(a) == ["keepalive-disabled"]  # never no-keepalive: not the server's doing
    f = finding(a, "keepalive-disabled")
    assert f.message == (
        "the client sent 'Connection: close' and ended each connection after one request: "
        "2 connections dialled again (keep-alive disabled by the client, not the server)"
    )
    assert "--disable-keepalives" in f.remedy
    assert dict(a.summary.budget.avoidable) == {"keepalives-disabled": 2}
    assert {(c.closed_by, c.close_reason) for c in a.connections} == {
        ("client", "connection-close-header")
    }
    assert a.verdict.reuse == "no"


def test_numeric_expectations() -> None:
    record = replace(
        load("max-requests"),
        expectations=(
            Expectation("min-reuse-ratio", 0.6),
            Expectation("max-connections", 3),
            Expectation("none"),
        ),
    )
    a = analyze(record)
    ratio, most, none = a.verdict.expectations
    assert ratio.ok and ratio.detail == "reuse ratio 0.62 >= 0.6"
    assert most.ok and most.detail == "3 connections opened <= 3"
    assert none.ok
    assert a.verdict.ok and exit_code(a) == EXIT_OK  # partial reuse, but not asked about
    strict = (Expectation("min-reuse-ratio", 0.9), Expectation("max-connections", 2))
    record = replace(record, expectations=strict)
    a = analyze(record)
    assert [e.ok for e in a.verdict.expectations] == [False, False]
    assert a.verdict.expectations[1].detail == "3 connections opened > 2"


def test_reuse_expectation_fails_on_partial() -> None:
    a = analyze(load("idle-timeout"))
    (reuse,) = a.verdict.expectations
    assert not reuse.ok
    assert reuse.detail.startswith("reuse partial: 3 requests · 2 connections = 1 needed + 1")


def test_expectation_validation() -> None:
    with pytest.raises(ValueError, match="unknown expectation"):
        Expectation("fast")
    with pytest.raises(ValueError, match="needs a value"):
        Expectation("min-reuse-ratio")


def test_no_expectations_means_ok_unless_error() -> None:
    record = replace(load("connection-close"), expectations=())
    assert exit_code(analyze(record)) == EXIT_OK
    record = replace(load("unreachable"), expectations=())
    assert exit_code(analyze(record)) == EXIT_UNREACHABLE


def test_runner_style_error_objects_are_accepted() -> None:
    class Stopped:
        kind = "deadline"
        message = "the run did not finish within --deadline 1 s"

    record = replace(load("healthy"), error=Stopped())
    a = analyze(record)
    assert a.error == RunError("deadline", Stopped.message)
    assert exit_code(a) == EXIT_UNREACHABLE


@pytest.mark.parametrize(
    ("value", "hint"),
    [
        ("timeout=5, max=100", KeepAliveHint(5.0, 100)),
        ("timeout=5", KeepAliveHint(5.0, None)),
        ("Max=7 ,TIMEOUT=2.5", KeepAliveHint(2.5, 7)),
        ('timeout="15"', KeepAliveHint(15.0, None)),
        ("timeout=abc, max=3", KeepAliveHint(None, 3)),
        ("garbage", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_keep_alive(value: str | None, hint: KeepAliveHint | None) -> None:
    assert parse_keep_alive(value) == hint


def test_empty_record() -> None:
    a = analyze(RunRecord("http://127.0.0.1:8080/", []))
    assert a.summary.requests == 0 and a.summary.reuse_ratio == 0.0
    assert a.verdict.reuse == "no" and a.verdict.ok
    assert a.findings == ()


@pytest.mark.parametrize("name", ["healthy", "alpn-fallback", "alpn-none", "tls-http1"])
def test_sequential_keepalive_ratio(name: str) -> None:
    a = analyze(load(name))
    sequential = [r for r in a.requests if r.phase == "sequential"]
    assert len({r.conn_id for r in sequential}) == 1
    assert sum(r.reused for r in sequential) == len(sequential) - 1
    assert a.summary.reuse_ratio == round(a.summary.reused / a.summary.requests, 4)
    assert a.verdict.reuse == "yes"


@pytest.mark.parametrize(
    ("name", "limit"),
    [("max-requests", 3), ("max-requests-hint", 3), ("demo", 4), ("h2-goaway-every", 3)],
)
def test_max_requests_is_found_for_each_limit(name: str, limit: int) -> None:
    a = analyze(load(name))
    assert a.server.max_requests_per_conn == limit
    assert a.verdict.reuse == "partial"
    closed = [c for c in a.connections if c.closed_by == "server" and c.requests == limit]
    assert closed and max(c.requests for c in a.connections) == limit
    if a.protocol == "h2":  # said by GOAWAY: h2-goaway names it
        assert f"after {limit} streams each" in finding(a, "h2-goaway").message
    else:
        assert f"after exactly {limit} requests" in finding(a, "max-requests-per-conn").message


# --- HTTP/2 ---------------------------------------------------------------------------------


def test_h2_bursts_share_one_connection() -> None:
    a = analyze(load("h2-burst"))
    assert a.protocol == "h2"
    assert a.summary.connections_opened == 1 and a.summary.peak_concurrency == 4
    assert a.verdict.reuse == "yes" and a.verdict.ok and exit_code(a) == EXIT_OK
    assert a.findings == ()
    (mux,) = a.verdict.expectations
    assert mux.ok and mux.detail == "up to 4 streams at once on one connection"
    assert [r.stream_id for r in a.requests] == list(range(1, 16, 2))
    assert [r.reused for r in a.requests] == [False] + [True] * 7
    first_burst = [r for r in a.requests if r.phase == "burst-1"]
    assert not any(r.was_idle for r in first_burst)  # the connection always had a stream
    assert all(r.http_version == "2" and r.response_connection is None for r in a.requests)
    (conn,) = a.connections
    assert conn.protocol == "h2" and conn.peak_streams == 4 and conn.requests == 8
    assert conn.tls is not None and conn.tls.alpn == "h2"
    assert conn.tls.alpn_offered == ("h2", "http/1.1")
    settings = first("h2-burst", "h2_settings")
    assert conn.h2 == H2Connection(
        100,
        settings["initial_window_size"],
        settings["max_frame_size"],
        settings["max_header_list_size"],
        settings["header_table_size"],
        None,
    )
    assert a.server.h2_max_concurrent_streams == 100
    assert a.server.h2_max_concurrent_streams_announced == (100,)
    h2 = analyze(replace(load("h2-burst"), expectations=(Expectation("h2"),)))
    assert h2.verdict.expectations[0].detail == "all 8 requests used h2"


def test_h2_streams_on_four_connections_are_not_multiplexed() -> None:
    a = analyze(load("h2-spread-after"))
    assert a.summary.connections_opened == 4
    # Four clients, four pools: each pool's first connection was needed by that pool, so
    # the budget has nothing avoidable; what went wrong is the sharing, named below.
    assert a.verdict.reuse == "yes"
    assert a.verdict.redialled_connections == ()
    assert a.verdict.detail == (
        "5 requests · 4 connections = 4 needed for 4 pools, up to 4 requests at once"
    )
    assert codes(a) == ["h2-no-multiplexing"]
    f = finding(a, "h2-no-multiplexing")
    assert f.severity == "warning"
    assert f.message == (
        "4 concurrent requests (burst-1) used 4 h2 connections where 1 could carry them: "
        "the server allows 100 streams per connection"
    )
    assert f.evidence["phases"] == [
        {"phase": "burst-1", "requests": [1, 2, 3, 4], "connections": [1, 11, 21, 31],
         "peak_concurrency": 4}
    ]  # fmt: skip
    assert f.evidence["unshared_connections"] == [11, 21, 31]
    assert f.evidence["max_concurrent_streams"] == 100
    assert f.evidence["dialled_during_handshake"] == []  # connection 1 was long ready
    for knob in ("StrictMaxConcurrentStreams", "http.Client", "http2=True", "one per request"):
        assert knob in f.remedy
    reuse, mux = a.verdict.expectations
    assert reuse.ok
    assert not mux.ok and mux.detail == (
        "4 concurrent requests used 4 h2 connections; the server allows 100 streams per connection"
    )
    assert exit_code(a) == EXIT_EXPECTATION_FAILED


def test_h2_spread_fails_on_multiplexing_not_on_reuse() -> None:
    a = analyze(load("h2-spread"))
    assert a.verdict.reuse == "yes" and a.summary.budget.needed == 4
    assert codes(a) == ["h2-no-multiplexing"]
    assert [e.ok for e in a.verdict.expectations] == [True, False]
    assert exit_code(a) == EXIT_EXPECTATION_FAILED


def test_h2_connections_dialled_before_the_first_handshake() -> None:
    a = analyze(load("h2-spread"))
    f = finding(a, "h2-no-multiplexing")
    early = f.evidence["dialled_during_handshake"]
    assert early and set(early) <= {11, 21, 31}
    assert f.message.endswith(
        f"({len(early)} connections dialled before the first had finished its handshake)"
    )


def test_h2_connections_beyond_the_server_limit_are_necessary() -> None:
    a = analyze(load("h2-spread-one-stream"))
    assert a.server.h2_max_concurrent_streams == 1
    assert a.verdict.reuse == "yes" and a.verdict.redialled_connections == ()
    assert a.verdict.detail == (
        "5 requests · 4 connections = 4 needed for 4 pools, up to 4 requests at once"
    )
    *_, mux = a.verdict.expectations
    assert not mux.ok
    assert mux.detail == (
        "4 concurrent requests used 4 h2 connections; the server allows 1 stream per connection"
    )


def test_h2_connections_beyond_the_server_limit_blame_the_limit() -> None:
    # No connection was wasted, yet multiplex failed: the FAIL still names why.
    a = analyze(load("h2-spread-one-stream"))
    assert codes(a) == ["expectation-unmet"]
    f = finding(a, "expectation-unmet")
    assert "no connection was wasted" in f.message
    assert "SETTINGS_MAX_CONCURRENT_STREAMS" in f.remedy


def test_goaway_retries_the_unprocessed_streams_elsewhere() -> None:
    a = analyze(load("h2-goaway-retry"))
    assert codes(a) == ["h2-goaway"]  # a GOAWAY retry is no stale connection
    f = finding(a, "h2-goaway")
    assert f.severity == "warning"
    assert f.message == (
        "server sent 2 GOAWAYs (NO_ERROR) on 2 of 3 connections after 4 streams each; 3 "
        "streams above last_stream_id 7 were unprocessed and retried on a new connection"
    )
    assert f.evidence["unprocessed"] == [4, 8, 9] and f.evidence["retried"] == [4, 8, 9]
    assert f.evidence["error_codes"] == ["NO_ERROR"] * 2
    assert f.evidence["last_stream_ids"] == [7, 7]
    assert "raise nginx keepalive_requests" in f.remedy  # the same count twice: a limit
    row = a.requests[4]
    assert row.retried and row.conn_id == 2 and row.stream_id == 1
    c1, c2, c3 = a.connections
    assert (c1.closed_by, c1.close_reason, tuple(c1.request_indexes)) == (
        "server",
        "goaway",
        (0, 1, 2, 3),
    )
    assert c1.h2 is not None and c1.h2.goaway is not None
    assert c1.h2.goaway == GoAway("NO_ERROR", 7, None, (4,), c1.h2.goaway.at_s)
    assert tuple(c2.request_indexes) == (4, 5, 6, 7) and tuple(c3.request_indexes) == (8, 9)
    assert a.summary.retried == 3
    assert a.verdict.reuse == "partial"
    assert a.verdict.detail.endswith(
        "+ 2 because the server ended conn 1, 2 with GOAWAY and the unanswered requests "
        "were retried"
    )


def test_goaway_after_the_same_number_of_streams_is_a_limit() -> None:
    a = analyze(load("h2-goaway-every"))
    assert a.server.max_requests_per_conn == 3
    assert codes(a) == ["h2-goaway"]  # max-requests-per-conn leaves it to h2-goaway
    f = finding(a, "h2-goaway")
    assert f.message == (
        "server sent 2 GOAWAYs (NO_ERROR) on 2 of 3 connections after 3 streams each; "
        "last_stream_id 5"
    )
    assert "after 3 streams, so one request in 3" in f.remedy
    assert "keepalive_requests (default 1000" in f.remedy and "http2_max_requests" in f.remedy


def test_goaway_with_an_error_code_is_an_error() -> None:
    a = analyze(load("h2-calm"))
    f = finding(a, "h2-goaway")
    assert f.severity == "error"
    assert "(ENHANCE_YOUR_CALM)" in f.message
    assert f.message.endswith("; the server said: too many resets")
    assert "CVE-2023-44487" in f.remedy and "retry streams above last_stream_id" in f.remedy
    assert a.findings[0].code == "h2-goaway"  # errors first
    # Every connection but the last met the GOAWAY (the last may end with the run first).
    assert {(c.closed_by, c.close_reason) for c in a.connections[:-1]} == {("server", "goaway")}
    assert a.summary.retried == len(f.evidence["retried"]) > 0


def test_goaway_on_an_idle_connection_is_its_idle_timeout() -> None:
    a = analyze(load("h2-idle-goaway"))
    c1, _ = a.connections
    assert c1.idle_time_at_close_s is not None
    assert a.server.idle_timeout_s == round(c1.idle_time_at_close_s, 3)
    assert codes(a) == ["server-idle-timeout", "h2-goaway"]
    assert finding(a, "server-idle-timeout").message == (
        f"server closed 1 idle connection after {c1.idle_time_at_close_s:.1f} s idle (goaway)"
    )
    f = finding(a, "h2-goaway")
    assert f.severity == "info" and "while idle" in f.message
    assert a.verdict.reuse == "partial"
    assert a.verdict.detail.endswith(
        "+ 1 because the server closed conn 1 with GOAWAY after 2 requests"
    )


def test_refused_stream_is_retried_without_blaming_the_client() -> None:
    a = analyze(load("h2-refused-stream"))
    refused = a.requests[1]
    assert refused.retried and refused.status == 200
    assert a.summary.retried == 1 and a.summary.failed == 0
    # neither stale-conn-retry nor h2-no-multiplexing: the server's refusal, named
    assert codes(a) == ["h2-stream-refused"]
    f = finding(a, "h2-stream-refused")
    assert f.message == (
        "server refused 1 stream (RST_STREAM REFUSED_STREAM) with at most 1 open on its "
        "connection, below the 100 it announced; the client retried it"
    )
    assert f.evidence["requests"] == [1]
    assert a.verdict.reuse == "yes"


def test_h2_unread_body_resets_the_stream_and_keeps_the_connection() -> None:
    a = analyze(load("h2-unread"))
    assert a.summary.connections_opened == 1 and a.verdict.reuse == "yes"
    assert codes(a) == ["body-not-drained"]
    f = finding(a, "body-not-drained")
    assert f.severity == "info"
    assert f.message == (
        "3 h2 response bodies were closed before the end (request 0, 1, 2); the client reset "
        "their streams and the connection stayed usable"
    )


def test_stream_reset_by_the_server_is_a_request_error() -> None:
    a = analyze(load("h2-rst"))
    (row,) = a.requests
    assert row.error == RunError("stream-reset", "server reset stream 1: INTERNAL_ERROR")
    assert row.status is None
    assert a.summary.failed == 1
    # The reset ended the stream, not the connection: the client closed it at the end.
    (conn,) = a.connections
    assert (conn.closed_by, conn.close_reason) == ("client", "end-of-run")
    # The runner stops at a reset stream: the target answers with something not HTTP.
    assert a.error == row.error and exit_code(a) == EXIT_UNREACHABLE


def test_h2c_prior_knowledge() -> None:
    a = analyze(load("h2c-burst"))
    (conn,) = a.connections
    assert conn.protocol == "h2" and conn.tls is None and conn.peak_streams == 3
    assert a.verdict.ok and a.findings == ()


def test_alpn_fallback_to_http1() -> None:
    record = load("alpn-fallback")
    a = analyze(replace(record, expectations=(Expectation("h2"), Expectation("multiplex"))))
    assert codes(a) == ["h2-not-negotiated"]
    f = finding(a, "h2-not-negotiated")
    assert f.severity == "warning"
    assert f.message == (
        "server chose http/1.1, not h2, on 1 of 1 TLS connection (ALPN offered: h2, http/1.1)"
    )
    assert f.evidence["alpn_offered"] == ["h2", "http/1.1"]
    assert f.evidence["alpn_chosen"] == ["http/1.1"]
    assert f.evidence["connections"] == [1] and f.evidence["requests"] == [0, 1]
    for knob in ("http2 on;", "listen 443 ssl http2;", "Protocols h2 http/1.1", "load balancer",
                 "ForceAttemptHTTP2", "http2=True", "httpx[http2]"):  # fmt: skip
        assert knob in f.remedy
    h2, mux = a.verdict.expectations
    assert not h2.ok and h2.detail == (
        "server chose http/1.1 (offered h2, http/1.1): 2 of 2 requests used http/1.1"
    )
    assert not mux.ok and mux.detail == "server chose http/1.1 (offered h2, http/1.1)"
    assert a.requests[0].timings_s.tls is not None
    assert exit_code(a) == EXIT_EXPECTATION_FAILED


def test_alpn_with_no_protocol_chosen() -> None:
    a = analyze(replace(load("alpn-none"), expectations=(Expectation("h2"),)))
    f = finding(a, "h2-not-negotiated")
    assert f.message.startswith("server chose no protocol, not h2, on 1 of 1 TLS connection")
    assert f.remedy.startswith("The server selected no ALPN protocol at all")
    assert f.evidence["alpn_chosen"] == [None]
    assert a.verdict.expectations[0].detail.startswith("server chose no protocol (offered")


def test_h2_required_and_refused_stops_the_run() -> None:
    a = analyze(load("h2-required"))
    assert exit_code(a) == EXIT_UNREACHABLE and not a.verdict.ok
    f = finding(a, "h2-not-negotiated")
    assert f.severity == "error"
    assert f.message == (
        "server chose http/1.1, not h2, on 1 of 1 TLS connection (ALPN offered: h2, "
        "http/1.1); the run required h2 and stopped"
    )
    assert f.evidence["run_error"]["kind"] == "h2-not-negotiated"
    (h2,) = a.verdict.expectations
    assert not h2.ok and h2.detail == "server chose http/1.1 (offered h2, http/1.1)"
    (conn,) = a.connections
    assert (conn.closed_by, conn.close_reason) == ("client", "error")


def test_h2c_required_and_not_spoken() -> None:
    a = analyze(load("h2c-required"))
    assert exit_code(a) == EXIT_UNREACHABLE
    assert codes(a) == ["h2-not-negotiated"]
    f = finding(a, "h2-not-negotiated")
    assert f.message.startswith("the server did not speak HTTP/2 with prior knowledge (h2c)")
    assert f.remedy.startswith("h2c (HTTP/2 over plain TCP")
    (h2,) = a.verdict.expectations
    assert not h2.ok


def test_http1_requests_are_never_streams_at_once() -> None:
    for name in ("burst", "pool-churn", "healthy", "probe-default", "go-default-pool"):
        assert all(c.peak_streams <= 1 for c in analyze(load(name)).connections)
    # A connection handed straight to a waiting request (put_idle handed_off, then the
    # next got_conn reused but not idle, then the first request_done): still one request
    # at a time on the connection.  go-default-pool's bursts of 10 hand off many.
    lines = event_lines("go-default-pool")
    handed = next(e for e in lines if e["event"] == "put_idle" and e.get("handed_off"))
    after = lines[lines.index(handed) + 1 :]
    took = next(e for e in after if e["event"] == "got_conn" and e["conn"] == handed["conn"])
    assert took["reused"] and not took["was_idle"]
    record = replace(load("go-default-pool"), expectations=(Expectation("multiplex"),))
    a = analyze(record)
    assert a.summary.peak_concurrency == 10
    conn = next(c for c in a.connections if c.id == handed["conn"])
    assert conn.peak_streams == 1
    (mux,) = a.verdict.expectations
    assert not mux.ok and mux.detail == "no request used h2"


def test_a_pause_past_the_announced_idle_timeout_blames_the_server_not_the_client() -> None:
    # The client followed the advice (its idle timeout below the server's), and the
    # probe's pause is longer than both: only the server's setting keeps the connection.
    a = analyze(load("idle-outlasted"))
    assert dict(a.summary.budget.avoidable) == {"server-idle-limit": 1}
    assert codes(a) == ["server-idle-timeout"]
    f = finding(a, "server-idle-timeout")
    assert f.message.startswith(
        "the server keeps idle connections 0.5 s (Keep-Alive: timeout=0.5), less than the "
        "pause before 1 request: the client's own idle timeout closed 1 connection first"
    )
    assert "Raise the server's idle timeout" in f.remedy
    assert a.verdict.detail.endswith(
        "+ 1 because the pause outlasted the server's idle timeout (0.5 s) on conn 1, which "
        "the client's own idle timeout closed first"
    )
    # Nothing said by the server: the client's idle timeout is all this run knows.
    b = analyze(load("idle-client-only"))
    assert dict(b.summary.budget.avoidable) == {"client-idle-timeout": 1}
    assert codes(b) == ["client-idle-timeout"]
    assert "no client setting keeps the connection" in finding(b, "client-idle-timeout").remedy
