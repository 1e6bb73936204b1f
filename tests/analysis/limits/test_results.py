"""discover's results from the records of real discover runs (tests/records), no sockets:
each measurement's derivation, the server facts and findings, the JSON document and the
terminal report.

A discover record holds the events and, beside them, what the results are computed
from that is not in the stream: the settings and each measurement's trail
(``tests.records.load_discover``).  Times are the run's own; the assertions compute what
a message says from the record's numbers.
"""

from __future__ import annotations

import io
import statistics

from rich.console import Console

from reusecheck.analysis import analyze
from reusecheck.analysis.events import EventIndex
from reusecheck.analysis.findings.tls import tls_no_resumption
from reusecheck.analysis.limits import h2 as h2limits
from reusecheck.analysis.limits import idle_timeout, max_requests
from reusecheck.analysis.limits import tls as tls_resume
from reusecheck.analysis.limits.fold import fold_into
from reusecheck.analysis.limits.model import DiscoverReport, IdleTimeoutResult, MaxRequestsResult
from reusecheck.analysis.limits.tls import handshakes
from reusecheck.report.discover_json import to_document
from reusecheck.report.discover_terminal import render
from tests.records import DiscoverRun, load, load_discover


def index(run: DiscoverRun) -> EventIndex:
    return EventIndex(run.events)


def idle_result(name: str) -> IdleTimeoutResult:
    run = load_discover(name)
    return idle_timeout.result(run.trails["idle-timeout"], index(run), run.settings.max_wait)


def count_result(name: str) -> MaxRequestsResult:
    run = load_discover(name)
    s = run.settings
    return max_requests.result(run.trails["max-requests"], index(run), s.max_requests, s.rate)


# --- idle timeout -----------------------------------------------------------------------


def test_idle_median_spread_and_hint() -> None:
    r = idle_result("discover-limits")
    assert r.status == "measured" and r.protocol == "http/1.1"
    idles = [s.idle_time_s for s in r.samples if s.idle_time_s is not None]
    assert len(r.samples) == len(idles) == 2
    assert len({s.conn_id for s in r.samples}) == 2  # a fresh connection each
    assert {s.reason for s in r.samples} == {"eof"}
    assert r.median_s == round(statistics.median(idles), 3)
    assert (r.min_s, r.max_s) == (round(min(idles), 3), round(max(idles), 3))
    assert r.hint_s == 5.0 and r.hint_delta_s == round(5.0 - (r.median_s or 0.0), 3)
    assert r.max_wait_s == 2.0


def test_idle_close_right_after_the_response_is_no_keepalive() -> None:
    r = idle_result("discover-quick-close")
    assert r.status == "no-keepalive" and r.median_s is None
    assert all(s.after_response and s.reason == "eof" for s in r.samples)


def test_connection_close_on_every_response_is_no_keepalive() -> None:
    r = idle_result("discover-close")
    assert r.status == "no-keepalive" and r.median_s is None
    assert {s.reason for s in r.samples} == {"connection-close-header"}


def test_idle_nothing_closed_is_at_least_the_wait() -> None:
    r = idle_result("discover-open")
    assert r.status == "at-least" and r.median_s is None
    assert r.at_least_s is not None and r.at_least_s >= 0.3
    assert all(s.idle_time_s is None and s.at_least_s is not None for s in r.samples)


# --- max requests -----------------------------------------------------------------------


def test_max_requests_counts_the_responses_and_names_the_header() -> None:
    r = count_result("discover-limits")
    assert r.status == "measured" and r.count == 7 and r.requests_sent == 7
    assert r.signal == "connection-close-header"
    assert r.hint_max == 10 and r.hint_delta == 3
    assert r.conn_id not in {s.conn_id for s in idle_result("discover-limits").samples}


def test_max_requests_goaway_and_silent_close() -> None:
    r = count_result("discover-h2c")
    assert (r.status, r.count, r.signal, r.protocol) == ("measured", 5, "goaway", "h2")
    r = count_result("discover-silent")
    assert (r.status, r.count, r.signal) == ("measured", 4, "silent-close")
    assert r.requests_sent == 5  # the fifth met the close


