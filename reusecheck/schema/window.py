"""The schema of a ``watch`` window record: exactly what ``report/window.py`` writes
(``to_document``), one JSON Lines object per window (docs/watch.md)."""

from __future__ import annotations

from reusecheck.analysis.findings.catalogue import KNOWN_CODES, SEVERITIES
from reusecheck.schema.blocks import (
    COUNT,
    DRAFT,
    REUSE_LEVELS,
    SECONDS,
    STRING,
    Schema,
    array,
    enum,
    error,
    null,
    obj,
)
from reusecheck.trace.vocab import CLOSE_REASONS, CLOSED_BY, DIAL_REASONS, ERROR_KINDS

WINDOW_ID = "urn:reusecheck:schema:window:1"


def _counts(names: Schema) -> Schema:
    """An object of counts keyed by a vocabulary's words."""
    return {"type": "object", "propertyNames": names, "additionalProperties": COUNT}


def window_schema(*, strict: bool = False) -> Schema:
    """One window record; ``strict`` refuses fields it does not name (the tests)."""
    o = strict
    closes = "|".join(CLOSE_REASONS)
    finding = obj(o, {"code": enum(KNOWN_CODES), "severity": enum(SEVERITIES), "message": STRING})
    top = obj(
        o,
        {
            "type": {"const": "window"},
            "schema": {"const": "reusecheck/1"},
            "target": STRING,
            "window": {"type": "integer", "minimum": 1},
            # seconds since the run started, the clock of the --events stream
            "start_s": SECONDS,
            "end_s": SECONDS,
            "requests": COUNT,
            "reused": COUNT,
            "reuse_ratio": {"type": "number", "minimum": 0, "maximum": 1},
            # dialled in this window: connections_opened = needed + the sum of avoidable
            "connections_opened": COUNT,
            "budget": obj(o, {"needed": COUNT, "avoidable": _counts(enum(DIAL_REASONS))}),
            # connections closed in this window, keyed "<closed_by>/<close_reason>"
            "closed": _counts({"pattern": f"^({'|'.join(CLOSED_BY)})/({closes})$"}),
            "retried": COUNT,
            "failed": COUNT,
            "errors": _counts(enum(ERROR_KINDS)),
            "status_classes": _counts({"pattern": "^[1-9]xx$"}),
            "peak_concurrency": COUNT,
            "reuse": enum(REUSE_LEVELS),
            # the findings first seen in the run in this window
            "findings": array(finding),
            # every finding this window could judge, new or not
            "finding_codes": array(enum(KNOWN_CODES)),
            "error": null(error(o)),
        },
    )
    return {
        "$schema": DRAFT,
        "$id": WINDOW_ID,
        "title": "reusecheck watch window record, schema reusecheck/1",
        "description": "One line of `reusecheck watch --json` per window (docs/watch.md).",
        **top,
    }
