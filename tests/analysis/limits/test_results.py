"""discover's results from hand-built event records, no sockets: each measurement's
derivation, the server facts and findings, the JSON document and the terminal report.
"""

from __future__ import annotations

import io
from typing import Any

from rich.console import Console

from reusecheck.analysis import analyze
from reusecheck.analysis.events import EventIndex
from reusecheck.analysis.findings.tls import tls_no_resumption
from reusecheck.analysis.limits import h2 as h2limits
from reusecheck.analysis.limits import idle_timeout, max_requests
from reusecheck.analysis.limits import tls as tls_resume
from reusecheck.analysis.limits.fold import fold_into
from reusecheck.analysis.limits.model import DiscoverReport, TlsHandshake, Trail
from reusecheck.analysis.limits.tls import handshakes
from reusecheck.discover import DiscoverSettings
from reusecheck.discover.engine import report as build
from reusecheck.report.discover_json import to_document
from reusecheck.report.discover_terminal import render
from reusecheck.trace import Event
from tests import builders

URL = "http://127.0.0.1:8080/"


def count(trail: Trail, rec: Any, s: DiscoverSettings | None = None) -> Any:
    s = s or settings()
    return max_requests.result(trail, EventIndex(rec.events), s.max_requests, s.rate)


class Record:
    """Events in the pool's order for the shapes discover produces."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def emit(self, t: float, name: str, request: int | None, conn: int | None, **f: Any) -> None:
        self.events.append(Event(t, name, request, conn, f))

    def request(
        self,
        t: float,
        r: int,
        c: int,
        *,
        reused: bool = False,
        connection: str | None = None,
        keep_alive: str | None = None,
        put_ok: bool = True,
        reason: str | None = None,
        protocol: str = "http/1.1",
    ) -> float:
        """One request on connection ``c`` from ``t``; returns when it ended."""
        self.emit(t, "get_conn", r, None, key="http://127.0.0.1:8080", method="GET", url=URL)
        if not reused:
            self.emit(t, "connect_start", r, c, addr="127.0.0.1:8080")
            self.emit(t, "connect_done", r, c, local=f"127.0.0.1:{5000 + c}", remote="x")
        self.emit(t, "got_conn", r, c, reused=reused, was_idle=reused, protocol=protocol)
        self.emit(t, "wrote_headers", r, c, headers=[])
        headers = [["server", "testd"]]
        self.emit(
            t + 0.001,
            "response_headers",
            r,
            c,
            status=200,
            http_version="1.1",
            connection=connection,
            keep_alive=keep_alive,
            headers=headers,
        )
        self.emit(t + 0.002, "body_done", r, c, bytes=3, complete=True)
        self.emit(t + 0.002, "put_idle", r, c, ok=put_ok, reason=reason)
        if not put_ok:
            self.emit(t + 0.002, "conn_closed", r, c, closed_by="server", reason=reason)
        self.emit(t + 0.002, "request_done", r, c, status=200, error=None, phase="x")
        return t + 0.002

    def idle_close(self, t: float, c: int, idle: float, reason: str = "eof") -> None:
        self.emit(t, "idle_closed", None, c, idle_time_s=idle, reason=reason, closed_by="server")
        self.emit(t, "conn_closed", None, c, closed_by="server", reason="idle-timeout")


def settings(**changes: Any) -> DiscoverSettings:
    return DiscoverSettings(URL, max_wait=10.0, **changes)


def idle_record() -> tuple[Record, Trail]:
    rec, trail = Record(), Trail("idle-timeout", requests=[0, 1, 2])
    for r, c in ((0, 1), (1, 101), (2, 201)):
        rec.request(0.0, r, c, keep_alive="timeout=5, max=100")
    rec.idle_close(3.002, 1, 3.0)
    rec.idle_close(3.102, 101, 3.1)
    rec.emit(10.002, "conn_closed", None, 201, closed_by="client", reason="end-of-run")
    return rec, trail


def test_idle_median_spread_hint_and_a_sample_still_open() -> None:
    rec, trail = idle_record()
    r = idle_timeout.result(trail, EventIndex(rec.events), settings().max_wait)
    assert r.status == "measured" and r.protocol == "http/1.1"
    assert (r.median_s, r.min_s, r.max_s) == (3.05, 3.0, 3.1)
    assert r.hint_s == 5.0 and r.hint_delta_s == 1.95
    assert [s.idle_time_s for s in r.samples] == [3.0, 3.1, None]
    assert r.samples[2].at_least_s == 10.0


def test_idle_close_right_after_the_response_is_no_keepalive() -> None:
    rec, trail = Record(), Trail("idle-timeout", requests=[0])
    rec.request(0.0, 0, 1)
    rec.idle_close(0.005, 1, 0.003)
    r = idle_timeout.result(trail, EventIndex(rec.events), settings().max_wait)
    assert r.status == "no-keepalive" and r.median_s is None


def test_idle_nothing_closed_is_at_least_the_wait() -> None:
    rec, trail = Record(), Trail("idle-timeout", requests=[0])
    rec.request(0.0, 0, 1)
    rec.emit(10.002, "conn_closed", None, 1, closed_by="client", reason="end-of-run")
    r = idle_timeout.result(trail, EventIndex(rec.events), settings().max_wait)
    assert r.status == "at-least" and r.at_least_s == 10.0


def count_record(n: int, last: str | None = "close") -> Record:
    rec = Record()
    t = 0.0
    for r in range(n):
        final = r == n - 1 and last is not None
        t = rec.request(
            t,
            r,
            1,
            reused=r > 0,
            keep_alive="timeout=5, max=10" if r == 0 else None,
            connection=last if final else None,
            put_ok=not final,
            reason="connection-close-header" if final else None,
        )
    return rec


def test_max_requests_counts_the_responses_and_names_the_header() -> None:
    rec = count_record(7)
    trail = Trail("max-requests", requests=list(range(7)))
    r = count(trail, rec)
    assert r.status == "measured" and r.count == 7 and r.requests_sent == 7
    assert r.signal == "connection-close-header"
    assert r.hint_max == 10 and r.hint_delta == 3


def test_max_requests_goaway_and_silent_close() -> None:
    rec = count_record(4, last=None)
    rec.emit(0.02, "h2_goaway", None, 1, error_code="NO_ERROR", last_stream_id=7, unprocessed=[])
    trail = Trail("max-requests", requests=list(range(4)))
    assert (
        max_requests.result(
            trail, EventIndex(rec.events), settings().max_requests, settings().rate
        ).signal
        == "goaway"
    )
    rec = count_record(4, last=None)
    rec.idle_close(0.01, 1, 0.001)
    r = count(trail, rec)
    assert (r.status, r.count, r.signal) == ("measured", 4, "silent-close")


def test_max_requests_not_reached_and_idle_timeout_between_paced_requests() -> None:
    rec = count_record(5, last=None)
    trail = Trail("max-requests", requests=list(range(5)))
    r = max_requests.result(
        trail,
        EventIndex(rec.events),
        settings(max_requests=5).max_requests,
        settings(max_requests=5).rate,
    )
    assert (r.status, r.at_least, r.count, r.signal) == ("at-least", 5, None, None)
    rec.idle_close(2.0, 1, 1.99)
    r = count(trail, rec)
    assert (r.status, r.signal, r.idle_before_close_s) == ("at-least", "idle-timeout", 1.99)


def test_peak_of_stream_intervals() -> None:
    assert h2limits._peak([(0, 1), (0.5, 2), (1, 3)]) == 2  # an end frees before a start
    assert h2limits._peak([(0, 5)] * 4) == 4
    assert h2limits._peak([]) == 0


def test_tls_handshakes_offered_and_resumed() -> None:
    rec = Record()
    for c, (t, resumed) in enumerate(((0.0, False), (1.0, True), (2.0, True)), start=1):
        rec.emit(t, "tls_start", c - 1, c, session_offered=c > 1)
        rec.emit(
            t + (0.004 if not resumed else 0.001),
            "tls_done",
            c - 1,
            c,
            resumed=resumed,
            version="TLSv1.3",
        )
    shakes = handshakes(rec.events)
    assert [(h.offered, h.resumed) for h in shakes] == [(False, False), (True, True), (True, True)]
    trail = Trail("tls", requests=[0, 1, 2])
    r = tls_resume.result(trail, EventIndex(rec.events))
    assert r.resumed is True and r.full_handshake_s == 0.004 and r.resumed_handshake_s == 0.001


def test_tls_no_resumption_detector() -> None:
    never = [
        TlsHandshake(1, False, False, 0.004, "TLSv1.2"),
        TlsHandshake(2, True, False, 0.004, "TLSv1.2"),
    ]
    f = tls_no_resumption(never)
    assert f is not None and f.code == "tls-no-resumption" and f.severity == "info"
    assert "none of 1 TLS session offered" in f.message and "TLSv1.2" in f.message
    assert f.evidence["connections"] == [2]
    assert tls_no_resumption(never[:1]) is None  # nothing offered
    assert tls_no_resumption([never[0], TlsHandshake(2, True, True, 0.001)]) is None


def test_old_records_without_session_offered_count_later_handshakes_as_offered() -> None:
    rec = Record()
    rec.emit(0.0, "tls_start", 0, 1)
    rec.emit(0.004, "tls_done", 0, 1, resumed=False)
    rec.emit(1.0, "tls_start", 1, 2)
    rec.emit(1.004, "tls_done", 1, 2, resumed=False)
    assert [h.offered for h in handshakes(rec.events)] == [False, True]


def full_report() -> DiscoverReport:
    rec, idle_trail = idle_record()
    count = count_record(7)
    # The counter's requests and connection after the idle samples'.
    shifted = [
        Event(
            e.t,
            e.event,
            e.request + 10 if e.request is not None else None,
            e.conn + 300 if e.conn is not None else None,
            e.fields,
        )
        for e in count.events
    ]
    trails = {
        "idle-timeout": idle_trail,
        "max-requests": Trail("max-requests", requests=list(range(10, 17))),
    }
    s = settings(only=("idle-timeout", "max-requests"))
    return build(s, rec.events + shifted, trails, None, 10.01)


def test_report_facts_hint_deltas_and_findings() -> None:
    report = full_report()
    server = report.server
    assert server.keepalive is True and server.idle_timeout_s == 3.05
    assert server.max_requests_per_conn == 7 and server.software == "testd"
    assert server.keepalive_hint is not None and server.keepalive_hint.max == 100
    assert server.idle_timeout_hint_delta_s == 1.95 and server.max_requests_hint_delta == 93
    assert [f.code for f in report.findings] == ["server-idle-timeout", "max-requests-per-conn"]
    idle = report.findings[0]
    assert "after 3.0 s idle" in idle.message and "3.00-3.10 s" in idle.message
    assert "IdleConnTimeout: 2*time.Second" in idle.remedy
    assert "keepalive_expiry=2" in idle.remedy and "keepalive_timeout=2" in idle.remedy


def test_document_fills_the_server_block() -> None:
    doc = to_document(full_report())
    assert doc["server"]["idle_timeout_s"] == 3.05
    assert doc["server"]["max_requests_per_conn"] == 7
    assert doc["server"]["keepalive_hint"] == {"timeout_s": 5.0, "max": 100}
    assert doc["discover"]["idle_timeout"]["samples"][2]["at_least_s"] == 10.0
    assert doc["discover"]["max_requests"]["signal"] == "connection-close-header"
    assert doc["discover"]["h2"] is None and doc["error"] is None
    assert doc["options"]["only"] == ["idle-timeout", "max-requests"]


def show(report: DiscoverReport) -> list[str]:
    buf = io.StringIO()
    render(report, Console(file=buf, width=80, force_terminal=False))
    return [line.rstrip() for line in buf.getvalue().splitlines()]


def test_terminal_report_shows_measured_beside_the_hint() -> None:
    lines = show(full_report())
    assert lines[0].startswith("target") and URL in lines[0]
    assert "http/1.1 · testd" in lines[1]
    text = "\n".join(lines)
    assert "Idle timeout  3.050 s  median of 2 idle connections (3.000-3.100 s)" in text
    assert "hint Keep-Alive timeout=5 (+1.9 s vs measured)" in text
    assert "1 still open after 10.0 s" in text
    assert "Max requests  7 per connection  ended by Connection: close" in text
    assert "hint Keep-Alive max=100 (+93 vs measured)" not in text  # the first response's
    assert "hint Keep-Alive max=10 (+3 vs measured)" in text
    assert "warning server-idle-timeout" in text and "fix: Set your client's" in text


def test_fold_into_a_probe_analysis_replaces_inferred_facts_and_findings() -> None:
    analysis = analyze(builders.idle_timeout(4.0))
    assert analysis.server.idle_timeout_s is not None
    folded = fold_into(analysis, full_report())
    assert folded.server.idle_timeout_s == 3.05
    assert folded.server.max_requests_per_conn == 7
    assert [f.code for f in folded.findings].count("server-idle-timeout") == 1
    idle = next(f for f in folded.findings if f.code == "server-idle-timeout")
    assert "3.0 s" in idle.message
