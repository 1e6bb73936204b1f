"""JSON Schema (draft 2020-12) of the JSON report and of an NDJSON event line.

``reusecheck schema`` prints ``schema_document()``; the tests validate every report and
every event line they produce against it, so the contract in docs/design.md ("JSON
report (contract, schema 1)" and "Event fields") is enforced, not only described.
``window`` is the record ``reusecheck watch`` writes per window (docs/watch.md).

The vocabularies come from where the code declares them (``trace.EVENT_NAMES``,
``findings.KNOWN_CODES`` and ``SEVERITIES``, ``trace.vocab``), so a new
event name or finding code reaches the schema without an edit here.  The close-reason
vocabularies have no declaration of their own in the code yet: they are the design
doc's lists, declared in ``blocks``.  ``report`` and ``events`` hold the two schemas.

Two strengths, one shape.  The published schema (``strict=False``) lets every object
carry fields it does not name, because schema 1 may gain fields ("add fields freely")
and a consumer's validation must not break when it does.  ``strict=True`` (the tests)
refuses unnamed fields, so a field added to the report or to an event without being
added here fails a test instead of going undocumented.  Every field the code emits
today is required, additions included: once emitted, a field is part of schema 1.
"""

from __future__ import annotations

from reusecheck.schema.blocks import (
    DOCUMENT_ID,
    DRAFT,
    EVENT_ID,
    REPORT_ID,
    REUSE_LEVELS,
    Schema,
)
from reusecheck.schema.events import event_schema
from reusecheck.schema.observed import observe_event_schema, observe_schema
from reusecheck.schema.report import report_schema
from reusecheck.schema.window import WINDOW_ID, window_schema
from reusecheck.trace.vocab import (
    CLOSE_REASONS,
    CLOSED_BY,
    IDLE_CLOSE_REASONS,
    PROTOCOLS,
    RETRY_REASONS,
)

__all__ = [
    "CLOSED_BY",
    "CLOSE_REASONS",
    "DOCUMENT_ID",
    "DRAFT",
    "EVENT_ID",
    "IDLE_CLOSE_REASONS",
    "PROTOCOLS",
    "REPORT_ID",
    "RETRY_REASONS",
    "REUSE_LEVELS",
    "WINDOW_ID",
    "Schema",
    "event_schema",
    "observe_event_schema",
    "observe_schema",
    "report_schema",
    "schema_document",
    "window_schema",
]


def schema_document(*, strict: bool = False) -> Schema:
    """The schemas under ``$defs`` (``report``, ``event``, ``window``): what
    ``reusecheck schema`` prints.  Validate a report against ``$defs.report``, an event
    line against ``$defs.event``, a ``watch`` window record against ``$defs.window``;
    each is a complete schema with its own ``$id``."""
    return {
        "$schema": DRAFT,
        "$id": DOCUMENT_ID,
        "title": "reusecheck JSON report, event stream and watch windows, schema reusecheck/1",
        "$defs": {
            "report": report_schema(strict=strict),
            "event": event_schema(strict=strict),
            "window": window_schema(strict=strict),
            "observe": observe_schema(strict=strict),
            "observe_event": observe_event_schema(),
        },
    }
