"""The analysis, fed hand-built event sequences shaped like the pool's (tests/builders.py)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reusecheck.analysis import (
    EXIT_EXPECTATION_FAILED,
    EXIT_OK,
    EXIT_UNREACHABLE,
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
from tests.builders import (
    STEP,
    URL,
    H2Trace,
    Trace,
    alpn_fallback,
    burst,
    codes,
    connection_close,
    finding,
    h2_burst,
    h2_goaway_every,
    h2_goaway_retry,
    h2_required,
    h2_spread,
    healthy,
    http10,
    idle_timeout,
    max_requests,
    pool_churn,
    stale_retry,
    unreachable,
    unread_body,
)

# --- the brief's scenarios ------------------------------------------------------------------


def test_healthy_keepalive_is_yes_with_ratio_0_8() -> None:
    a = analyze(healthy(5))
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
    assert exit_code(a) == EXIT_OK
    (conn,) = a.connections
    assert conn.requests == 5
    assert conn.request_indexes == (0, 1, 2, 3, 4)
    assert (conn.closed_by, conn.close_reason) == ("client", "end-of-run")
    assert conn.local == "127.0.0.1:50001"
    assert a.protocol == "http/1.1"


def test_timings_are_null_where_a_reused_connection_skipped_the_phase() -> None:
    a = analyze(healthy(2))
    first, second = a.requests
    assert first.timings_s.dns is not None and first.timings_s.connect is not None
    assert first.timings_s.tls is None  # plain HTTP
    assert second.timings_s.dns is None
    assert second.timings_s.connect is None
    assert second.timings_s.wait == pytest.approx(0.004 + STEP, abs=1e-6)
    assert second.timings_s.total is not None and second.timings_s.total > 0
    assert second.reused and second.was_idle and second.idle_time_s > 0
    assert first.stream_id is None and second.stream_id is None
    assert second.phase == "sequential" and second.method == "GET" and second.url == URL


def test_connection_close_server_is_no_keepalive_and_verdict_no() -> None:
    a = analyze(connection_close(5))
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
    a = analyze(http10(3))
    assert a.server.keepalive is False
    assert codes(a) == ["http10-server"]
    assert "HTTP/1.0" in finding(a, "http10-server").message
    assert "3 of 3 connections after 1 request each" in finding(a, "http10-server").message
    assert a.verdict.reuse == "no"
    assert {c.close_reason for c in a.connections} == {"http10"}
    assert a.requests[0].http_version == "1.0"


def test_max_requests_3_over_8_requests() -> None:
    a = analyze(max_requests(8, 3))
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
    assert "connection-close-header" in a.verdict.detail
    assert a.summary.reused == 5


def test_max_requests_once_when_the_hint_announced_it() -> None:
    # One close after 3 requests is not enough on its own ...
    tr = Trace()
    for r in range(4):
        c = tr.start(r)
        tr.finish(r, connection="close" if tr.carried[c] + 1 == 3 else None)
        tr.wait(0.01)
    tr.end()
    assert analyze(tr.record()).server.max_requests_per_conn is None
    # ... unless the Keep-Alive hint announced max=3 on that connection.
    a = analyze(max_requests(4, 3, keep_alive="timeout=5, max=3"))
    assert a.server.max_requests_per_conn == 3
    assert a.server.keepalive_hint == KeepAliveHint(5.0, 3)
    assert a.server.max_requests_hint_delta == 0
    assert "Keep-Alive hint max=3" in finding(a, "max-requests-per-conn").message


def test_idle_timeout_between_phases() -> None:
    a = analyze(idle_timeout(4.0))
    assert a.server.idle_timeout_s == 4.0
    assert a.server.keepalive is True
    assert codes(a) == ["server-idle-timeout"]
    f = finding(a, "server-idle-timeout")
    assert f.message == "server closed 1 idle connection after 4.0 s idle (eof)"
    assert "IdleConnTimeout: 3*time.Second" in f.remedy
    assert "keepalive_expiry=3" in f.remedy
    assert "keepalive_timeout=3" in f.remedy
    assert "keepAliveTimeout" in f.remedy
    assert f.evidence["connections"] == [1]
    assert f.evidence["idle_timeout_s"] == 4.0
    c1 = a.connections[0]
    assert (c1.closed_by, c1.close_reason, c1.idle_time_at_close_s) == (
        "server",
        "idle-timeout",
        4.0,
    )
    assert a.verdict.reuse == "partial"
    assert a.verdict.redialled_connections == (2,)
    assert "(server closed: idle-timeout)" in a.verdict.detail
    assert [r.phase for r in a.requests] == ["sequential"] * 3 + ["idle"] * 2


def test_idle_timeout_is_compared_with_the_keep_alive_hint() -> None:
    a = analyze(idle_timeout(4.0, keep_alive="timeout=5"))
    assert a.server.keepalive_hint == KeepAliveHint(5.0, None)
    assert a.server.idle_timeout_hint_delta_s == 1.0
    f = finding(a, "server-idle-timeout")
    assert "Keep-Alive hint timeout=5 (+1.0 s vs measured)" in f.message


def test_stale_connection_retry() -> None:
    a = analyze(stale_retry())
    row = a.requests[2]
    assert row.retried
    assert row.conn_id == 2
    assert not row.reused  # the final attempt's connection
    assert row.timings_s.connect is not None
    assert row.timings_s.total is not None and row.timings_s.total > row.timings_s.connect
    c1, c2 = a.connections
    assert c1.requests == 2 and c1.request_indexes == (0, 1)  # the failed try is not carried
    assert (c1.closed_by, c1.close_reason) == ("server", "eof")
    assert c2.request_indexes == (2,)
    assert "stale-conn-retry" in codes(a)
    f = finding(a, "stale-conn-retry")
    assert f.message == (
        "1 request hit a reused connection the server had closed (eof after 5.0 s idle) "
        "and was retried on a new connection"
    )
    assert f.evidence["requests"] == [2] and f.evidence["connections"] == [1]
    assert "below 4.96 s" in f.remedy and "IdleConnTimeout: 4*time.Second" in f.remedy
    assert "reusecheck discover" in f.remedy
    assert a.summary.retried == 1
    assert a.server.keepalive is True  # a stale close is no "closed after the response"
    assert a.verdict.reuse == "partial"


def test_pool_churn_under_concurrency_4_with_max_idle_per_host_2() -> None:
    a = analyze(pool_churn())
    assert a.summary.peak_concurrency == 4
    assert a.summary.connections_opened == 6
    assert a.summary.reused == 2
    assert codes(a) == ["pool-churn"]
    f = finding(a, "pool-churn")
    assert f.message == (
        "pool closed 4 connections because its idle list was full (max_idle_per_host=2) "
        "and dialled 2 new after; up to 4 requests ran at once"
    )
    assert "MaxIdleConnsPerHost = 4" in f.remedy
    assert "max_keepalive_connections=4" in f.remedy
    assert "limit_per_host=4" in f.remedy
    assert f.evidence["redialled_connections"] == [5, 6]
    assert a.verdict.reuse == "partial"
    assert a.verdict.redialled_connections == (5, 6)
    assert "conn 5, 6 (client closed: pool-full x2)" in a.verdict.detail
    assert a.server.keepalive is True


def test_unread_body() -> None:
    a = analyze(unread_body(3))
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


def test_burst_of_4_fresh_connections_is_yes() -> None:
    a = analyze(burst(4))
    assert a.summary.connections_opened == 4
    assert a.summary.peak_concurrency == 4
    assert a.summary.reused == 0
    assert a.verdict.reuse == "yes"
    assert a.verdict.redialled_connections == ()
    assert a.findings == ()
    assert a.server.keepalive is None
    assert exit_code(a) == EXIT_OK


def test_unreachable_run_exits_3() -> None:
    a = analyze(unreachable())
    assert a.error == RunError("connect", "cannot connect to 127.0.0.1:9: connection refused")
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
    tr = Trace()
    for r in range(3):
        c = tr.start(r)
        tr.finish(r)
        tr.server_idle_close(c)  # a few ms after going idle
        tr.wait(0.01)
    tr.end()
    a = analyze(tr.record())
    assert a.server.keepalive is False
    assert a.server.idle_timeout_s is None
    assert codes(a) == ["no-keepalive"]
    assert "EOF right after the response" in finding(a, "no-keepalive").message


def test_client_without_keepalive_is_new_conn_per_request() -> None:
    tr = Trace()
    for r in range(3):
        tr.request(r, client_close=True)
    tr.end()
    a = analyze(tr.record())
    assert a.server.keepalive is None
    assert codes(a) == ["new-conn-per-request"]
    assert finding(a, "new-conn-per-request").message == (
        "each of 3 sequential requests opened a new connection; connections closed by "
        "client: connection-close-header"
    )
    assert a.verdict.reuse == "no"


def test_idle_timeout_median_of_several() -> None:
    tr = Trace()
    tr.request(0)
    tr.request(1)  # same connection; open a second one with a burst
    tr.start(2)
    tr.start(3)
    tr.finish(2)
    tr.finish(3)
    tr.t = tr.idle_since[1] + 3.9
    tr.server_idle_close(1)
    tr.t = tr.idle_since[2] + 4.1
    tr.server_idle_close(2)
    tr.end()
    a = analyze(tr.record())
    assert a.server.idle_timeout_s == 4.0
    assert "median of 3.9-4.1 s" in finding(a, "server-idle-timeout").message


def test_numeric_expectations() -> None:
    record = max_requests(8, 3)
    record.expectations = (
        Expectation("min-reuse-ratio", 0.6),
        Expectation("max-connections", 3),
        Expectation("none"),
    )
    a = analyze(record)
    ratio, most, none = a.verdict.expectations
    assert ratio.ok and ratio.detail == "reuse ratio 0.62 >= 0.6"
    assert most.ok and most.detail == "3 connections opened <= 3"
    assert none.ok
    assert a.verdict.ok and exit_code(a) == EXIT_OK  # partial reuse, but not asked about
    record.expectations = (Expectation("min-reuse-ratio", 0.9), Expectation("max-connections", 2))
    a = analyze(record)
    assert [e.ok for e in a.verdict.expectations] == [False, False]
    assert a.verdict.expectations[1].detail == "3 connections opened > 2"


def test_reuse_expectation_fails_on_partial() -> None:
    a = analyze(idle_timeout())
    (reuse,) = a.verdict.expectations
    assert not reuse.ok
    assert reuse.detail.startswith("reuse partial: 5 requests on 2 connections")


def test_expectation_validation() -> None:
    with pytest.raises(ValueError, match="unknown expectation"):
        Expectation("fast")
    with pytest.raises(ValueError, match="needs a value"):
        Expectation("min-reuse-ratio")


def test_no_expectations_means_ok_unless_error() -> None:
    record = connection_close()
    record.expectations = ()
    assert exit_code(analyze(record)) == EXIT_OK


def test_runner_style_error_objects_are_accepted() -> None:
    class Stopped:
        kind = "deadline"
        message = "the run did not finish within --deadline 1 s"

    record = healthy(2)
    record.error = Stopped()
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
    a = analyze(RunRecord(URL, []))
    assert a.summary.requests == 0 and a.summary.reuse_ratio == 0.0
    assert a.verdict.reuse == "no" and a.verdict.ok
    assert a.findings == ()


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 30))
def test_sequential_keepalive_ratio(n: int) -> None:
    a = analyze(healthy(n))
    assert a.summary.reused == n - 1
    assert a.summary.reuse_ratio == round((n - 1) / n, 4)
    assert a.verdict.reuse == "yes"


@settings(max_examples=40, deadline=None)
@given(limit=st.integers(2, 6), extra=st.integers(0, 5))
def test_max_requests_is_found_for_any_limit(limit: int, extra: int) -> None:
    n = 2 * limit + extra
    a = analyze(max_requests(n, limit))
    assert a.server.max_requests_per_conn == limit
    assert a.verdict.reuse == "partial"
    assert f"after exactly {limit} requests" in finding(a, "max-requests-per-conn").message


# --- HTTP/2 ---------------------------------------------------------------------------------


def test_h2_burst_shares_one_connection() -> None:
    a = analyze(h2_burst(4))
    assert a.protocol == "h2"
    assert a.summary.connections_opened == 1 and a.summary.peak_concurrency == 4
    assert a.verdict.reuse == "yes" and a.verdict.ok and exit_code(a) == EXIT_OK
    assert a.findings == ()
    _, h2, mux = a.verdict.expectations
    assert h2.ok and h2.detail == "all 4 requests used h2"
    assert mux.ok and mux.detail == "up to 4 streams at once on one connection"
    assert [r.stream_id for r in a.requests] == [1, 3, 5, 7]
    assert [r.reused for r in a.requests] == [False, True, True, True]
    assert not any(r.was_idle for r in a.requests)  # the connection always had a stream
    assert all(r.http_version == "2" and r.response_connection is None for r in a.requests)
    (conn,) = a.connections
    assert conn.protocol == "h2" and conn.peak_streams == 4 and conn.requests == 4
    assert conn.tls is not None and conn.tls.alpn == "h2"
    assert conn.tls.alpn_offered == ("h2", "http/1.1")
    assert conn.h2 == H2Connection(100, 65535, 16384, None, 4096, None)
    assert a.server.h2_max_concurrent_streams == 100
    assert a.server.h2_max_concurrent_streams_announced == (100,)


def test_h2_streams_on_four_connections_are_not_multiplexed() -> None:
    a = analyze(h2_spread(4))
    assert a.summary.connections_opened == 4
    assert a.verdict.reuse == "partial"
    assert a.verdict.redialled_connections == (2, 3, 4)
    assert a.verdict.detail == (
        "5 requests on 4 connections where 1 would have done; re-dialled: conn 2, 3, 4 "
        "(not multiplexed: an open h2 connection had a free stream x3)"
    )
    assert codes(a) == ["h2-no-multiplexing"]
    f = finding(a, "h2-no-multiplexing")
    assert f.severity == "warning"
    assert f.message == (
        "4 concurrent requests (burst-1) used 4 h2 connections where 1 could carry them: "
        "the server allows 100 streams per connection"
    )
    assert f.evidence["phases"] == [
        {"phase": "burst-1", "requests": [1, 2, 3, 4], "connections": [1, 2, 3, 4],
         "peak_concurrency": 4}
    ]  # fmt: skip
    assert f.evidence["unshared_connections"] == [2, 3, 4]
    assert f.evidence["max_concurrent_streams"] == 100
    assert f.evidence["dialled_during_handshake"] == []
    for knob in ("StrictMaxConcurrentStreams", "http.Client", "http2=True", "one per request"):
        assert knob in f.remedy
    reuse, h2, mux = a.verdict.expectations
    assert not reuse.ok and h2.ok
    assert not mux.ok and mux.detail == (
        "4 concurrent requests used 4 h2 connections; the server allows 100 streams per connection"
    )
    assert exit_code(a) == EXIT_EXPECTATION_FAILED


def test_h2_spread_with_no_connection_reused_is_no() -> None:
    # design.md: "no" when no connection carried a second request, h2 or not.
    a = analyze(h2_spread(4, sequential=0))
    assert a.verdict.reuse == "no"
    assert a.verdict.redialled_connections == (2, 3, 4)
    assert codes(a) == ["h2-no-multiplexing"]


def test_h2_connections_beyond_the_server_limit_are_necessary() -> None:
    a = analyze(h2_spread(4, max_streams=1))
    assert a.server.h2_max_concurrent_streams == 1
    assert a.verdict.reuse == "yes" and a.verdict.redialled_connections == ()
    assert a.findings == ()
    *_, mux = a.verdict.expectations
    assert not mux.ok
    assert mux.detail == (
        "4 concurrent requests used 4 h2 connections; the server allows 1 stream per connection"
    )


def test_h2_connections_dialled_before_the_first_handshake() -> None:
    tr = H2Trace()
    tr.dial_each(range(4))
    for r in range(4):
        tr.finish(r)
    tr.end()
    f = finding(analyze(tr.record()), "h2-no-multiplexing")
    assert f.message.endswith("(3 connections dialled before the first had finished its handshake)")
    assert f.evidence["dialled_during_handshake"] == [2, 3, 4]


def test_h2_limit_not_announced_assumes_100() -> None:
    a = analyze(h2_spread(4, settings=False))
    assert a.server.h2_max_concurrent_streams is None
    assert all(c.h2 == H2Connection() for c in a.connections)
    f = finding(a, "h2-no-multiplexing")
    assert f.message.endswith("the server announced no limit (100 assumed)")
    assert f.evidence["max_concurrent_streams"] is None
    assert a.verdict.reuse == "partial"


def test_h2_settings_are_merged_and_the_smallest_limit_wins() -> None:
    tr = H2Trace(max_streams=128)
    tr.start(0)
    tr.announce(1, 50, initial_window_size=None)  # a later SETTINGS frame lowers the limit
    tr.start(1, fresh=True)
    tr.finish(0)
    tr.finish(1)
    tr.end()
    a = analyze(tr.record())
    c1, c2 = a.connections
    assert c1.h2 is not None and c1.h2.max_concurrent_streams == 50
    assert c1.h2.initial_window_size == 65535  # not in the second frame: unchanged
    assert c1.h2.max_header_list_size is None  # never sent
    assert c2.h2 is not None and c2.h2.max_concurrent_streams == 128
    assert a.server.h2_max_concurrent_streams == 50
    assert a.server.h2_max_concurrent_streams_announced == (50, 128)


def test_goaway_retries_the_unprocessed_stream_elsewhere() -> None:
    a = analyze(h2_goaway_retry())
    assert codes(a) == ["h2-goaway"]  # a GOAWAY retry is no stale connection
    f = finding(a, "h2-goaway")
    assert f.severity == "warning"
    assert f.message == (
        "server sent 1 GOAWAY (NO_ERROR) on 1 of 2 connections after 4 streams; 1 stream "
        "above last_stream_id 7 was unprocessed and retried on a new connection"
    )
    assert f.evidence["unprocessed"] == [4] and f.evidence["retried"] == [4]
    assert f.evidence["error_codes"] == ["NO_ERROR"] and f.evidence["last_stream_ids"] == [7]
    assert "raise nginx keepalive_requests" not in f.remedy  # one connection is no limit yet
    row = a.requests[4]
    assert row.retried and row.conn_id == 2 and row.stream_id == 1
    c1, c2 = a.connections
    assert (c1.closed_by, c1.close_reason, c1.request_indexes) == ("server", "goaway", (0, 1, 2, 3))
    assert c1.h2 is not None and c1.h2.goaway is not None
    assert c1.h2.goaway == GoAway("NO_ERROR", 7, None, (4,), c1.h2.goaway.at_s)
    assert c2.request_indexes == (4, 5)
    assert a.summary.retried == 1
    assert a.verdict.reuse == "partial"
    assert a.verdict.detail.endswith("re-dialled: conn 2 (server closed: goaway)")


def test_goaway_after_the_same_number_of_streams_is_a_limit() -> None:
    a = analyze(h2_goaway_every(3, 7))
    assert a.server.max_requests_per_conn == 3
    assert codes(a) == ["h2-goaway"]  # max-requests-per-conn leaves it to h2-goaway
    f = finding(a, "h2-goaway")
    assert f.message == (
        "server sent 2 GOAWAYs (NO_ERROR) on 2 of 3 connections after 3 streams each; "
        "last_stream_id 5"
    )
    assert "after 3 streams, so one request in 3" in f.remedy
    assert "keepalive_requests (default 1000" in f.remedy and "http2_max_requests" in f.remedy


@pytest.mark.parametrize(
    ("code", "remedy"),
    [("ENHANCE_YOUR_CALM", "CVE-2023-44487"), ("PROTOCOL_ERROR", "debug data")],
)
def test_goaway_with_an_error_code_is_an_error(code: str, remedy: str) -> None:
    a = analyze(h2_goaway_retry(code, data="too many resets"))
    f = finding(a, "h2-goaway")
    assert f.severity == "error"
    assert f"({code})" in f.message and f.message.endswith("; the server said: too many resets")
    assert remedy in f.remedy and "retry streams above last_stream_id" in f.remedy
    assert a.findings[0].code == "h2-goaway"  # errors first


def test_goaway_on_an_idle_connection_is_its_idle_timeout() -> None:
    tr = H2Trace()
    for r in range(2):
        tr.start(r)
        tr.finish(r)
    tr.wait(5.0)
    tr.goaway(1)
    tr.start(2, "idle")
    tr.finish(2)
    tr.end()
    a = analyze(tr.record())
    assert a.server.idle_timeout_s == pytest.approx(5.0, abs=0.01)
    assert codes(a) == ["server-idle-timeout", "h2-goaway"]
    assert "idle (goaway)" in finding(a, "server-idle-timeout").message
    f = finding(a, "h2-goaway")
    assert f.severity == "info" and "while idle" in f.message
    assert a.verdict.reuse == "partial" and "(server closed: goaway)" in a.verdict.detail


def test_refused_stream_is_retried_without_blaming_the_client() -> None:
    tr = H2Trace()
    tr.start(0)
    tr.start(1)
    tr.retry(1, "refused-stream")
    tr.finish(0)
    tr.finish(1)
    tr.start(2)  # connection 1 is still good
    tr.finish(2)
    tr.end()
    a = analyze(tr.record())
    assert a.requests[1].retried and a.requests[1].conn_id == 2
    assert a.requests[2].conn_id == 1
    # neither stale-conn-retry nor h2-no-multiplexing: the server's refusal, named
    assert codes(a) == ["h2-stream-refused"]
    assert a.verdict.detail.endswith("(server refused: REFUSED_STREAM)")


def test_h2_unread_body_resets_the_stream_and_keeps_the_connection() -> None:
    tr = H2Trace()
    for r in range(3):
        tr.start(r)
        tr.finish(r, drain=False)
        tr.wait(0.01)
    tr.end()
    a = analyze(tr.record())
    assert a.summary.connections_opened == 1 and a.verdict.reuse == "yes"
    assert codes(a) == ["body-not-drained"]
    f = finding(a, "body-not-drained")
    assert f.severity == "info"
    assert f.message == (
        "3 h2 response bodies were closed before the end (request 0, 1, 2); the client reset "
        "their streams and the connection stayed usable"
    )


def test_stream_reset_by_the_server_is_a_request_error() -> None:
    tr = H2Trace()
    tr.start(0)
    tr.finish(0)
    tr.start(1)
    tr.finish(1, reset="INTERNAL_ERROR")
    tr.start(2)
    tr.finish(2)
    tr.end()
    a = analyze(tr.record())
    row = a.requests[1]
    assert row.error == RunError("stream-reset", "server reset stream 3: INTERNAL_ERROR")
    assert row.status is None
    assert a.summary.failed == 1
    assert a.connections[0].request_indexes == (0, 1, 2)  # the connection carried on
    assert a.verdict.reuse == "yes" and exit_code(a) == EXIT_OK


def test_h2c_prior_knowledge() -> None:
    tr = H2Trace(tls=False)
    for r in range(3):
        tr.start(r, "burst-1")
    for r in range(3):
        tr.finish(r)
    tr.end()
    a = analyze(tr.record((Expectation("multiplex"),)))
    (conn,) = a.connections
    assert conn.protocol == "h2" and conn.tls is None and conn.peak_streams == 3
    assert a.verdict.ok and a.findings == ()


def test_alpn_fallback_to_http1() -> None:
    a = analyze(alpn_fallback())
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
    a = analyze(alpn_fallback(chosen=None))
    f = finding(a, "h2-not-negotiated")
    assert f.message.startswith("server chose no protocol, not h2, on 1 of 1 TLS connection")
    assert f.remedy.startswith("The server selected no ALPN protocol at all")
    assert f.evidence["alpn_chosen"] == [None]
    assert a.verdict.expectations[0].detail.startswith("server chose no protocol (offered")


def test_h2_required_and_refused_stops_the_run() -> None:
    a = analyze(h2_required())
    assert exit_code(a) == EXIT_UNREACHABLE and not a.verdict.ok
    f = finding(a, "h2-not-negotiated")
    assert f.severity == "error"
    assert f.message == (
        "server chose http/1.1, not h2, on 1 of 1 TLS connection (ALPN offered: h2); the run "
        "required h2 and stopped"
    )
    assert f.evidence["run_error"]["kind"] == "h2-not-negotiated"
    (h2,) = a.verdict.expectations
    assert not h2.ok and h2.detail == "server chose http/1.1 (offered h2)"

    a = analyze(h2_required(tls=False))  # h2c: no ALPN to go by, the runner's word
    f = finding(a, "h2-not-negotiated")
    assert f.message == (
        "the server did not speak HTTP/2 with prior knowledge (h2c): server answered HTTP/1.1 "
        "to h2c; the run required h2 and stopped"
    )
    assert f.remedy.startswith("h2c (HTTP/2 over plain TCP")
    assert a.verdict.expectations[0].detail == "server answered HTTP/1.1 to h2c"


def test_http1_requests_are_never_streams_at_once() -> None:
    for record in (burst(4), pool_churn(), healthy(3)):
        assert all(c.peak_streams <= 1 for c in analyze(record).connections)
    # A connection handed straight to a waiting request: put_idle, then the next got_conn,
    # then the first request_done.  Still one at a time on the connection.
    tr = Trace()
    tr.start(0)
    tr.emit("get_conn", 1, None, key="http://127.0.0.1:8080", method="GET", url=URL)
    tr.t += 0.004
    tr.emit("got_first_byte", 0, 1)
    tr.emit("body_done", 0, 1, bytes=2, complete=True)
    tr.emit("put_idle", 0, 1, ok=True, reason=None, idle_conns=0, handed_off=True)
    tr.emit("got_conn", 1, 1, reused=True, was_idle=False, idle_time_s=0.0, protocol="http/1.1")
    tr.emit("request_done", 0, 1, status=200, error=None, retried=False, phase="burst-1")
    tr.emit("put_idle", 1, 1, ok=True, reason=None, idle_conns=1)
    tr.emit("request_done", 1, 1, status=200, error=None, retried=False, phase="burst-1")
    record = tr.record((Expectation("multiplex"),))
    a = analyze(record)
    assert a.summary.peak_concurrency == 2
    assert a.connections[0].peak_streams == 1
    (mux,) = a.verdict.expectations
    assert not mux.ok and mux.detail == "no request used h2"