def test_max_requests_not_reached_and_idle_timeout_between_paced_requests() -> None:
    r = count_result("discover-open")
    assert (r.status, r.at_least, r.count, r.signal) == ("at-least", 5, None, None)
    run = load_discover("discover-paced")
    idle = next(e for e in run.events if e.event == "idle_closed")
    r = count_result("discover-paced")
    assert (r.status, r.signal, r.at_least) == ("at-least", "idle-timeout", 1)
    assert r.rate == 4.0
    assert r.idle_before_close_s == idle.fields["idle_time_s"]


def test_close_always_is_no_keepalive_for_the_count_too() -> None:
    r = count_result("discover-close")
    assert (r.status, r.count, r.signal) == ("no-keepalive", 1, "connection-close-header")


# --- HTTP/2 -----------------------------------------------------------------------------


def test_peak_of_stream_intervals() -> None:
    assert h2limits._peak([(0, 1), (0.5, 2), (1, 3)]) == 2  # an end frees before a start
    assert h2limits._peak([(0, 5)] * 4) == 4
    assert h2limits._peak([]) == 0


def test_h2_settings_and_the_streams_at_once() -> None:
    run = load_discover("discover-h2c")
    r = h2limits.result(run.trails["h2"], index(run))
    assert r.status == "measured" and r.protocol == "h2"
    assert r.settings is not None and r.settings.max_concurrent_streams == 3
    assert (r.requested, r.achieved, r.answered, r.refused, r.failed) == (3, 3, 3, 0, 0)
    assert r.connections == 1 and r.goaway is None
    assert r.conn_id != count_result("discover-h2c").conn_id


# --- TLS --------------------------------------------------------------------------------


def test_tls_handshakes_offered_and_resumed() -> None:
    run = load_discover("discover-tls")
    shakes = handshakes(run.events)
    assert [(h.offered, h.resumed) for h in shakes] == [(False, False), (True, True), (True, True)]
    starts = {e.conn: e.t for e in run.events if e.event == "tls_start"}
    dones = {e.conn: e.t for e in run.events if e.event == "tls_done"}
    assert [h.handshake_s for h in shakes] == [
        round(dones[h.conn_id] - starts[h.conn_id], 6) for h in shakes
    ]
    r = tls_resume.result(run.trails["tls"], index(run))
    assert r.status == "measured" and r.resumed is True and r.version == "TLSv1.3"
    assert r.full_handshake_s == shakes[0].handshake_s
    again = [h.handshake_s for h in shakes[1:] if h.handshake_s is not None]
    assert len(again) == 2
    assert r.resumed_handshake_s == round(statistics.median(again), 6)


def test_tls_no_resumption_detector() -> None:
    never = handshakes(load_discover("discover-tls-none").events)
    assert [(h.offered, h.resumed) for h in never] == [(False, False), (True, False), (True, False)]
    f = tls_no_resumption(never)
    assert f is not None and f.code == "tls-no-resumption" and f.severity == "info"
    assert "none of 2 TLS sessions offered" in f.message and "TLSv1.3" in f.message
    assert f.evidence["connections"] == [h.conn_id for h in never[1:]]
    assert tls_no_resumption(never[:1]) is None  # nothing offered
    assert tls_no_resumption(handshakes(load_discover("discover-tls").events)) is None


# --- the report: facts, findings, JSON, terminal, fold ----------------------------------


def full_report() -> DiscoverReport:
    return load_discover("discover-limits").report()


