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
import itertools
import statistics

from rich.console import Console

from reusecheck.analysis import analyze
from reusecheck.analysis.events import EventIndex
from reusecheck.analysis.findings.remedies import client_idle_timeout_remedy
from reusecheck.analysis.findings.tls import tls_no_resumption
from reusecheck.analysis.limits import h2 as h2limits
from reusecheck.analysis.limits import idle_timeout, max_requests
from reusecheck.analysis.limits import tls as tls_resume
from reusecheck.analysis.limits.fold import fold_into
from reusecheck.analysis.limits.model import DiscoverReport, IdleTimeoutResult, MaxRequestsResult
from reusecheck.analysis.limits.tls import handshakes
from reusecheck.analysis.text import secs
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


def test_idle_samples_are_staggered_and_a_timer_per_connection_stays_one_value() -> None:
    run = load_discover("discover-limits")
    r = idle_result("discover-limits")
    puts = {e.conn: e.t for e in run.events if e.event == "put_idle"}
    assert [s.idle_at_s for s in r.samples] == [round(puts[s.conn_id or 0], 6) for s in r.samples]
    ats = [s.idle_at_s or 0.0 for s in r.samples]
    assert r.stagger_s == round(max(ats) - min(ats), 3) and r.stagger_s >= 0.4  # 1/2 s apart
    assert not r.periodic and r.timeout_s == r.median_s


def test_a_periodic_closer_is_a_window_whose_start_is_the_timeout() -> None:
    r = idle_result("discover-periodic")
    idles = [s.idle_time_s for s in r.samples if s.idle_time_s is not None]
    assert r.status == "measured" and len(idles) == 8
    assert r.periodic and (r.min_s, r.max_s) == (round(min(idles), 3), round(max(idles), 3))
    assert (r.max_s or 0) - (r.min_s or 0) >= idle_timeout.PERIODIC_SPREAD_S
    assert r.timeout_s == r.min_s != r.median_s
    # The reaper's signature: connections that went idle at eight moments were closed at
    # no more than two (its ticks).
    closes = sorted(s.closed_at_s or 0.0 for s in r.samples)
    assert closes[-1] - closes[0] > 0.5
    assert sum(1 for a, b in itertools.pairwise(closes) if b - a > 0.05) <= 1
    report = load_discover("discover-periodic").report()
    assert report.server.idle_timeout_s == r.min_s
    [finding] = report.findings
    assert finding.message == (
        f"server closed 8 idle connections after {r.min_s:.2f}-{r.max_s:.2f} s idle (EOF): "
        "it closes idle connections on a periodic check, so a close lands anywhere in "
        f"that window; the earliest, {secs(r.min_s or 0.0)}, is the one to stay below"
    )
    assert finding.evidence["idle_timeout_s"] == r.min_s
    assert finding.remedy == client_idle_timeout_remedy(
        r.min_s or 0.0, "the earliest close of the server's periodic idle check"
    )
    doc = to_document(report)
    assert doc["server"]["idle_timeout_window_s"] == [r.min_s, r.max_s]
    assert doc["discover"]["idle_timeout"]["periodic"] is True
    text = "\n".join(show(report))
    assert f"Idle timeout  {r.min_s:.3f}-{r.max_s:.3f} s  window of 8 idle connections" in text
    assert f"stay below {r.min_s:.3f} s" in text


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
    report = load_discover("discover-close").report()
    assert report.server.max_requests_per_conn == 1 and report.server.keepalive is False
    server = to_document(report)["server"]
    assert (server["max_requests_per_conn"], server["max_requests_signal"]) == (
        1,
        "connection-close-header",
    )
    assert "Max requests  1 per connection  the server ended it after the first response" in (
        "\n".join(show(report))
    )


# --- HTTP/2 -----------------------------------------------------------------------------


def test_peak_of_stream_intervals() -> None:
    assert h2limits._peak([(0, 1), (0.5, 2), (1, 3)]) == 2  # an end frees before a start
    assert h2limits._peak([(0, 5)] * 4) == 4
    assert h2limits._peak([]) == 0


