"""Indented JSON without json's Python encoder (report/jsonfast.py): byte for byte what
json.dumps(indent=2) writes, for every recorded report and the values that are easy to
get wrong."""

from __future__ import annotations

import json
import math
from array import array
from typing import Any

import pytest

from reusecheck.analysis import analyze
from reusecheck.report import jsonfast
from reusecheck.report.json import to_document
from tests.records import is_discover_record, load, names

ODD: list[Any] = [
    {},
    [],
    {"a": {}, "b": [], "c": [{}], "d": [[]]},
    {"ü": "☃", "𝄞": ['\n\t"\\', "\x00\x1f"], 1: True, 2.5: None, False: 0, None: -1},
    [0.1, 1e-7, 1e300, -0.0, 3, -4, True, False, None],
    {"nested": {"deeper": {"deepest": [1, {"x": [2, 3]}]}}},
]


@pytest.mark.parametrize("value", ODD, ids=range(len(ODD)))
@pytest.mark.parametrize("ascii_only", [True, False])
def test_odd_values(value: Any, ascii_only: bool) -> None:
    want = json.dumps(value, indent=2, ensure_ascii=ascii_only, allow_nan=False)
    assert jsonfast.encode(value, ensure_ascii=ascii_only) == want


@pytest.mark.parametrize("name", [n for n in names() if not is_discover_record(n)])
def test_every_recorded_report(name: str) -> None:
    doc = to_document(analyze(load(name)))
    assert jsonfast.encode(doc, ensure_ascii=False) == json.dumps(doc, indent=2, ensure_ascii=False)


def test_nested_pieces_splice_into_the_whole() -> None:
    inner = {"a": [1, {"b": "c"}]}
    whole = json.dumps({"x": [inner]}, indent=2)
    assert f"    {jsonfast.encode(inner, 2)}" in whole


def test_arrays_of_integers_are_lists_and_non_finite_numbers_refused() -> None:
    assert jsonfast.encode(array("q", [1, 2])) == json.dumps([1, 2], indent=2)
    for bad in (math.nan, math.inf, -math.inf):
        with pytest.raises(ValueError, match="not JSON compliant"):
            jsonfast.encode({"x": bad})
    with pytest.raises(TypeError):
        jsonfast.encode({"x": object()})


def test_pieces_join_to_the_whole_text() -> None:
    indexes = array("q", range(20_000))
    doc = {"id": 1, "request_indexes": indexes, "h2": {"x": [1, 2]}, "e": {}}
    pieces = list(jsonfast.chunks(doc, 2))
    assert len(pieces) > 3  # the long array came a slice at a time
    assert "".join(pieces) == jsonfast.encode(doc, 2)
    as_list = {**doc, "request_indexes": list(indexes)}
    whole = json.dumps({"connections": [as_list]}, indent=2)
    assert f"    {jsonfast.encode(doc, 2)}\n  ]" in whole