def test_report_facts_hint_deltas_and_findings() -> None:
    report = full_report()
    idle = report.idle_timeout
    assert idle is not None and idle.median_s is not None
    server = report.server
    assert server.keepalive is True and server.idle_timeout_s == idle.median_s
    assert server.max_requests_per_conn == 7 and server.software == "reusecheck"
    assert server.keepalive_hint is not None
    assert (server.keepalive_hint.timeout_s, server.keepalive_hint.max) == (5.0, 10)
    assert server.idle_timeout_hint_delta_s == round(5.0 - idle.median_s, 3)
    assert server.max_requests_hint_delta == 3
    assert [f.code for f in report.findings] == ["server-idle-timeout", "max-requests-per-conn"]
    message = report.findings[0].message
    assert message == (
        f"server closed 2 idle connections after {idle.median_s:.1f} s idle (EOF); "
        f"Keep-Alive hint timeout=5 ({5.0 - idle.median_s:+.1f} s vs measured)"
    )
    remedy = report.findings[0].remedy
    assert "IdleConnTimeout: " in remedy and "keepalive_expiry=" in remedy
    assert f"below {round(idle.median_s, 2):g} s" in remedy
    assert report.findings[1].message == (
        "server ended the connection after exactly 7 requests (Connection: close); "
        "Keep-Alive hint max=10 (+3)"
    )
    assert report.error is None and report.protocol == "http/1.1"


def test_document_fills_the_server_block() -> None:
    report = full_report()
    doc = to_document(report)
    assert doc["schema"] == "reusecheck/1" and doc["command"] == "discover"
    assert doc["server"]["idle_timeout_s"] == report.server.idle_timeout_s
    assert doc["server"]["max_requests_per_conn"] == 7
    assert doc["server"]["keepalive_hint"] == {"timeout_s": 5.0, "max": 10}
    assert doc["discover"]["max_requests"]["signal"] == "connection-close-header"
    assert doc["discover"]["h2"] is None and doc["discover"]["tls"] is None
    assert doc["error"] is None
    assert doc["options"]["only"] == ["idle-timeout", "max-requests"]
    assert doc["summary"]["duration_s"] == load_discover("discover-limits").duration_s
    open_doc = to_document(load_discover("discover-open").report())
    samples = open_doc["discover"]["idle_timeout"]["samples"]
    assert all(s["idle_time_s"] is None and s["at_least_s"] >= 0.3 for s in samples)
    assert open_doc["server"]["idle_timeout_at_least_s"] is not None
    assert open_doc["server"]["max_requests_at_least"] == 5


def show(report: DiscoverReport) -> list[str]:
    buf = io.StringIO()
    render(report, Console(file=buf, width=80, force_terminal=False))
    return [line.rstrip() for line in buf.getvalue().splitlines()]


def test_terminal_report_shows_measured_beside_the_hint() -> None:
    report = full_report()
    idle = report.idle_timeout
    assert idle is not None and idle.median_s is not None
    lines = show(report)
    assert lines[0].startswith("target") and report.target in lines[0]
    assert "http/1.1 · reusecheck" in lines[1]
    text = "\n".join(lines)
    assert (
        f"Idle timeout  {idle.median_s:.3f} s  median of 2 idle connections "
        f"({idle.min_s:.3f}-{idle.max_s:.3f} s)"
    ) in text
    assert f"hint Keep-Alive timeout=5 ({5.0 - idle.median_s:+.1f} s vs measured)" in text
    assert "Max requests  7 per connection  ended by Connection: close" in text
    assert "hint Keep-Alive max=10 (+3 vs measured)" in text
    assert "warning server-idle-timeout" in text and "fix: Set your client's" in text


def test_terminal_report_of_limits_not_reached() -> None:
    text = "\n".join(show(load_discover("discover-open").report()))
    assert "Idle timeout  at least 0.3 s" in text
    assert "Max requests  at least 5" in text
    assert "Findings" not in text


def test_fold_into_a_probe_analysis_replaces_inferred_facts_and_findings() -> None:
    analysis = analyze(load("idle-timeout"))
    assert analysis.server.idle_timeout_s is not None
    report = full_report()
    folded = fold_into(analysis, report)
    assert folded.server.idle_timeout_s == report.server.idle_timeout_s
    assert folded.server.max_requests_per_conn == 7
    assert [f.code for f in folded.findings].count("server-idle-timeout") == 1
    idle = next(f for f in folded.findings if f.code == "server-idle-timeout")
    assert idle.message == report.findings[0].message
