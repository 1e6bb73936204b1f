"""The terminal report as a person sees it at 80 columns without a terminal (no colour),
rendered from the records of real runs (tests/records)."""

from __future__ import annotations

import io
import re

import pytest
from rich.console import Console

from reusecheck.analysis import Analysis, analyze
from reusecheck.report.terminal import Report, TimelineView, render
from reusecheck.report.timeline import layout
from reusecheck.trace.redact import REDACTED
from tests.records import load


def show(a: Analysis, width: int = 80) -> list[str]:
    console = Console(file=io.StringIO(), width=width, force_terminal=False)
    render(a, console)
    out = console.file.getvalue()  # type: ignore[attr-defined]
    assert "\x1b[" not in out  # plain text: no escape codes without a terminal
    lines = [line.rstrip() for line in out.splitlines()]
    assert all(len(line) <= width for line in lines)
    while lines and not lines[-1]:
        lines.pop()
    return lines


def lanes(lines: list[str]) -> list[str]:
    start = lines.index("Timeline") + 1
    return [line for line in lines[start:] if re.match(r"\s*c\d+ ", line)]


def test_healthy_run_reads_yes() -> None:
    record = load("healthy")
    lines = show(analyze(record))
    assert lines[-1] == "verdict: OK · reuse yes · 4/5 reused · 1 connection"
    assert lines[0].split() == ["target", record.target]
    address = record.target.split("//")[1].rstrip("/")
    assert f"{address} · http/1.1 · no TLS" in lines[1]
    assert "keep-alive yes" in lines[2] and "reusecheck" in lines[2]
    (lane,) = lanes(lines)
    assert lane.count("●") == 5 and lane.endswith(" 5")
    assert "Findings" not in lines


def test_requests_table_columns_and_rows() -> None:
    lines = show(analyze(load("max-requests")))
    head = lines.index("Requests") + 1
    assert lines[head].split() == [
        "#", "phase", "conn", "reused", "idle", "dial", "wait", "total", "status", "Connection",
    ]  # fmt: skip
    rows = [line.split() for line in lines[head + 2 : head + 10]]
    assert [r[0] for r in rows] == [str(i) for i in range(8)]
    assert rows[0][:4] == ["0", "sequential", "1", "new"]
    assert rows[1][3] == "yes"
    assert rows[2][-1] == "close" and rows[2][-2] == "200"
    assert rows[3][:4] == ["3", "sequential", "2", "new"]


def test_connection_close_server_is_a_staircase_of_server_closes() -> None:
    lines = show(analyze(load("connection-close")))
    assert lines[-1] == "verdict: FAIL · reuse no · 0/5 reused · 5 connections"
    timeline = lanes(lines)
    assert len(timeline) == 5
    assert all(lane.count("●") == 1 and "✕" in lane for lane in timeline)
    starts = [lane.index("●") for lane in timeline]
    assert starts == sorted(starts) and len(set(starts)) == 5
    text = "\n".join(lines)
    assert "ERROR no-keepalive" in text
    assert "server closed 5 of 5 connections after one request each" in text
    assert "connection-close-header" in text  # the connections table's reason column


def test_findings_show_message_and_remedy() -> None:
    a = analyze(load("idle-timeout"))
    idle = a.connections[0].idle_time_at_close_s
    assert idle is not None and a.server.idle_timeout_s is not None
    text = "\n".join(show(a))
    assert "WARNING server-idle-timeout" in text
    assert f"server closed 1 idle connection after {idle:.1f} s idle (eof)" in text
    assert f"fix: Set your client's idle timeout below {round(idle, 2):g} s" in text
    assert "IdleConnTimeout: " in text
    assert "reuse partial: 3 requests · 2 connections = 1 needed + 1 because the server" in text
    assert "expect reuse FAILED" in text
    assert f"idle timeout {round(a.server.idle_timeout_s, 2):g} s" in text  # the server line


def test_hint_beside_the_measured_value() -> None:
    a = analyze(load("idle-timeout-hint"))
    measured = a.server.idle_timeout_s
    assert measured is not None
    header = " ".join(" ".join(show(a)[2:4]).split())
    assert (
        f"idle timeout {round(measured, 2):g} s (hint 5 s, {5.0 - measured:.1f} s longer)" in header
    )
    # demo: the server announces what it does.
    header = " ".join(" ".join(show(analyze(load("demo")))[2:4]).split())
    assert "(hint 0.5 s, as measured)" in header
    assert "closes after 4 requests (hint max=4, as measured)" in header


