"""The verdict's re-dial accounting per pool key and pool epoch, unread bodies that pin
their connections, and pool-churn across a scenario's pools (reusecheck/analysis/
verdict.py, pools.py, detect.py), fed events shaped like the built-in scenarios'."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from reusecheck.analysis import Expectation, analyze
from reusecheck.analysis.events import EventIndex
from reusecheck.analysis.pools import pool_scopes
from tests.builders import (
    H2_URL,
    OTHER_URL,
    URL,
    H2Trace,
    Trace,
    codes,
    cross_host,
    finding,
    go_default_pool,
    healthy,
    leaky_body,
    pool_churn,
    unread_body,
)

# --- pool keys: a connection serves its own scheme://host:port only ----------------------


def test_cross_host_each_origin_needs_its_own_connection() -> None:
    a = analyze(cross_host())
    c1, c2 = a.connections
    assert c1.request_indexes == (0, 1, 2, 6, 7) and c2.request_indexes == (3, 4, 5)
    # Connection 1 sat idle while origin-b dialled, but could not have served it.
    assert a.verdict.reuse == "yes"
    assert a.verdict.redialled_connections == ()
    assert (
        a.verdict.detail == "8 requests on 2 connections, each needed: 2 origins, up to 1 at once"
    )
    assert a.findings == ()


def test_cross_host_server_closes_blame_only_the_same_origin() -> None:
    a = analyze(cross_host(connection="close"))
    # Connection 4 is origin-b's first: nothing of its key existed to close.
    assert a.verdict.redialled_connections == (2, 3, 5, 6, 7, 8)
    assert a.verdict.reuse == "no"


def test_ideal_connections_sum_per_key() -> None:
    tr = Trace()
    bursts = ((0, URL, "close"), (2, OTHER_URL, None), (4, URL, None), (6, OTHER_URL, None))
    for first, url, close in bursts:
        for r in (first, first + 1):
            tr.start(r, "burst", url=url)
        for r in (first, first + 1):
            tr.finish(r, connection=close)
        tr.wait(0.01)
    tr.end()
    a = analyze(tr.record())
    assert a.summary.peak_concurrency == 2 and a.summary.connections_opened == 6
    assert a.verdict.redialled_connections == (5, 6)
    # Two at once on each origin: 2 + 2, not the 2 of the busiest moment.
    assert a.verdict.detail == (
        "8 requests on 6 connections where 4 would have done; re-dialled: conn 5, 6 "
        "(server closed: connection-close-header x2)"
    )


def test_h2_connections_to_two_origins_are_not_unshared_streams() -> None:
    tr = H2Trace()
    other = "https://localhost:8443/"
    for r, url in enumerate((H2_URL, H2_URL, other, other, H2_URL)):
        tr.start(r, "origin", url=url)
        tr.finish(r)
        tr.wait(0.01)
    tr.end()
    a = analyze(tr.record((Expectation("reuse"),)))
    assert [c.request_indexes for c in a.connections] == [(0, 1, 4), (2, 3)]
    assert "h2-no-multiplexing" not in codes(a)
    assert a.verdict.reuse == "yes" and a.verdict.redialled_connections == ()


@settings(max_examples=40, deadline=None)
@given(st.lists(st.sampled_from([URL, OTHER_URL, "http://127.0.0.1:8081/"]), min_size=1))
def test_sequential_requests_over_origins_are_yes(urls: list[str]) -> None:
    tr = Trace()
    for r, url in enumerate(urls):
        tr.request(r, url=url)
    tr.end()
    a = analyze(tr.record())
    assert a.summary.connections_opened == len(set(urls))
    assert a.verdict.reuse == "yes" and a.verdict.redialled_connections == ()


# --- unread bodies pin their connections ------------------------------------------------


def test_leaky_body_blames_the_pinned_connections() -> None:
    a = analyze(leaky_body(5))
    leaky = [r for r in a.requests if r.phase == "leaky"]
    closes = {c.id: c.closed_at_s for c in a.connections}
    for r in leaky:
        # Done after the headers; the connection stayed busy until the pool closed it.
        assert r.released_at_s is not None and r.ended_at_s is not None
        assert r.released_at_s > r.ended_at_s
        assert closes[r.conn_id or 0] is not None
    assert {c.close_reason for c in a.connections[:5]} == {"body-not-drained"}
    assert a.verdict.reuse == "partial"
    assert a.verdict.redialled_connections == (2, 3, 4, 5)  # 6: the fresh pool's first
    assert a.verdict.detail == (
        "10 requests on 6 connections where 2 would have done; re-dialled: conn 2, 3, 4, 5 "
        "(pinned: body-not-drained x4)"
    )
    assert codes(a) == ["body-not-drained"]
    assert all(c.peak_streams == 1 for c in a.connections)


def test_leaky_body_alone_is_no() -> None:
    a = analyze(leaky_body(3, fresh_pool=False))
    assert a.verdict.reuse == "no"
    assert a.verdict.redialled_connections == (2, 3)
    assert a.verdict.detail == "3 requests on 3 connections; no connection carried a second request"


def test_a_pinned_connection_with_an_idle_one_beside_it() -> None:
    # Request 0 reads its body and returns connection 1; request 1 leaves its body
    # unread on it; request 2 dials although nothing else was in flight: pinned.
    tr = Trace()
    tr.request(0)
    tr.start(1)
    tr.finish(1, pin=True)
    tr.request(2)
    tr.end()
    a = analyze(tr.record())
    assert a.verdict.redialled_connections == (2,)
    assert a.verdict.detail.endswith("re-dialled: conn 2 (pinned: body-not-drained)")


def test_a_body_closed_unread_closes_its_connection_at_once() -> None:
    # Go closes the connection of a body closed early: the pool lives on, no boundary.
    record = unread_body(3)
    assert pool_scopes(EventIndex(record.events)).boundaries == ()
    a = analyze(record)
    for r in a.requests:  # released by the close, before request_done
        assert r.released_at_s is not None and r.ended_at_s is not None
        assert r.released_at_s < r.ended_at_s
    assert a.verdict.redialled_connections == (2, 3)
    assert "client closed: body-not-drained" not in a.verdict.detail  # "no" says why


# --- fresh pools mid-run ------------------------------------------------------------------


def test_the_first_dial_of_a_fresh_pool_is_necessary() -> None:
    tr = Trace()
    for r in range(3):
        tr.request(r, "before")
    tr.fresh_pool()
    for r in range(3, 6):
        tr.request(r, "after")
    tr.end()
    record = tr.record()
    scopes = pool_scopes(EventIndex(record.events))
    assert scopes.epochs == 2 and scopes.of_conn(1)[0] == 0 and scopes.of_conn(2)[0] == 1
    assert scopes.boundaries == (tr.events[[e.request for e in tr.events].index(3)].t,)
    a = analyze(record)
    assert a.verdict.reuse == "yes" and a.verdict.redialled_connections == ()
    assert a.verdict.detail == "6 requests on 2 connections, each needed: 2 pools, up to 1 at once"


def test_end_of_run_at_the_end_is_no_pool_boundary() -> None:
    assert pool_scopes(EventIndex(healthy(3).events)).boundaries == ()


def test_a_switch_with_nothing_open_is_found_from_options_pools() -> None:
    # idle-race: the server closed the measured connection before the pool step, so no
    # client close marks the switch; options.pools and the phases do.
    tr = Trace()
    tr.request(0, "measure")
    tr.t = tr.idle_since[1] + 0.5
    tr.server_idle_close(1)
    tr.request(1, "race-warm")
    tr.end()
    plain = analyze(tr.record())
    assert plain.verdict.redialled_connections == (2,)  # one pool as far as events tell
    pools = [{"from_step": None}, {"from_step": "race-warm"}]
    a = analyze(tr.record(pools=pools))
    assert a.verdict.redialled_connections == ()


def test_go_default_pool_churn_is_counted_in_its_own_pool() -> None:
    a = analyze(go_default_pool(concurrency=4, rounds=3))
    f = finding(a, "pool-churn")
    assert f.message == (
        "pool closed 6 connections because its idle list was full (max_idle_per_host=2) "
        "and dialled 4 new after; up to 4 requests ran at once"
    )
    assert f.evidence["redialled_connections"] == [5, 6, 7, 8]  # not the fresh pool's 9-12
    # A scenario sets the limit in its [pool] table, not with the probe's flag.
    assert "here: [pool] max_idle_per_host = 4." in f.remedy
    assert "--max-idle-per-host" not in f.remedy
    assert a.verdict.redialled_connections == (5, 6, 7, 8)
    assert a.verdict.detail == (
        "24 requests on 12 connections where 8 would have done; re-dialled: conn 5, 6, 7, 8 "
        "(client closed: pool-full x4)"
    )


def test_churn_in_a_later_pool_names_that_pools_limit() -> None:
    tr = Trace()
    r = 0
    for phase, limit in (("roomy", None), ("tight", 2)):
        if limit is not None:
            tr.fresh_pool(max_idle_per_host=limit)
        for _ in range(2):
            for i in range(r, r + 4):
                tr.start(i, phase)
            for i in range(r, r + 4):
                tr.finish(i)
            tr.wait(0.01)
            r += 4
    tr.end()
    pools = [
        {"from_step": None, "max_idle_per_host": 100},
        {"from_step": "tight", "max_idle_per_host": 2},
    ]
    a = analyze(tr.record(max_idle_per_host=100, pools=pools, scenario={"name": "x"}))
    f = finding(a, "pool-churn")
    assert "(max_idle_per_host=2) and dialled 2 new after" in f.message
    assert "(now 2)" in f.remedy


def test_the_probe_names_its_flag() -> None:
    f = finding(analyze(pool_churn()), "pool-churn")
    assert "here: --max-idle-per-host 4." in f.remedy
