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
from typing import Any, Final

from reusecheck.analysis.model import KeepAliveHint, RunError, ServerFacts
from reusecheck.discover.model import (
    DiscoverReport,
    H2Result,
    IdleTimeoutResult,
    MaxRequestsResult,
    TlsResult,
)
from reusecheck.findings import Finding
from reusecheck.trace.redact import redact_url

SCHEMA: Final = "reusecheck/1"
Document = dict[str, Any]


def _error(e: RunError | None) -> dict[str, str] | None:
    return None if e is None else {"kind": e.kind, "message": e.message}


def _hint(h: KeepAliveHint | None) -> dict[str, Any] | None:
    return None if h is None else {"timeout_s": h.timeout_s, "max": h.max}


def _server(s: ServerFacts, report: DiscoverReport) -> Document:
    idle, count = report.idle_timeout, report.max_requests
    return {
        "keepalive": s.keepalive,
        "idle_timeout_s": s.idle_timeout_s,
        "max_requests_per_conn": s.max_requests_per_conn,
        "keepalive_hint": _hint(s.keepalive_hint),
        "h2_max_concurrent_streams": s.h2_max_concurrent_streams,
        "software": s.software,
        "idle_timeout_hint_delta_s": s.idle_timeout_hint_delta_s,
        "max_requests_hint_delta": s.max_requests_hint_delta,
        "h2_max_concurrent_streams_announced": list(s.h2_max_concurrent_streams_announced),
        # discover's additions: lower bounds where the limit was not reached, and TLS.
        "idle_timeout_at_least_s": idle.at_least_s if idle is not None else None,
        "max_requests_at_least": count.at_least if count is not None else None,
        "tls_resumption": report.tls_resumption,
    }


def _finding(f: Finding) -> Document:
    return {
        "code": f.code,
        "severity": f.severity,
        "title": f.title,
        "message": f.message,
        "evidence": json.loads(json.dumps(dict(f.evidence), default=str)),
        "remedy": f.remedy,
    }


def _plain(obj: Any) -> Any:
    """A result dataclass as JSON values: errors as {kind, message}, tuples as lists."""
    if isinstance(obj, RunError):
        return _error(obj)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: _plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, list | tuple):
        return [_plain(v) for v in obj]
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
        "findings": [_finding(f) for f in report.findings],
        "discover": {
            "idle_timeout": _result(report.idle_timeout),
            "max_requests": _result(report.max_requests),
            "h2": _result(report.h2),
            "tls": _result(report.tls),
        },
        "summary": {"duration_s": report.duration_s},
        "error": _error(report.error),
        "options": dict(report.options),
    }


def dumps(report: DiscoverReport, *, reveal: bool = False, indent: int | None = 2) -> str:
    return json.dumps(to_document(report, reveal=reveal), indent=indent, ensure_ascii=False)