def test_pool_churn_lanes() -> None:
    a = analyze(load("pool-churn"))
    lines = show(a)
    timeline = lanes(lines)
    assert len(timeline) == 6
    pool_closed = [c for c in a.connections if c.close_reason == "pool-full"]
    assert len(pool_closed) == 4
    assert sum("┤" in lane for lane in timeline) == 4  # closed by the client's pool
    assert "WARNING pool-churn" in "\n".join(lines)
    assert lines[-1] == (
        f"verdict: FAIL · reuse partial · {a.summary.reused}/8 reused · 6 connections"
    )


def test_burst_and_retry() -> None:
    lines = show(analyze(load("burst")))
    assert lines[-1] == "verdict: OK · reuse yes · 4/8 reused · 4 connections"
    assert len(lanes(lines)) == 4
    lines = show(analyze(load("stale-retry")))
    rows = [line.split() for line in lines if line.startswith("2 ")]
    assert rows and rows[0][3] == "retry"
    assert "WARNING stale-conn-retry" in "\n".join(lines)


def test_error_run() -> None:
    lines = show(analyze(load("unreachable")))
    assert lines[-1] == "verdict: ERROR · the run could not complete (connect)"
    assert any(line.startswith("error") and "Connection refused" in line for line in lines)
    assert "Timeline" not in lines


def test_bracketed_text_is_not_markup() -> None:
    record = load("secrets")  # recorded unredacted: a bracketed path, a password, a key
    assert "[v1]" in record.target
    text = "\n".join(show(analyze(record)))
    host = record.target.split("@", 1)[1].split("/", 1)[0]
    assert f"http://bob:{REDACTED}@{host}/[v1]?api_key={REDACTED}&page=2" in text
    assert "pa55word" not in text and "K3Y" not in text


def test_timeline_fits_narrow_and_wide_consoles() -> None:
    a = analyze(load("max-requests"))
    for width in (40, 80, 120):
        console = Console(file=io.StringIO(), width=width, force_terminal=False)
        console.print(TimelineView(a))
        out = console.file.getvalue().splitlines()  # type: ignore[attr-defined]
        assert all(len(line.rstrip()) <= width for line in out)
        assert sum(line.startswith(("c1 ", "c2 ", "c3 ")) for line in out) == 3
        assert any("┤ closed by client" in line for line in out)


def test_timeline_layout_is_scaled_to_the_width() -> None:
    a = analyze(load("connection-close"))
    tl = layout(a, 30)
    assert tl.width == 30 and len(tl.lanes) == 5 and tl.hidden == 0
    assert all(len(lane.cells) == 30 for lane in tl.lanes)
    assert tl.lanes[0].text.lstrip().startswith("●")
    assert tl.lanes[-1].text.rstrip().endswith("✕")
    assert layout(a, 30, max_lanes=4).hidden == 1


def test_report_is_a_renderable_and_colours_on_a_terminal() -> None:
    console = Console(file=io.StringIO(), width=80, force_terminal=True, color_system="standard")
    console.print(Report(analyze(load("connection-close"))))
    out = console.file.getvalue()  # type: ignore[attr-defined]
    assert "\x1b[" in out and "no-keepalive" in out


def test_quiet_gaps_are_folded_so_phases_stay_visible() -> None:
    a = analyze(load("idle-timeout"))  # two requests, --idle 0.8, one more
    tl = layout(a, 70)
    (gap,) = tl.gaps
    before, after = a.requests[1], a.requests[2]
    assert before.ended_at_s is not None
    assert gap.seconds == pytest.approx(after.started_at_s - before.ended_at_s, abs=1e-6)
    assert f"≈{gap.seconds:.1f}s" in tl.axis
    assert tl.axis.startswith("0 s") and re.search(r"\d\.\d\d s$", tl.axis)
    c1, c2 = tl.lanes
    assert c1.text.count("●") == 2 and "✕" in c1.text
    assert c2.text.count("●") == 1  # the idle phase, after the gap, is not squeezed away
    assert c2.text.index("●") > gap.last


def test_no_folding_when_requests_follow_each_other() -> None:
    assert layout(analyze(load("connection-close")), 70).gaps == ()


def test_long_runs_show_the_first_and_last_rows() -> None:
    lines = show(analyze(load("many-connections")))
    assert any(line.split()[:3] == ["...", "50", "more"] for line in lines)
    assert any(
        line.split()[:3] == ["...", "50", "more"] and "connections" in line for line in lines
    )
    assert any(line.strip().startswith("... 60 more connections") for line in lines)
    assert len(lanes(lines)) == 40
    assert lines[-1] == "verdict: FAIL · reuse no · 0/100 reused · 100 connections"


# --- HTTP/2 ---------------------------------------------------------------------------------


