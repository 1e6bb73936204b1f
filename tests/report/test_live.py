"""watch's live view (reusecheck/report/live.py), rendered as a person sees it: the
sparklines, the run's totals and budget, the latest findings."""

from __future__ import annotations

import io
from collections import Counter

from rich.console import Console

from reusecheck.analysis import Budget, Finding
from reusecheck.report.live import LiveState, LiveView, clock, sparkline
from reusecheck.report.window import Counters, WindowRecord


def _record(n: int, reused: int, opened: int) -> WindowRecord:
    return WindowRecord(
        target="http://127.0.0.1:8080/?token=s3cr3t",
        window=n,
        start_s=n - 1.0,
        end_s=float(n),
        requests=4,
        reused=reused,
        reuse_ratio=reused / 4,
        connections_opened=opened,
        budget=Budget(0, (("server-closed", opened),) if opened else ()),
        dials=(("server-closed", opened),) if opened else (),
        causes=(),
        replaced=(),
        closed=(),
        retried=0,
        failed=0,
        errors=(),
        status_classes=(("2xx", 4),),
        peak_concurrency=1,
        reuse="partial" if opened else "yes",
        findings=(),
    )


def _screen(state: LiveState, width: int = 80) -> list[str]:
    out = io.StringIO()
    Console(file=out, width=width, force_terminal=False).print(LiveView(state))
    return [line.rstrip() for line in out.getvalue().splitlines()]


def test_sparklines_scale_to_their_top() -> None:
    assert sparkline([0, 0.5, 1.0, 2.0], 1.0) == "▁▅██"
    assert sparkline([0, 0], 0) == "▁▁"
    assert sparkline([], 1.0) == ""


def test_clock() -> None:
    assert (clock(42), clock(185), clock(3725)) == ("42 s", "3m 05s", "1h 02m")


def test_the_view_of_a_run_under_way() -> None:
    history = [_record(1, 3, 1), _record(2, 4, 0), _record(3, 3, 1)]
    counters = Counters(
        windows=3,
        requests=12,
        reused=10,
        dials=Counter({"first": 1, "server-closed": 1}),
        closed=Counter({("server", "idle-timeout"): 1}),
    )
    finding = Finding("server-idle-timeout", "warning", "server closed 1 idle connection", "r")
    state = LiveState(
        target=history[0].target,
        every_s=10,
        duration_s=600,
        elapsed_s=31,
        running=4,
        history=history,
        counters=counters,
        findings=[(1, finding)],
    )
    assert _screen(state) == [
        "target    http://127.0.0.1:8080/?token=[redacted]",
        "window    4 · 31 s of 10m 00s · every 10 s · one pool",
        "reuse     ▆█▆ 0.75 last · 0.83 run (10/12)",
        "opened    █▁█ 1 last · 2 run",
        "budget    1 needed + 1 server-closed",
        "last      reuse partial in window 3",
        "closed    server/idle-timeout 1",
        "finding   window 1 WARNING server-idle-timeout: server closed 1 idle connection",
    ]


def test_before_the_first_window_and_without_a_duration() -> None:
    state = LiveState("http://h/", 0.5, None, 0.2, 0, [], Counters(), [])
    assert _screen(state)[1] == "window    starting · 0 s · every 0.5 s · one pool"
