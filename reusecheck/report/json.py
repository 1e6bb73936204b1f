"""The JSON report, schema ``reusecheck/1`` (docs/design.md, "JSON report").

Field names are a contract: never rename one or change its meaning without bumping
``SCHEMA``; new fields may be added.  Times are seconds, rounded to microseconds.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import replace
from typing import Any, Final

from reusecheck.analysis.findings.catalogue import Finding
from reusecheck.analysis.model import (
    Analysis,
    ConnectionRow,
    Dial,
    GoAway,
    H2Connection,
    KeepAliveHint,
    RequestRow,
    RunError,
    ServerFacts,
    Timings,
)
from reusecheck.report import jsonfast
from reusecheck.report.rowjson import request_fragment
from reusecheck.trace.redact import redact_url

SCHEMA: Final = "reusecheck/1"

Document = dict[str, Any]


def _t(value: float | None) -> float | None:
    """Seconds to the microsecond; null for anything not finite (JSON has no inf/NaN)."""
    return None if value is None or not math.isfinite(value) else round(value, 6)


def finite(value: float | None) -> float | None:
    """A measured number as JSON can hold it: NaN and infinities become null."""
    return value if value is None or math.isfinite(value) else None


def error_block(e: RunError | None) -> dict[str, str] | None:
    return None if e is None else {"kind": e.kind, "message": e.message}


def _hint(h: KeepAliveHint | None) -> dict[str, Any] | None:
    return None if h is None else {"timeout_s": finite(h.timeout_s), "max": h.max}


def _timings(t: Timings) -> dict[str, float | None]:
    return {
        "dns": _t(t.dns),
        "connect": _t(t.connect),
        "tls": _t(t.tls),
        "wait": _t(t.wait),
        "total": _t(t.total),
        "proxy": _t(t.proxy),
    }


def _request(r: RequestRow, reveal: bool) -> Document:
    return {
        "index": r.index,
        "phase": r.phase,
        "method": r.method,
        "url": redact_url(r.url, reveal) if r.url is not None else None,
        "status": r.status,
        "protocol": r.protocol,
        "conn_id": r.conn_id,
        "stream_id": r.stream_id,
        "reused": r.reused,
        "was_idle": r.was_idle,
        "idle_time_s": _t(r.idle_time_s),
        "retried": r.retried,
        "timings_s": _timings(r.timings_s),
        "response_connection": r.response_connection,
        "keep_alive": _hint(r.keep_alive),
        "error": error_block(r.error),
        "http_version": r.http_version,
        "started_at_s": _t(r.started_at_s),
        "ended_at_s": _t(r.ended_at_s),
        "got_conn_at_s": _t(r.got_conn_at_s),
        "released_at_s": _t(r.released_at_s),
        "body_head": r.body_head,
        "not_retried": r.not_retried,
        "redirected_from": r.redirected_from,
    }


def _goaway(g: GoAway | None) -> Document | None:
    if g is None:
        return None
    return {
        "error_code": g.error_code,
        "last_stream_id": g.last_stream_id,
        "additional_data": g.additional_data,
        "unprocessed": list(g.unprocessed),
        "at_s": _t(g.at_s),
    }


def _h2(h: H2Connection | None) -> Document | None:
    """The server's SETTINGS on this connection, flat, and its GOAWAY or null."""
    if h is None:
        return None
    return {
        "max_concurrent_streams": h.max_concurrent_streams,
        "initial_window_size": h.initial_window_size,
        "max_frame_size": h.max_frame_size,
        "max_header_list_size": h.max_header_list_size,
        "header_table_size": h.header_table_size,
        "goaway": _goaway(h.goaway),
    }


def _replaces(d: Dial | None) -> Document | None:
    if d is None or d.replaces is None:
        return None
    return {
        "conn": d.replaces,
        "reason": d.replaced_reason,
        "requests": d.replaced_requests,
        "server_idle_s": d.server_idle_s,
    }


def _connection(c: ConnectionRow, raw: bool = False) -> Document:
    tls = None
    if c.tls is not None:
        tls = {
            "version": c.tls.version,
            "cipher": c.tls.cipher,
            "alpn": c.tls.alpn,
            "resumed": c.tls.resumed,
            "alpn_offered": list(c.tls.alpn_offered),
            "client_cert": c.tls.client_cert,
            "client_cert_requested": c.tls.client_cert_requested,
        }
    return {
        "id": c.id,
        "protocol": c.protocol,
        "local": c.local,
        "remote": c.remote,
        "tls": tls,
        "requests": c.requests,
        "opened_at_s": _t(c.opened_at_s),
        "closed_at_s": _t(c.closed_at_s),
        "closed_by": c.closed_by,
        "close_reason": c.close_reason,
        # ``raw``: as kept (an array), for the encoder that writes it without a list
        "request_indexes": c.request_indexes if raw else list(c.request_indexes),
        "idle_time_at_close_s": _t(c.idle_time_at_close_s),
        "error": c.error,
        "peak_streams": c.peak_streams,
        "h2": _h2(c.h2),
        "dial_reason": c.dial.reason if c.dial is not None else None,
        "retry_reason": c.dial.retry_reason if c.dial is not None else None,
        "replaces": _replaces(c.dial),
        "proxy": c.proxy,
        "tunnel": c.tunnel,
        "failed_attempts": [{"addr": f.addr, "error": f.error} for f in c.failed_attempts],
        "tunnel_status": c.tunnel_status,
    }


