"""The recorded runs (tests/records) are what the analysis tests stand on: each is a
valid event stream, and the analysis turns each into exactly its golden report (a
discover run: discover's results into exactly its golden document).

The golden files change only on purpose: after a deliberate change to the analysis,
``python -m tests.records.record --reports`` rewrites them and the diff is reviewed.
"""

from __future__ import annotations

import pytest

from tests.records import (
    DATA,
    discover_golden,
    discover_text,
    is_discover_record,
    names,
    probe_text,
    report_text,
)
from tests.schema_check import check_events, check_report

PROBES = [n for n in names() if not is_discover_record(n)]
DISCOVERS = [n for n in names() if is_discover_record(n)]


def test_every_recorded_run_is_here() -> None:
    from tests.records.record import SPECS

    assert names() == sorted(SPECS)
    assert DISCOVERS, "discover's results need discover records"


@pytest.mark.parametrize("name", names())
def test_record_is_a_valid_event_stream(name: str) -> None:
    check_events((DATA / name / "events.ndjson").read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", PROBES)
def test_analysis_of_a_record_is_its_golden_report(name: str) -> None:
    text = probe_text(name)
    check_report(text)
    assert text == report_text(name), (
        f"the JSON report of tests/records/data/{name} changed; if on purpose, run "
        "python -m tests.records.record --reports and review the diff"
    )


@pytest.mark.parametrize("name", DISCOVERS)
def test_discover_results_of_a_record_are_its_golden_document(name: str) -> None:
    text = discover_text(name)  # no schema of its own: the report schema's blocks, and more
    assert text == discover_golden(name), (
        f"the discover document of tests/records/data/{name} changed; if on purpose, run "
        "python -m tests.records.record --reports and review the diff"
    )
    assert not (DATA / name / "report.json").exists()
