"""The recorded runs (tests/records) are what the analysis tests stand on: each is a
valid event stream, and the analysis turns each into exactly its golden report.

The golden reports change only on purpose: after a deliberate change to the analysis,
``python -m tests.records.record --reports`` rewrites them and the diff is reviewed.
"""

from __future__ import annotations

import pytest

from reusecheck.analysis import analyze
from reusecheck.report.json import dumps
from tests.records import DATA, load, names, report_text
from tests.schema_check import check_events, check_report


def test_every_recorded_run_is_here() -> None:
    from tests.records.record import SPECS

    assert names() == sorted(SPECS)


@pytest.mark.parametrize("name", names())
def test_record_is_a_valid_event_stream(name: str) -> None:
    check_events((DATA / name / "events.ndjson").read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", names())
def test_analysis_of_a_record_is_its_golden_report(name: str) -> None:
    text = dumps(analyze(load(name))) + "\n"
    check_report(text)
    assert text == report_text(name), (
        f"the JSON report of tests/records/data/{name} changed; if on purpose, run "
        "python -m tests.records.record --reports and review the diff"
    )