def server_block(s: ServerFacts) -> Document:
    return {
        "keepalive": s.keepalive,
        "idle_timeout_s": finite(s.idle_timeout_s),
        "max_requests_per_conn": s.max_requests_per_conn,
        "keepalive_hint": _hint(s.keepalive_hint),
        "h2_max_concurrent_streams": s.h2_max_concurrent_streams,
        "software": s.software,
        "idle_timeout_hint_delta_s": finite(s.idle_timeout_hint_delta_s),
        "max_requests_hint_delta": s.max_requests_hint_delta,
        "h2_max_concurrent_streams_announced": list(s.h2_max_concurrent_streams_announced),
        "max_requests_evidence": s.max_requests_evidence,
    }


def finding_block(f: Finding) -> Document:
    return {
        "code": f.code,
        "severity": f.severity,
        "title": f.title,
        "message": f.message,
        "evidence": _plain(f.evidence),
        "remedy": f.remedy,
    }


def _plain(value: Any) -> Any:
    """JSON-safe copy: mappings and sequences as dicts and lists, anything odd as text."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return round(value, 6) if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(v) for v in value]
    return str(value)


def to_document(analysis: Analysis, *, reveal: bool = False, raw: bool = False) -> Document:
    """The schema-1 document; ``reveal`` keeps secrets in URLs (``--reveal`` style);
    ``raw``: a connection's request indexes as kept (``jsonfast`` writes arrays)."""
    a = analysis
    s, v = a.summary, a.verdict
    return {
        "schema": SCHEMA,
        "target": redact_url(a.target, reveal),
        "protocol": a.protocol,
        "proxy": a.proxy,
        "requests": [_request(r, reveal) for r in a.requests],
        "connections": [_connection(c, raw) for c in a.connections],
        "server": server_block(a.server),
        "findings": [finding_block(f) for f in a.findings],
        "summary": {
            "requests": s.requests,
            "connections_opened": s.connections_opened,
            "reused": s.reused,
            "reuse_ratio": finite(s.reuse_ratio),
            "peak_concurrency": s.peak_concurrency,
            "retried": s.retried,
            "failed": s.failed,
            "duration_s": _t(s.duration_s),
            "budget": {"needed": s.budget.needed, "avoidable": dict(s.budget.avoidable)},
            "status_classes": dict(s.status_classes),
        },
        "verdict": {
            "ok": v.ok,
            "reuse": v.reuse,
            "expectations": [
                {"name": e.name, "ok": e.ok, "detail": e.detail, "value": finite(e.value)}
                for e in v.expectations
            ],
            "detail": v.detail,
            "redialled_connections": list(v.redialled_connections),
        },
        "error": error_block(a.error),
        "options": _plain(a.options),
    }


def document_chunks(
    analysis: Analysis,
    *,
    reveal: bool = False,
    ensure_ascii: bool = True,
    fragments: Iterable[str] | None = None,
) -> Iterator[str]:
    """The indented document in pieces (a key, a request row, a connection at a time):
    joined, it is ``json.dumps(to_document(analysis), indent=2)`` byte for byte.

    ``fragments``: the rows' texts when the run wrote them as they finished (a spill
    of ``rowjson.request_fragment`` texts, in index order); else encoded here.
    """
    doc = to_document(replace(analysis, requests=()), reveal=reveal, raw=True)
    if fragments is None:
        fragments = (
            request_fragment(r, reveal=reveal, ensure_ascii=ensure_ascii) for r in analysis.requests
        )
    yield "{"
    lead = "\n  "
    for name, value in doc.items():
        yield lead + jsonfast.key(name, ensure_ascii=ensure_ascii) + ": "
        lead = ",\n  "
        if name == "requests":
            yield from _items(fragments)
        elif name == "connections":
            first = True
            for c in value:
                yield "[\n    " if first else ",\n    "
                first = False
                yield from jsonfast.chunks(c, 2, ensure_ascii=ensure_ascii)
            yield "[]" if first else "\n  ]"
        else:
            yield jsonfast.encode(value, 1, ensure_ascii=ensure_ascii)
    yield "\n}"


def _items(texts: Iterable[str]) -> Iterator[str]:
    """A top-level array of already encoded items, as ``json.dumps(indent=2)`` lays it."""
    first = True
    for text in texts:
        yield ("[\n    " if first else ",\n    ") + text
        first = False
    yield "[]" if first else "\n  ]"


def dumps(analysis: Analysis, *, reveal: bool = False, indent: int | None = 2) -> str:
    """The document as one JSON text (no trailing newline).

    ``allow_nan=False``: every float above is made finite or null, and a number that
    slipped through would be refused here rather than printed as ``NaN``/``Infinity``,
    which no JSON parser but Python's accepts.
    """
    if indent == 2:
        return "".join(document_chunks(analysis, reveal=reveal, ensure_ascii=False))
    doc = to_document(analysis, reveal=reveal)
    return json.dumps(doc, indent=indent, ensure_ascii=False, allow_nan=False)
