"""A request row's JSON text written as the request finishes (report/rowjson.py) is the
text json.dumps writes for it inside the report, over every recorded run, and a row read
back from it is the row (times to the microsecond)."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from reusecheck.analysis import analyze
from reusecheck.analysis.model import RequestRow
from reusecheck.report.json import _request
from reusecheck.report.rowjson import request_fragment, row_from_document
from tests.records import is_discover_record, load, names

PROBES = [n for n in names() if not is_discover_record(n)]


def nested(row: RequestRow, ensure_ascii: bool) -> str:
    """The row as json.dumps writes it two levels deep (the report's requests array)."""
    text = json.dumps({"requests": [_request(row, False)]}, indent=2, ensure_ascii=ensure_ascii)
    return text[text.index("{", 1) : text.rindex("}", 0, len(text) - 1) + 1]


@pytest.mark.parametrize("name", PROBES)
def test_every_recorded_row_is_written_as_json_writes_it(name: str) -> None:
    for row in analyze(load(name)).requests:
        for ascii_only in (True, False):
            assert request_fragment(row, ensure_ascii=ascii_only) == nested(row, ascii_only)


def test_text_nobody_typed_in_ascii() -> None:
    row = analyze(load("healthy")).requests[0]
    odd = replace(row, phase="wärm-up ☃ 𝄞", body_head='say "no"\n\t\\')
    for ascii_only in (True, False):
        assert request_fragment(odd, ensure_ascii=ascii_only) == nested(odd, ascii_only)


@pytest.mark.parametrize("name", ["healthy", "stale-retry", "h2-burst", "many-headers"])
def test_a_row_read_back_is_the_row_to_the_microsecond(name: str) -> None:
    for row in analyze(load(name)).requests:
        back = row_from_document(json.loads(request_fragment(row)))
        assert request_fragment(back) == request_fragment(row)
        assert (back.index, back.conn_id, back.reused, back.status) == (
            row.index,
            row.conn_id,
            row.reused,
            row.status,
        )
