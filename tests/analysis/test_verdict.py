"""The verdict's re-dial accounting per pool key and pool epoch, unread bodies that pin
their connections, and pool-churn across a scenario's pools (reusecheck/analysis/
verdict.py, pools.py, detect.py), over real runs of the built-in scenarios and of
scenario files (tests/records)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from reusecheck.analysis import Analysis, analyze
from reusecheck.analysis.fold import fold_events
from tests.records import load


def codes(a: Analysis) -> list[str]:
    return [f.code for f in a.findings]


def finding(a: Analysis, code: str) -> Any:
    return next(f for f in a.findings if f.code == code)


# --- pool keys: a connection serves its own scheme://host:port only ----------------------


def test_cross_host_each_origin_needs_its_own_connection() -> None:
    a = analyze(load("cross-host"))
    c1, c2 = a.connections
    assert tuple(c1.request_indexes) == (0, 1, 2, 6, 7) and tuple(c2.request_indexes) == (3, 4, 5)
    # Connection 1 sat idle while origin-b dialled, but could not have served it.
    assert a.verdict.reuse == "yes"
    assert a.verdict.redialled_connections == ()
    assert a.verdict.detail == (
        "8 requests · 2 connections = 2 needed for 2 origins, up to 1 request at once"
    )
    assert a.findings == ()


def test_cross_host_server_closes_blame_only_the_same_origin() -> None:
    a = analyze(load("cross-host-close"))
    assert [tuple(c.request_indexes) for c in a.connections] == [(i,) for i in range(8)]
    # Connection 4 is origin-b's first: nothing of its key existed to close.
    assert a.verdict.redialled_connections == (2, 3, 5, 6, 7, 8)
    assert a.verdict.reuse == "no"
    # Each origin's first was needed; every other replaced a connection of its own origin.
    assert a.summary.budget.needed == 2
    assert dict(a.summary.budget.avoidable) == {"server-closed": 6}
    assert sorted(c.dial.replaces for c in a.connections if c.dial and c.dial.replaces) == [
        1,
        2,
        3,
        4,
        5,
        7,
    ]


def test_ideal_connections_sum_per_key() -> None:
    # Bursts of 2 to origin a (connections lost), b, a, b.
    a = analyze(load("two-origins"))
    assert a.summary.peak_concurrency == 2 and a.summary.connections_opened == 6
    assert {r.conn_id for r in a.requests if r.phase == "b-again"} == {3, 4}
    assert a.verdict.redialled_connections == (5, 6)
    # Two at once on each origin: 2 + 2, not the 2 of the busiest moment.
    assert a.verdict.detail == (
        "8 requests · 6 connections = 4 needed for 2 origins, up to 2 requests at once "
        "+ 2 because the client closed conn 1, 2 with a response body unread"
    )


def test_h2_connections_to_two_origins_are_not_unshared_streams() -> None:
    a = analyze(load("h2-cross-host"))
    assert a.protocol == "h2"
    assert [tuple(c.request_indexes) for c in a.connections] == [(0, 1, 2, 6, 7), (3, 4, 5)]
    assert "h2-no-multiplexing" not in codes(a)
    assert a.verdict.reuse == "yes" and a.verdict.redialled_connections == ()


@pytest.mark.parametrize("name", ["cross-host", "h2-cross-host"])
def test_sequential_requests_over_origins_are_yes(name: str) -> None:
    record = load(name)
    a = analyze(record)
    keys = {e.fields["key"] for e in record.events if e.event == "get_conn"}
    assert len(keys) == 2
    assert a.summary.connections_opened == len(keys)
    assert a.verdict.reuse == "yes" and a.verdict.redialled_connections == ()


# --- unread bodies pin their connections ------------------------------------------------


def test_leaky_body_blames_the_pinned_connections() -> None:
    a = analyze(load("leaky-body"))
    leaky = [r for r in a.requests if r.phase == "leaky"]
    assert len(leaky) == 5
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
        "10 requests · 6 connections = 2 needed for 2 pools, up to 1 request at once "
        "+ 4 because an unread response body pinned conn 1, 2, 3, 4"
    )
    assert codes(a) == ["body-not-drained"]
    assert all(c.peak_streams == 1 for c in a.connections)


def test_leaky_body_alone_is_no() -> None:
    a = analyze(load("unread-body"))
    assert a.verdict.reuse == "no"
    assert a.verdict.redialled_connections == (2, 3)
    assert a.verdict.detail == (
        "3 requests · 3 connections = 1 needed + 2 because an unread response body pinned conn 1, 2"
    )


def test_a_pinned_connection_with_an_idle_one_beside_it() -> None:
    # Request 0 reads its body and returns connection 1; request 1 leaves its body
    # unread on it; request 2 dials although nothing else was in flight: pinned.
    a = analyze(load("pinned"))
    assert [tuple(c.request_indexes) for c in a.connections] == [(0, 1), (2,)]
    assert a.verdict.redialled_connections == (2,)
    assert a.verdict.detail.endswith("+ 1 because an unread response body pinned conn 1")
    assert a.connections[1].dial is not None and a.connections[1].dial.replaces == 1


def test_a_body_closed_unread_closes_its_connection_at_once() -> None:
    # Go closes the connection of a body closed early: the pool lives on, no boundary.
    record = load("close-early")
    assert fold_events(record.events).scopes.result().boundaries == ()
    a = analyze(record)
    for r in a.requests:  # released by the close, before request_done
        assert r.released_at_s is not None and r.ended_at_s is not None
        assert r.released_at_s < r.ended_at_s
    assert a.verdict.redialled_connections == (2, 3)
    assert a.verdict.detail.endswith(
        "+ 2 because the client closed conn 1, 2 with a response body unread"
    )


# --- fresh pools mid-run ------------------------------------------------------------------


def test_the_first_dial_of_a_fresh_pool_is_necessary() -> None:
    record = load("fresh-pool")
    scopes = fold_events(record.events).scopes.result()
    assert scopes.epochs == 2 and scopes.of_conn(1)[0] == 0 and scopes.of_conn(2)[0] == 1
    # The runner says where the fresh pool starts: before the first request it serves.
    (switch,) = (e for e in record.events if e.event == "pool_start")
    first_after = next(e for e in record.events if e.request == 3)
    assert scopes.boundaries == (switch.t,) and switch.t <= first_after.t
    a = analyze(record)
    assert [tuple(c.request_indexes) for c in a.connections] == [(0, 1, 2), (3, 4, 5)]
    assert a.verdict.reuse == "yes" and a.verdict.redialled_connections == ()
    assert a.verdict.detail == (
        "6 requests · 2 connections = 2 needed for 2 pools, up to 1 request at once"
    )


def test_end_of_run_at_the_end_is_no_pool_boundary() -> None:
    assert fold_events(load("healthy").events).scopes.result().boundaries == ()


def test_a_fresh_pool_s_first_dial_is_needed_whatever_the_events_show() -> None:
    # idle-race: the server closed the measured connection before the pool step, so no
    # client close marks the switch; the pool that dialled conn 2 knew it was its first.
    record = load("idle-race")
    a = analyze(record)
    c1, c2 = a.connections[:2]
    assert (c1.closed_by, c1.close_reason) == ("server", "idle-timeout")
    assert c2.dial is not None and c2.dial.reason == "first" and c2.dial.replaces is None
    one_pool = {k: v for k, v in record.options.items() if k != "pools"}
    plain = analyze(replace(record, options=one_pool))
    assert plain.summary.budget == a.summary.budget
    assert a.verdict.redialled_connections == (3, 5)
    assert [c.dial.reason for c in a.connections if c.dial] == [
        "first",
        "first",
        "retry",
        "first",
        "client-idle-timeout",
    ]


def test_go_default_pool_churn_is_counted_in_its_own_pool() -> None:
    record = load("go-default-pool")
    a = analyze(record)
    fresh = record.options["pools"][1]["from_step"]
    first_fresh = min(r.conn_id or 0 for r in a.requests if r.phase == fresh)
    full = [c.id for c in a.connections if c.close_reason == "pool-full"]
    redialled = a.verdict.redialled_connections
    assert redialled and max(redialled) < first_fresh  # not the fresh pool's
    assert all(c < first_fresh for c in full)
    f = finding(a, "pool-churn")
    assert f.message == (
        f"pool closed {len(full)} connections because its idle list was full "
        f"(max_idle_per_host=2) and dialled {len(redialled)} new after; up to 10 requests "
        "ran at once"
    )
    assert f.evidence["redialled_connections"] == list(redialled)
    # A scenario sets the limit in its [pool] table, not with the probe's flag.
    assert "here: [pool] max_idle_per_host = 10." in f.remedy
    assert "--max-idle-per-host" not in f.remedy
    assert f"+ {len(redialled)} because the client's idle pool was full and dropped conn " in (
        a.verdict.detail
    )


def test_churn_in_a_later_pool_names_that_pools_limit() -> None:
    a = analyze(load("later-churn"))
    assert all(c.close_reason != "pool-full" for c in a.connections if c.id <= 4)  # roomy
    f = finding(a, "pool-churn")
    assert "(max_idle_per_host=2) and dialled 2 new after" in f.message
    assert "(now 2)" in f.remedy
    assert "here: [pool] max_idle_per_host = 4." in f.remedy


def test_the_probe_names_its_flag() -> None:
    f = finding(analyze(load("pool-churn")), "pool-churn")
    assert "here: --max-idle-per-host 4." in f.remedy
