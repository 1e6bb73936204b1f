"""``discover --json``: the design's JSON report, schema ``reusecheck/1``, with the
``server`` block filled in by measurement and a ``discover`` section holding each
measurement's samples (docs/discover.md).

The ``server`` and ``findings`` entries have the exact shape a probe's report gives
them; ``discover`` is an addition the schema allows.  Fields of ``server`` that were not
measured are ``null``.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from reusecheck.analysis.limits.model import (
    DiscoverReport,
    H2Result,
    IdleTimeoutResult,
    MaxRequestsResult,
    TlsResult,
)
from reusecheck.analysis.model import RunError, ServerFacts
from reusecheck.report.json import (
    SCHEMA,
    Document,
    error_block,
    finding_block,
    finite,
    server_block,
)
from reusecheck.trace.redact import redact_url


def _server(s: ServerFacts, report: DiscoverReport) -> Document:
    idle, count, h2 = report.idle_timeout, report.max_requests, report.h2
    window = None
    if idle is not None and idle.periodic and idle.min_s is not None and idle.max_s is not None:
        window = [finite(idle.min_s), finite(idle.max_s)]
    return {
        **server_block(s),
        # discover's additions: lower bounds where the limit was not reached, and TLS.
        "idle_timeout_at_least_s": finite(idle.at_least_s) if idle is not None else None,
        "max_requests_at_least": count.at_least if count is not None else None,
        "tls_resumption": report.tls_resumption,
        # A periodic closer's window [earliest, latest] (idle_timeout_s is its start).
        "idle_timeout_window_s": window,
        # How the server ended the counted connection (max_requests_per_conn's signal).
        "max_requests_signal": (
            count.signal if count is not None and s.max_requests_per_conn is not None else None
        ),
        # The HTTP/2 streams the server was seen working on at once (the largest wave).
        "h2_streams_at_once": h2.at_once if h2 is not None and h2.status == "measured" else None,
    }


def _plain(obj: Any) -> Any:
    """A result dataclass as JSON values: errors as {kind, message}, tuples as lists,
    NaN and infinities as null (JSON has neither)."""
    if isinstance(obj, RunError):
        return error_block(obj)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: _plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, list | tuple):
        return [_plain(v) for v in obj]
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, float):
        return finite(obj)
    return obj


def _result(r: IdleTimeoutResult | MaxRequestsResult | H2Result | TlsResult | None) -> Any:
    """A measurement's result as is (its field names are the JSON names), or null when it
    was not chosen.  HTTP/2 settings never sent by the server are null (RFC defaults)."""
    return None if r is None else _plain(r)


def to_document(report: DiscoverReport, *, reveal: bool = False) -> Document:
    return {
        "schema": SCHEMA,
        "command": "discover",
        "target": redact_url(report.target, reveal),
        "protocol": report.protocol,
        "server": _server(report.server, report),
        "findings": [finding_block(f) for f in report.findings],
        "discover": {
            "idle_timeout": _result(report.idle_timeout),
            "max_requests": _result(report.max_requests),
            "h2": _result(report.h2),
            "tls": _result(report.tls),
        },
        "summary": {"duration_s": finite(report.duration_s)},
        "error": error_block(report.error),
        "options": _plain(dict(report.options)),
    }


def dumps(report: DiscoverReport, *, reveal: bool = False, indent: int | None = 2) -> str:
    doc = to_document(report, reveal=reveal)
    return json.dumps(doc, indent=indent, ensure_ascii=False, allow_nan=False)
