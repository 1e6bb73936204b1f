"""Cutting watch's run into windows (reusecheck/commands/watch_windows.py), event by
event: which window an event belongs to, what a window carries in, and that nothing of
an earlier window is kept."""

from __future__ import annotations

from typing import Any

from reusecheck.commands.watch_windows import WindowSplitter
from reusecheck.trace import Event


def ev(t: float, name: str, request: int | None, conn: int | None, **fields: Any) -> Event:
    return Event(t, name, request, conn, fields)


def test_a_request_and_its_dial_belong_to_the_window_it_started_in() -> None:
    s = WindowSplitter()
    for e in (
        ev(0.0, "get_conn", 0, None),
        ev(0.1, "connect_start", 0, 1, dial_reason="first"),
        ev(0.2, "connect_done", 0, 1, local="a", remote="b"),
        ev(0.3, "request_done", 0, 1),
    ):
        s.write(e)
    events, carried = s.cut()
    assert [e.event for e in events] == [
        "get_conn",
        "connect_start",
        "connect_done",
        "request_done",
    ]
    assert all(e.request == 0 for e in events)
    assert carried == frozenset() and s.carried == {1}  # open: carried into the next


def test_a_late_event_of_an_earlier_request_is_its_connections_now() -> None:
    s = WindowSplitter()
    s.write(ev(0.0, "get_conn", 0, None))
    s.cut()
    s.write(ev(1.0, "get_conn", 1, None))
    s.write(ev(1.1, "put_idle", 0, 2, ok=True))  # a dial request 0 started, put away now
    s.write(ev(1.2, "conn_closed", 0, 3, closed_by="client", reason="body-not-drained"))
    events, _ = s.cut()
    assert [(e.event, e.request) for e in events] == [
        ("get_conn", 1),
        ("put_idle", None),
        ("conn_closed", None),
    ]
    assert events[2].fields["reason"] == "body-not-drained"


def test_dialling_until_the_connect_is_done_and_closed_connections_are_not_carried() -> None:
    s = WindowSplitter()
    s.write(ev(0.0, "get_conn", 0, None))
    s.write(ev(0.0, "connect_start", 0, 1))
    s.write(ev(0.0, "connect_start", 0, 2))
    assert s.dialling
    s.write(ev(0.1, "connect_done", 0, 1, local="a"))
    s.write(ev(0.1, "connect_done", 0, 2, error="refused"))  # never connected
    assert not s.dialling
    s.cut()
    assert s.carried == {1}
    s.write(ev(1.0, "conn_closed", None, 1, closed_by="server", reason="idle-timeout"))
    events, carried = s.cut()
    assert carried == {1} and s.carried == frozenset() and len(events) == 1


def test_nothing_of_a_closed_window_is_kept() -> None:
    s = WindowSplitter()
    for i in range(1000):
        s.write(ev(i, "get_conn", i, None))
        s.write(ev(i, "request_done", i, 1))
        events, _ = s.cut()
        assert len(events) == 2
    assert s.events == [] and len(s._requests) == 0
