"""The catalogue: every code of docs/design.md, complete entries, remedy arithmetic."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from reusecheck import findings
from reusecheck.findings import (
    CATALOGUE,
    KNOWN_CODES,
    SEVERITIES,
    UnknownCode,
    below,
    client_idle_timeout_remedy,
    explain,
    go_duration,
    max_requests_remedy,
    pool_churn_remedy,
    seconds,
)

DESIGN_CODES = (
    "no-keepalive",
    "http10-server",
    "max-requests-per-conn",
    "server-idle-timeout",
    "stale-conn-retry",
    "h2-not-negotiated",
    "h2-no-multiplexing",
    "h2-goaway",
    "pool-churn",
    "body-not-drained",
    "tls-no-resumption",
    "new-conn-per-request",
)


def test_catalogue_has_exactly_the_design_codes() -> None:
    assert set(KNOWN_CODES) == set(DESIGN_CODES)
    assert len(KNOWN_CODES) == len(DESIGN_CODES)


def test_design_doc_lists_the_same_codes() -> None:
    design = Path(__file__).resolve().parents[1] / "docs" / "design.md"
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