def test_h2_burst_reads_as_one_connection_with_four_streams_at_once() -> None:
    lines = show(analyze(load("h2-burst")))
    assert lines[1].startswith("address") and " · h2 · TLSv1.3 " in lines[1]
    assert lines[1].endswith("(alpn h2)")
    assert "h2 max 100 concurrent streams" in " ".join(lines[2:4])
    head = lines.index("Requests") + 1
    # No Connection column: HTTP/2 has no such header.
    assert lines[head].split() == [
        "#", "phase", "conn:stream", "reused", "idle", "dial", "wait", "total", "status",
    ]  # fmt: skip
    rows = [line.split() for line in lines[head + 2 : head + 10]]
    assert [r[2] for r in rows] == [f"1:{s}" for s in range(1, 16, 2)]
    (lane,) = lanes(lines)
    assert "4" in lane.split()[1]  # four streams in flight on c1 at the same moment
    assert lane.rstrip().endswith(" 8")
    legend = "\n".join(lines[lines.index("Timeline") :])
    # From the fewest streams at once a column shows (2 or 3 at this width) to 4.
    assert re.search(r" [23]-4 streams at once", legend)
    assert lines[-1] == "verdict: OK · reuse yes · 7/8 reused · 1 connection"


def test_h2_spread_is_four_lanes_and_a_finding() -> None:
    lines = show(analyze(load("h2-spread")))
    timeline = lanes(lines)
    assert len(timeline) == 4
    assert not any(ch.isdigit() for lane in timeline for ch in lane.split(maxsplit=1)[1][:-2])
    text = "\n".join(lines)
    assert "streams at once" not in text  # nothing shared: no legend entry for it
    assert "WARNING h2-no-multiplexing" in text
    assert "4 concurrent requests (burst-1) used 4 h2 connections where 1 could carry" in text
    assert "expect multiplex FAILED: 4 concurrent requests used 4 h2 connections" in text


def test_goaway_and_retry_in_the_tables() -> None:
    lines = show(analyze(load("h2-goaway-retry")))
    conns = lines[lines.index("Connections") + 3 :]
    assert conns[0].split()[-3:] == ["server", "goaway", "NO_ERROR"]
    row = next(line.split() for line in lines if line.startswith("4 "))
    assert row[2:4] == ["2:1", "retry"]
    assert "WARNING h2-goaway" in "\n".join(lines)


def test_alpn_offer_is_shown_when_not_taken() -> None:
    lines = show(analyze(load("alpn-fallback")))
    header = " ".join(" ".join(lines[1:3]).split())
    assert "· http/1.1 · TLSv1.3" in header
    assert "(alpn http/1.1, offered h2, http/1.1)" in header
    assert "WARNING h2-not-negotiated" in "\n".join(lines)


def test_h2c_and_a_stream_reset() -> None:
    lines = show(analyze(load("h2-rst")))
    assert " · h2c · no TLS" in lines[1]
    row = next(line.split() for line in lines if line.startswith("0 "))
    assert row[2] == "1:1" and row[-1] == "stream-reset"
    assert lines[-1] == "verdict: ERROR · the run could not complete (stream-reset)"


def test_timeline_counts_only_true_overlap() -> None:
    # A column's count is the most streams in flight together within it: 2 to 4 in a
    # burst of 4 (which of 2 and 3 show depends on how wide a column is in time).
    for width in (60, 80):
        tl = layout(analyze(load("h2-burst")), width)
        (lane,) = tl.lanes
        assert max(lane.streams) == 4
        assert set(tl.stream_counts) <= {2, 3, 4} and tl.stream_counts[-1] == 4
        assert tl.streams_legend == ((f"{tl.stream_counts[0]}-4", "streams at once"),)
        assert "4444" in lane.text
    for name in ("burst", "pool-churn", "max-requests"):  # HTTP/1.1: one at a time
        tl = layout(analyze(load(name)), 60)
        assert tl.stream_counts == () and tl.streams_legend == ()
        assert not any(ch.isdigit() for lane in tl.lanes for ch in lane.text)


def test_ten_or_more_streams_show_a_plus() -> None:
    a = analyze(load("h2-burst-12"))
    assert a.connections[0].peak_streams == 12
    lines = show(a)
    (lane,) = lanes(lines)
    assert "+" in lane
    assert any("+ 10 or more streams at once" in line for line in lines)
    for width in (40, 120):
        console = Console(file=io.StringIO(), width=width, force_terminal=False)
        console.print(TimelineView(a))
        out = console.file.getvalue().splitlines()  # type: ignore[attr-defined]
        assert all(len(line.rstrip()) <= width for line in out)
