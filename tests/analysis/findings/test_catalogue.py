"""The catalogue: every code of docs/design.md, complete entries, remedy arithmetic."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from reusecheck.analysis.findings import catalogue as findings
from reusecheck.analysis.findings.catalogue import (
    CATALOGUE,
    KNOWN_CODES,
    SEVERITIES,
    UnknownCode,
    explain,
)
from reusecheck.analysis.findings.remedies import (
    below,
    client_idle_timeout_remedy,
    go_duration,
    h2_goaway_remedy,
    max_requests_remedy,
    pool_churn_remedy,
)
from reusecheck.analysis.text import seconds

DESIGN_CODES = (
    "no-keepalive",
    "http10-server",
    "max-requests-per-conn",
    "server-idle-timeout",
    "stale-conn-retry",
    "h2-not-negotiated",
    "h2-no-multiplexing",
    "h2-goaway",
    "h2-stream-refused",
    "h2-no-streams",
    "h2-concurrency-below-advertised",
    "unsolicited-response",
    "record-capped",
    "pool-churn",
    "body-not-drained",
    "tls-no-resumption",
    "new-conn-per-request",
    "client-idle-timeout",
    "keepalive-disabled",
    "connection-error",
    "error-responses",
    "expectation-unmet",
    "proxy-connect-refused",
    "proxy-no-keepalive",
    "proxy-idle-timeout",
    "addresses-spread",
    "not-retried-non-idempotent",
    "client-new-conn-per-request",
    "client-body-not-drained",
    "client-conn-leak",
    "client-idle-pool-churn",
    "client-idle-timeout-too-long",
    "client-h2-not-multiplexing",
)


def test_catalogue_has_exactly_the_design_codes() -> None:
    assert set(KNOWN_CODES) == set(DESIGN_CODES)
    assert len(KNOWN_CODES) == len(DESIGN_CODES)


def test_design_doc_lists_the_same_codes() -> None:
    design = Path(__file__).resolve().parents[3] / "docs" / "design.md"
    if not design.exists():
        pytest.skip("no docs/design.md")
    section = design.read_text().split("## Findings", 1)[1]
    listed = set(re.findall(r"`([a-z0-9-]+)`", section.split("Each has", 1)[0]))
    assert listed == set(KNOWN_CODES)


@pytest.mark.parametrize("code", KNOWN_CODES)
def test_every_entry_is_complete(code: str) -> None:
    e = CATALOGUE[code]
    assert e.code == code
    assert e.severity in SEVERITIES
    assert e.title and not e.title.endswith(".")
    assert len(e.explanation) > 80
    assert len(e.remedy) > 40
    text = explain(code)
    assert " ".join(text.split("\n\n")[0].split()) == f"{code} ({e.severity}): {e.title}"
    assert "Remedy: " in text
    assert all(len(line) <= 78 for line in text.splitlines())


def test_explain_unknown_code_names_the_known_ones() -> None:
    with pytest.raises(UnknownCode, match="known codes: no-keepalive"):
        explain("keepalive")
    assert issubclass(UnknownCode, ValueError)


def test_finding_takes_the_catalogue_severity_and_title() -> None:
    f = findings.finding("pool-churn", "m", "r", connections=[3])
    assert f.severity == "warning"
    assert f.title == CATALOGUE["pool-churn"].title
    assert f.evidence == {"connections": [3]}


@pytest.mark.parametrize(
    ("limit", "suggested"),
    [(4.0, 3.0), (4.003, 3.0), (3.998, 3.0), (5.0, 4.0), (75.0, 74.0), (4.96, 4.0), (2.0, 1.0)],
)
def test_client_idle_timeout_is_a_second_below(limit: float, suggested: float) -> None:
    assert below(limit) == suggested


def test_short_server_timeouts_get_half() -> None:
    assert below(1.0) == 0.5
    assert below(0.15) == 0.1


def test_go_duration_and_seconds() -> None:
    assert go_duration(3.0) == "3*time.Second"
    assert go_duration(0.5) == "500*time.Millisecond"
    assert seconds(3.0) == "3"
    assert seconds(2.5) == "2.5"
    assert seconds(4.9615) == "4.96"


def test_idle_timeout_remedy_names_each_clients_knob() -> None:
    text = client_idle_timeout_remedy(4.0, "the server's idle timeout")
    assert "below 4 s (the server's idle timeout)" in text
    assert "Go IdleConnTimeout: 3*time.Second" in text
    assert "httpx Limits(keepalive_expiry=3)" in text
    assert "aiohttp TCPConnector(keepalive_timeout=3)" in text
    assert "--idle-timeout 3" in text
    for server_knob in ("keepalive_timeout", "KeepAliveTimeout", "server.keepAliveTimeout"):
        assert server_knob in text


def test_other_computed_remedies() -> None:
    assert "one request in 4 (25%)" in max_requests_remedy(4)
    churn = pool_churn_remedy(8, 2)
    assert "at least 8 idle connections per host (now 2)" in churn
    assert "MaxIdleConnsPerHost = 8" in churn
    assert "(now" not in pool_churn_remedy(8, None)


@pytest.mark.parametrize(
    ("code", "knobs"),
    [
        ("h2-not-negotiated", ("http2 on;", "listen 443 ssl http2;", "Protocols h2 http/1.1",
                               "load balancer or CDN", "ForceAttemptHTTP2", "httpx[http2]")),
        ("h2-no-multiplexing", ("one per request", "StrictMaxConcurrentStreams",
                                "Client(http2=True)", "http2_max_concurrent_streams")),
        ("h2-goaway", ("keepalive_requests", "last_stream_id", "debug data")),
    ],
)  # fmt: skip
def test_h2_entries_name_the_knobs(code: str, knobs: tuple[str, ...]) -> None:
    e = CATALOGUE[code]
    text = e.explanation + " " + e.remedy
    for knob in knobs:
        assert knob in text, knob


def test_goaway_remedy_by_error_code() -> None:
    limit = h2_goaway_remedy({"NO_ERROR"}, 1000)
    assert "after 1000 streams, so one request in 1000" in limit
    assert "keepalive_requests (default 1000; http2_max_requests before 1.19.7)" in limit
    graceful = h2_goaway_remedy({"NO_ERROR"}, None)
    assert "graceful shutdown" in graceful and "keepalive_requests" not in graceful
    calm = h2_goaway_remedy({"ENHANCE_YOUR_CALM", "INTERNAL_ERROR"}, None)
    assert "CVE-2023-44487" in calm and "error log" in calm and "graceful" not in calm
    assert all(text.endswith("(Go and httpx do).") for text in (limit, graceful, calm))
