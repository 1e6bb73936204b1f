"""The observed analysis on records built by hand: each detector reads the order of
events on the connections, so each case is a few connections with explicit times."""

from __future__ import annotations

from reusecheck.analysis.observed import (
    ObservedConnection,
    ObservedRecord,
    ObservedRequest,
    analyze_observed,
)

UA = "client/1"


def conn(
    cid: int,
    opened: float,
    requests: list[tuple[float, float]],
    closed: float | None = None,
    by: str | None = None,
    kind: str | None = None,
    reason: str | None = None,
) -> tuple[ObservedConnection, list[ObservedRequest]]:
    c = ObservedConnection(cid, f"10.0.0.1:{40000 + cid}", "127.0.0.1:8080", opened)
    c.user_agent = UA
    c.requests = len(requests)
    reqs = []
    for start, end in requests:
        reqs.append(ObservedRequest(0, cid, "GET", "/", start, UA, ended_s=end, complete=True))
        c.last_request_s, c.last_head_s, c.last_response_s = start, end, end
    c.closed_s, c.closed_by, c.close_kind, c.close_reason = closed, by, kind, reason  # type: ignore[assignment]
    return c, reqs


def record(
    *parts: tuple[ObservedConnection, list[ObservedRequest]], **kw: object
) -> ObservedRecord:
    conns = [p[0] for p in parts]
    reqs = [r for p in parts for r in p[1]]
    for i, r in enumerate(sorted(reqs, key=lambda r: r.started_s)):
        r.index = i
    return ObservedRecord(conns, reqs, 10.0, **kw)  # type: ignore[arg-type]


def codes(rec: ObservedRecord) -> list[str]:
    return [f.code for f in analyze_observed(rec).findings]


def test_one_connection_reused_has_no_findings() -> None:
    rec = record(
        conn(1, 0.0, [(0.1, 0.2), (0.3, 0.4), (0.5, 0.6)], 9.0, "server", None, "end-of-run")
    )
    a = analyze_observed(rec)
    assert a.findings == () and a.verdict.ok and a.verdict.reuse == "yes"
    assert a.clients[0].reused == 2


def test_leak_is_read_from_the_order_of_opens_and_closes() -> None:
    # Conn 1 stays open while 2 and 3 open after its response: leaked.  The same
    # connections closed by the client before the next opened: a new one per request.
    leaked = record(
        conn(1, 0.0, [(0.1, 0.2)], 9.0, "server", None, "end-of-run"),
        conn(2, 0.3, [(0.3, 0.4)], 9.0, "server", None, "end-of-run"),
        conn(3, 0.5, [(0.5, 0.6)], 9.0, "server", None, "end-of-run"),
    )
    assert "client-conn-leak" in codes(leaked)
    closed = record(
        conn(1, 0.0, [(0.1, 0.2)], 0.25, "client", "fin", "eof"),
        conn(2, 0.3, [(0.3, 0.4)], 0.45, "client", "fin", "eof"),
        conn(3, 0.5, [(0.5, 0.6)], 0.65, "client", "fin", "eof"),
    )
    assert codes(closed) == ["client-new-conn-per-request"]


def test_a_reset_after_a_response_is_a_body_not_drained() -> None:
    rec = record(
        conn(1, 0.0, [(0.1, 0.2)], 0.21, "client", "rst", "reset"),
        conn(2, 0.3, [(0.3, 0.4), (0.5, 0.6)], 9.0, "server", None, "end-of-run"),
    )
    assert codes(rec) == ["client-body-not-drained"]


def test_server_idle_closes_are_the_clients_idle_timeout_not_per_request() -> None:
    rec = record(
        conn(1, 0.0, [(0.1, 0.2)], 1.2, "server", None, "idle-timeout"),
        conn(2, 2.0, [(2.0, 2.1)], 9.0, "server", None, "end-of-run"),
        server_idle_timeout_s=1.0,
        server_idle_timeout_source="built-in server's",
    )
    a = analyze_observed(rec)
    assert [f.code for f in a.findings] == ["client-idle-timeout-too-long"]
    assert a.verdict.reuse == "no"  # nothing was reused, though no finding says lost reuse


def test_connections_needed_by_concurrency_are_not_per_request() -> None:
    rec = record(
        conn(1, 0.0, [(0.1, 0.5)], 9.0, "server", None, "end-of-run"),
        conn(2, 0.0, [(0.1, 0.5)], 9.0, "server", None, "end-of-run"),
    )
    a = analyze_observed(rec)
    assert a.findings == ()
    assert a.clients[0].minimum_connections == 2


def test_churn_under_concurrency() -> None:
    rec = record(
        conn(1, 0.0, [(0.1, 0.5), (0.6, 0.9)], 9.0, "server", None, "end-of-run"),
        conn(2, 0.0, [(0.1, 0.5)], 0.51, "client", "fin", "eof"),
        conn(3, 0.0, [(0.1, 0.5)], 0.51, "client", "fin", "eof"),
        conn(4, 0.6, [(0.6, 0.9)], 0.91, "client", "fin", "eof"),
        conn(5, 0.6, [(0.6, 0.9)], 0.91, "client", "fin", "eof"),
    )
    assert codes(rec) == ["client-idle-pool-churn"]


def test_a_client_that_reuses_only_sometimes_is_blamed_for_its_extra_connections() -> None:
    # Two single-use connections the client closed, then one reused: 3 where 1 would do.
    rec = record(
        conn(1, 0.0, [(0.1, 0.2)], 0.25, "client", "fin", "eof"),
        conn(2, 0.3, [(0.3, 0.4)], 0.45, "client", "fin", "eof"),
        conn(3, 0.5, [(0.5, 0.6), (0.7, 0.8), (0.9, 1.0)], 9.0, "server", None, "end-of-run"),
    )
    a = analyze_observed(rec)
    assert [f.code for f in a.findings] == ["client-new-conn-per-request"]
    assert a.findings[0].evidence["conn_ids"] == [1, 2]
    assert not a.verdict.ok and a.verdict.reuse == "partial"


def test_connections_the_server_ended_are_not_the_clients_extra() -> None:
    # The server closed each after 2 requests (its limit): every new one was needed.
    rec = record(
        conn(1, 0.0, [(0.1, 0.2), (0.3, 0.4)], 0.41, "server", None, "max-requests"),
        conn(2, 0.5, [(0.5, 0.6), (0.7, 0.8)], 0.81, "server", None, "max-requests"),
        conn(3, 0.9, [(0.9, 1.0)], 9.0, "server", None, "end-of-run"),
    )
    a = analyze_observed(rec)
    assert a.findings == () and a.verdict.ok
