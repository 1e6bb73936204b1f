"""The analysis, fed hand-built event sequences shaped like the pool's (docs/design.md).

``Trace`` below emulates the pool: it keeps an idle list (most recent first, as Go),
dials when none is idle, counts requests per connection and emits the events in the
pool's order.  The report tests import the scenarios from here.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reusecheck.analyze import (
    EXIT_EXPECTATION_FAILED,
    EXIT_OK,
    EXIT_UNREACHABLE,
    Analysis,
    Expectation,
    KeepAliveHint,
    RunError,
    RunRecord,
    analyze,
    exit_code,
    parse_keep_alive,
)
from reusecheck.trace import Event

URL = "http://127.0.0.1:8080/"
STEP = 0.0005  # seconds between two events of the builder


class Trace:
    def __init__(
        self, *, max_idle_per_host: int = 100, tls: bool = False, alpn: str = "http/1.1"
    ) -> None:
        self.events: list[Event] = []
        self.t = 0.0
        self.max_idle = max_idle_per_host
        self.tls = tls
        self.alpn = alpn
        self._next_conn = 1
        self.idle: list[int] = []  # most recently used last
        self.idle_since: dict[int, float] = {}
        self.carried: dict[int, int] = {}
        self.open: set[int] = set()
        self.conn_of: dict[int, int] = {}
        self.phase: dict[int, str] = {}
        self.retried: set[int] = set()

    def emit(self, name: str, request: int | None, conn: int | None, **fields: Any) -> None:
        self.events.append(Event(round(self.t, 6), name, request, conn, fields))
        self.t += STEP

    def wait(self, seconds: float) -> None:
        self.t += seconds

    def _dial(self, r: int) -> int:
        c = self._next_conn
        self._next_conn += 1
        self.emit("dns_start", r, None, host="127.0.0.1")
        self.emit("dns_done", r, None, addrs=["127.0.0.1"])
        self.emit("connect_start", r, c, addr="127.0.0.1:8080")
        self.emit("connect_done", r, c, local=f"127.0.0.1:{50000 + c}", remote="127.0.0.1:8080")
        if self.tls:
            self.emit("tls_start", r, c, server_name="localhost", alpn_offered=["h2", "http/1.1"])
            self.emit(
                "tls_done",
                r,
                c,
                version="TLSv1.3",
                cipher="TLS_AES_256_GCM_SHA384",
                alpn=self.alpn,
                resumed=False,
            )
        self.open.add(c)
        self.carried[c] = 0
        return c

    def start(self, r: int, phase: str = "sequential", fresh: bool = False) -> int:
        self.phase[r] = phase
        self.emit("get_conn", r, None, key="http://127.0.0.1:8080", method="GET", url=URL)
        protocol = "h2" if self.alpn == "h2" else "http/1.1"
        if self.idle and not fresh:
            c = self.idle.pop()
            idle = round(self.t - self.idle_since[c], 6)
            self.emit(
                "got_conn", r, c, reused=True, was_idle=True, idle_time_s=idle, protocol=protocol
            )
        else:
            c = self._dial(r)
            self.emit(
                "got_conn", r, c, reused=False, was_idle=False, idle_time_s=0.0, protocol=protocol
            )
        self.conn_of[r] = c
        self.emit("wrote_headers", r, c)
        self.emit("wrote_request", r, c, bytes=78)
        return c

    def finish(
        self,
        r: int,
        *,
        status: int = 200,
        http_version: str = "1.1",
        connection: str | None = None,
        keep_alive: str | None = None,
        drain: bool = True,
        eof_after: bool = False,
        client_close: bool = False,
    ) -> None:
        c = self.conn_of[r]
        self.t += 0.004
        self.emit("got_first_byte", r, c)
        headers = [["content-length", "2"], ["server", "testd/1.0"]]
        if connection is not None:
            headers.append(["connection", connection])
        if keep_alive is not None:
            headers.append(["keep-alive", keep_alive])
        self.emit(
            "response_headers",
            r,
            c,
            status=status,
            http_version=http_version,
            connection=connection,
            keep_alive=keep_alive,
            headers=headers,
        )
        self.carried[c] += 1
        if not drain:
            self.emit("body_done", r, c, bytes=0, complete=False)
            self._refuse(r, c, "client", "body-not-drained")
        else:
            self.emit("body_done", r, c, bytes=2, complete=True)
            reason = None
            if http_version == "1.0" and "keep-alive" not in (connection or "").lower():
                reason = "http10"
            elif connection is not None and "close" in connection.lower():
                reason = "connection-close-header"
            elif eof_after:
                reason = "eof"
            if client_close:
                self._refuse(r, c, "client", "connection-close-header")
            elif reason is not None:
                self._refuse(r, c, "server", reason)
            elif len(self.idle) >= self.max_idle:
                self._refuse(r, c, "client", "pool-full")
            else:
                self.idle.append(c)
                self.idle_since[c] = self.t
                self.emit("put_idle", r, c, ok=True, reason=None, idle_conns=len(self.idle))
        self.emit(
            "request_done",
            r,
            c,
            status=status,
            error=None,
            retried=r in self.retried,
            phase=self.phase[r],
        )

    def _refuse(self, r: int, c: int, by: str, reason: str) -> None:
        self.emit("put_idle", r, c, ok=False, reason=reason, idle_conns=len(self.idle))
        self._close(r, c, by, reason)

    def _close(self, r: int | None, c: int, by: str, reason: str, **extra: Any) -> None:
        self.open.discard(c)
        if c in self.idle:
            self.idle.remove(c)
        fields = {"closed_by": by, "reason": reason, "requests": self.carried[c], **extra}
        self.emit("conn_closed", r, c, **fields)

    def request(self, r: int, phase: str = "sequential", **finish: Any) -> None:
        self.start(r, phase)
        self.finish(r, **finish)
        self.wait(0.01)

    def server_idle_close(self, c: int, reason: str = "eof") -> None:
        idle = round(self.t - self.idle_since[c], 6)
        self.emit("idle_closed", None, c, idle_time_s=idle, reason=reason, closed_by="server")
        self._close(None, c, "server", "idle-timeout")

    def stale_retry(self, r: int) -> None:
        """``r`` was started on a reused connection the server had closed: fail, retry."""
        c = self.conn_of[r]
        error = "server closed the connection (eof) before any response byte"
        self._close(r, c, "server", "eof", error=error)
        self.emit("retry", r, c, error=error, attempt=2)
        self.retried.add(r)
        self.start(r, self.phase[r], fresh=True)

    def end(self) -> None:
        for c in sorted(self.open):
            self._close(None, c, "client", "end-of-run")

    def record(
        self,
        expectations: tuple[Expectation, ...] = (Expectation("reuse"),),
        error: RunError | None = None,
        **options: Any,
    ) -> RunRecord:
        return RunRecord(URL, list(self.events), expectations, error, options)


# --- scenarios (also used by the report tests) -------------------------------------------


def healthy(n: int = 5) -> RunRecord:
    tr = Trace()
    for r in range(n):
        tr.request(r)
    tr.end()
    return tr.record()


def connection_close(n: int = 5) -> RunRecord:
    tr = Trace()
    for r in range(n):
        tr.request(r, connection="close")
    tr.end()
    return tr.record()


def http10(n: int = 3) -> RunRecord:
    tr = Trace()
    for r in range(n):
        tr.request(r, http_version="1.0")
    tr.end()
    return tr.record()


def max_requests(n: int = 8, limit: int = 3, keep_alive: str | None = None) -> RunRecord:
    tr = Trace()
    for r in range(n):
        c = tr.start(r)
        last = tr.carried[c] + 1 == limit
        tr.finish(r, connection="close" if last else None, keep_alive=keep_alive)
        tr.wait(0.01)
    tr.end()
    return tr.record()


def idle_timeout(server_timeout: float = 4.0, keep_alive: str | None = None) -> RunRecord:
    tr = Trace()
    for r in range(3):
        tr.request(r, keep_alive=keep_alive)
    tr.t = tr.idle_since[1] + server_timeout
    tr.server_idle_close(1)
    tr.wait(1.9)
    for r in range(3, 5):
        tr.request(r, "idle", keep_alive=keep_alive)
    tr.end()
    return tr.record()


def stale_retry() -> RunRecord:
    tr = Trace()
    tr.request(0)
    tr.request(1)
    tr.wait(4.95)
    tr.start(2, "idle")
    tr.stale_retry(2)
    tr.finish(2)
    tr.end()
    return tr.record()


def pool_churn() -> RunRecord:
    tr = Trace(max_idle_per_host=2)
    for burst, first in (("burst-1", 0), ("burst-2", 4)):
        for r in range(first, first + 4):
            tr.start(r, burst)
        for r in range(first, first + 4):
            tr.finish(r)
        tr.wait(1.0)
    tr.end()
    return tr.record(max_idle_per_host=2)


def unread_body(n: int = 3) -> RunRecord:
    tr = Trace()
    for r in range(n):
        tr.request(r, drain=False)
    tr.end()
    return tr.record()


def burst(n: int = 4) -> RunRecord:
    tr = Trace()
    for r in range(n):
        tr.start(r, "burst-1")
    for r in range(n):
        tr.finish(r)
    tr.end()
    return tr.record()


def unreachable() -> RunRecord:
    tr = Trace()
    tr.emit("get_conn", 0, None, key="http://127.0.0.1:9", method="GET", url=URL)
    tr.emit("dns_start", 0, None, host="127.0.0.1")
    tr.emit("dns_done", 0, None, addrs=["127.0.0.1"])
    tr.emit("connect_start", 0, 1, addr="127.0.0.1:9")
    message = "cannot connect to 127.0.0.1:9: connection refused"
    tr.emit("connect_done", 0, 1, local=None, remote="127.0.0.1:9", error=message)
    tr.emit(
        "request_done",
        0,
        None,
        status=None,
        error={"kind": "connect", "message": message},
        retried=False,
        phase="sequential",
    )
    return tr.record(error=RunError("connect", message))


def codes(a: Analysis) -> list[str]:
    return [f.code for f in a.findings]


def finding(a: Analysis, code: str) -> Any:
    return next(f for f in a.findings if f.code == code)


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
    assert "3 of 3 connections" in finding(a, "http10-server").message
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


def test_h2_not_negotiated_and_expectation() -> None:
    tr = Trace(tls=True, alpn="http/1.1")
    for r in range(2):
        tr.request(r)
    tr.end()
    a = analyze(tr.record((Expectation("h2"),)))
    assert codes(a) == ["h2-not-negotiated"]
    assert finding(a, "h2-not-negotiated").message == (
        "client offered h2 but the server chose http/1.1 on 1 of 1 TLS connection"
    )
    assert a.connections[0].tls is not None and a.connections[0].tls.alpn == "http/1.1"
    assert a.requests[0].timings_s.tls is not None
    (h2,) = a.verdict.expectations
    assert not h2.ok and "http/1.1" in h2.detail
    assert exit_code(a) == EXIT_EXPECTATION_FAILED


def test_h2_and_multiplex_expectations() -> None:
    tr = Trace(tls=True, alpn="h2")
    tr.request(0)
    # Two streams at once on connection 1: the second request takes the same connection.
    tr.start(1)
    tr.emit("get_conn", 2, None, key="https://127.0.0.1:8080", method="GET", url=URL)
    tr.emit("got_conn", 2, 1, reused=True, was_idle=False, idle_time_s=0.0, protocol="h2")
    tr.phase[2] = "burst-1"
    tr.conn_of[2] = 1
    tr.finish(1)
    tr.finish(2)
    tr.end()
    a = analyze(tr.record((Expectation("h2"), Expectation("multiplex"))))
    h2, mux = a.verdict.expectations
    assert h2.ok and h2.detail == "all 3 requests used h2"
    assert mux.ok and mux.detail == "up to 2 streams at once on one connection"
    assert a.protocol == "h2"
    assert a.verdict.reuse == "yes"

    record = healthy(2)
    record.expectations = (Expectation("multiplex"),)
    (http1_mux,) = analyze(record).verdict.expectations
    assert not http1_mux.ok


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