def test_waves_split_the_first_bytes_at_pauses() -> None:
    assert h2limits.waves([], 0.05) == []
    assert h2limits.waves([0.0, 0.001, 0.002], 0.05) == [3]
    assert h2limits.waves([0.2, 0.0, 0.101, 0.1, 0.001], 0.05) == [2, 2, 1]  # sorted first
    assert h2limits.waves([0.0, 0.05], 0.05) == [1, 1]  # a pause of exactly the limit


def test_h2_server_queueing_streams_is_answered_in_waves() -> None:
    run = load_discover("discover-h2-queued")
    r = h2limits.result(run.trails["h2"], index(run))
    assert r.status == "measured" and r.advertised == 24
    assert (r.requested, r.achieved, r.answered, r.refused) == (24, 24, 24, 0)
    assert (r.at_once, r.wave_sizes, r.queued) == (6, (6, 6, 6, 6), True)
    # The service time of the lone first request sets the pause (half of it, 50 ms at least).
    assert r.service_s is not None and r.service_s >= 0.1
    assert r.wave_pause_s == round(max(h2limits.WAVE_PAUSE_S, r.service_s / 2), 6)
    burst = {i for i, role in run.trails["h2"].roles.items() if role == "burst"}
    firsts = [e.t for e in run.events if e.event == "got_first_byte" and e.request in burst]
    assert h2limits.waves(firsts, r.wave_pause_s) == list(r.wave_sizes)
    report = run.report()
    [finding] = report.findings
    assert (finding.code, finding.severity) == ("h2-concurrency-below-advertised", "warning")
    assert finding.message == (
        "server advertised SETTINGS_MAX_CONCURRENT_STREAMS 24 but worked on 6 at once: 24 "
        "streams opened together were answered in 4 waves (6, 6, 6, 6), each after a pause "
        f"of {r.wave_pause_s:.2f} s or more"
    )
    assert "nginx http2_max_concurrent_streams 6" in finding.remedy
    assert "keep at most 6 requests in flight per connection" in finding.remedy
    assert finding.evidence["wave_sizes"] == [6, 6, 6, 6]
    doc = to_document(report)
    assert doc["server"]["h2_streams_at_once"] == 6
    assert doc["findings"][0]["code"] == "h2-concurrency-below-advertised"
    assert {"code", "severity", "title", "message", "evidence", "remedy"} == set(doc["findings"][0])
    text = "\n".join(show(report))
    assert "max_concurrent_streams 24 advertised · 6 worked on at once" in text
    assert "answered in 4 waves (6, 6, 6, 6)" in text
    assert "WARNING h2-concurrency-below-advertised" in text
    assert text.splitlines()[-1] == "discover: h2 max 24 streams, 6 at once"


def test_h2_server_working_on_all_it_advertises_is_one_wave() -> None:
    run = load_discover("discover-h2-at-once")
    r = h2limits.result(run.trails["h2"], index(run))
    assert (r.advertised, r.requested, r.at_once, r.wave_sizes) == (24, 24, 24, (24,))
    assert not r.queued and r.service_s is not None and r.service_s >= 0.1
    report = run.report()
    assert report.findings == ()
    assert "answered in one wave: no queueing seen" in "\n".join(show(report))


def test_h2_settings_and_the_streams_at_once() -> None:
    run = load_discover("discover-h2c")
    r = h2limits.result(run.trails["h2"], index(run))
    assert r.status == "measured" and r.protocol == "h2"
    assert r.settings is not None and r.settings.max_concurrent_streams == 3
    assert (r.requested, r.achieved, r.answered, r.refused, r.failed) == (3, 3, 3, 0, 0)
    assert r.connections == 1 and r.goaway is None
    # "/" is answered in well under WAVE_PAUSE_S: no queue could show, one wave.
    assert r.service_s is not None and r.service_s < h2limits.WAVE_PAUSE_S
    assert (r.advertised, r.at_once, r.wave_sizes, r.queued) == (3, 3, (3,), False)
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
    assert "WARNING server-idle-timeout" in text and "fix: Set your client's" in text


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
