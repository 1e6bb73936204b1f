"""The fold (reusecheck/analysis/fold): what it keeps while a run goes, and when a
request's row is final.

That the fold's analysis is the whole-record analysis's, byte for byte, is
tests/analysis/test_golden.py: the golden reports there were written by the analysis
that read the whole record, before the fold replaced it, and every one still matches.
"""

from __future__ import annotations

from reusecheck.analysis import analyze, conclude
from reusecheck.analysis.fold import Fold, fold_events
from reusecheck.analysis.model import RequestRow
from reusecheck.trace import Event
from tests.records import load

HEADERS = [["Server", "nginx"], ["Content-Length", "2"]]


def sequential(n: int, conns: int = 1) -> list[Event]:
    """n requests one after another, spread over ``conns`` kept-alive connections."""
    events: list[Event] = []
    clock = [0.0]

    def ev(name: str, request: int | None, conn: int | None, **fields: object) -> None:
        clock[0] += 0.0001  # every step takes a while
        events.append(Event(clock[0], name, request, conn, dict(fields)))

    for i in range(n):
        c = 1 + i % conns
        ev("get_conn", i, None, key="http://h:80", method="GET", url="http://h/")
        if i < conns:
            ev(
                "connect_start",
                i,
                c,
                addr="10.0.0.1:80",
                dial_reason="first" if i == 0 else "all-busy",
            )
            ev("connect_done", i, c, local=f"10.0.0.2:{5000 + c}", remote="10.0.0.1:80")
        ev("got_conn", i, c, reused=i >= conns, was_idle=i >= conns, idle_time_s=0.0,
           protocol="http/1.1")  # fmt: skip
        ev("wrote_headers", i, c, headers=[])
        ev("wrote_request", i, c, bytes=0)
        ev("got_first_byte", i, c)
        ev("response_headers", i, c, status=200, http_version="1.1", connection=None,
           keep_alive=None, headers=HEADERS)  # fmt: skip
        ev("body_done", i, c, bytes=2, complete=True)
        ev("put_idle", i, c, ok=True, idle_conns=1)
        ev("request_done", i, c, status=200, error=None, retried=False, phase="s")
    for c in range(1, conns + 1):
        ev("conn_closed", None, c, closed_by="client", reason="end-of-run", requests=n // conns)
    return events


def test_a_long_run_leaves_only_its_connections_events() -> None:
    rows: list[RequestRow] = []
    fold = Fold(on_row=rows.append)
    for e in sequential(5000, conns=2):
        fold.write(e)
        assert len(fold.requests.open) <= 1  # one request in flight at a time
    assert len(rows) == 5000  # handed on as they finished, in order here
    assert [r.index for r in rows] == list(range(5000))
    # dials, first got_conn per connection, closes: nothing per request
    assert len(fold._kept) == 2 * 2 + 2 + 2
    a = conclude(fold, target="http://h/", requests=rows)
    assert a.summary.requests == 5000 and a.summary.reused == 4998
    assert a.summary.peak_concurrency == 1
    assert [tuple(c.request_indexes) for c in a.connections] == [
        tuple(range(0, 5000, 2)),
        tuple(range(1, 5000, 2)),
    ]
    assert a.server.software == "nginx"


def test_a_body_never_read_keeps_its_row_open_until_the_connection_goes() -> None:
    # pinned: request 1 leaves its body unread; the pool puts the connection back
    # (refused) only when it closes, and that is the row's release.
    events = load("pinned").events
    finals: list[int] = []
    fold = Fold(on_row=lambda r: finals.append(r.index))
    done_1 = next(k for k, e in enumerate(events) if e.event == "request_done" and e.request == 1)
    for k, e in enumerate(events):
        fold.write(e)
        if k == done_1:
            assert 1 in fold.requests.open and 1 not in finals  # done, not final
    assert sorted(finals) == [0, 1, 2]
    a = analyze(load("pinned"))
    row = a.requests[1]
    assert row.released_at_s is not None and row.ended_at_s is not None
    assert row.released_at_s > row.ended_at_s


def test_rows_are_the_same_whoever_takes_them() -> None:
    record = load("h2-burst")
    taken: list[RequestRow] = []
    streamed = conclude(fold_events(record.events, taken.append), target=record.target)
    kept = analyze(record)
    assert streamed.requests == () and sorted(taken, key=lambda r: r.index) == list(kept.requests)
    assert streamed.summary == kept.summary and streamed.findings == kept.findings
