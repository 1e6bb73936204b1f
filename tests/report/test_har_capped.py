"""A HAR is made from the record, so it holds what the record keeps of a response's
headers: a server sending 10,000 per response makes no HAR that grows with them."""

from __future__ import annotations

from datetime import UTC, datetime

from reusecheck.analysis import analyze
from reusecheck.report.har import to_har
from reusecheck.trace.vocab import RECORD_HEADER_PAIRS
from tests.records import load


def test_the_har_of_a_run_with_ten_thousand_headers_holds_the_capped_pairs() -> None:
    record = load("many-headers")
    har = to_har(analyze(record), record.events, started_at=datetime(2026, 1, 1, tzinfo=UTC))
    entries = har["log"]["entries"]
    assert len(entries) == 6
    assert all(len(e["response"]["headers"]) == RECORD_HEADER_PAIRS for e in entries)
