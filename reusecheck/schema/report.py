"""The JSON report's schema: exactly what ``report/json.py`` writes (``to_document``)."""

from __future__ import annotations

from reusecheck.analysis.findings.catalogue import KNOWN_CODES, SEVERITIES
from reusecheck.schema.blocks import (
    BOOL,
    COUNT,
    DRAFT,
    REPORT_ID,
    REUSE_LEVELS,
    SECONDS,
    STRING,
    Schema,
    array,
    enum,
    error,
    null,
    obj,
    ref,
)
from reusecheck.trace.vocab import (
    CLOSE_REASONS,
    CLOSED_BY,
    DIAL_REASONS,
    NOT_RETRIED_REASONS,
    PROTOCOLS,
    RETRY_REASONS,
)


def _report_defs(strict: bool) -> dict[str, Schema]:
    o = strict
    hint = obj(o, {"timeout_s": null({"type": "number"}), "max": null({"type": "integer"})})
    # proxy: the dial's proxy hop (TLS to an https:// proxy, the CONNECT)
    phases = ("dns", "connect", "tls", "wait", "total", "proxy")
    timings = obj(o, {k: null(SECONDS) for k in phases})
    request = obj(
        o,
        {
            "index": COUNT,
            "phase": null(STRING),
            "method": null(STRING),
            "url": null(STRING),
            "status": null({"type": "integer"}),
            "protocol": null(enum(PROTOCOLS)),
            "conn_id": null({"type": "integer"}),
            "stream_id": null({"type": "integer"}),
            "reused": BOOL,
            "was_idle": BOOL,
            "idle_time_s": SECONDS,
            "retried": BOOL,
            "timings_s": ref("timings"),
            "response_connection": null(STRING),
            "keep_alive": null(ref("keep_alive_hint")),
            "error": null(ref("error")),
            "http_version": null(STRING),
            "started_at_s": SECONDS,
            "ended_at_s": null(SECONDS),
            "got_conn_at_s": null(SECONDS),
            "released_at_s": null(SECONDS),
            # an error response's first words, redacted (status 400 and up)
            "body_head": null(STRING),
            # why a failure Go retries (a stale reused connection) was not retried
            "not_retried": null(enum(NOT_RETRIED_REASONS)),
            # -L: the request whose redirect this one follows
            "redirected_from": null(COUNT),
        },
    )
    tls = obj(
        o,
        {
            "version": null(STRING),
            "cipher": null(STRING),
            "alpn": null(STRING),
            "resumed": null(BOOL),
            "alpn_offered": array(STRING),
            # a client certificate was configured; the server asked for one (null: unknown)
            "client_cert": BOOL,
            "client_cert_requested": null(BOOL),
        },
    )
    goaway = obj(
        o,
        {
            "error_code": null(STRING),
            "last_stream_id": null({"type": "integer"}),
            "additional_data": null(STRING),
            "unprocessed": array(COUNT),
            "at_s": SECONDS,
        },
    )
    settings = (
        "max_concurrent_streams",
        "initial_window_size",
        "max_frame_size",
        "max_header_list_size",
        "header_table_size",
    )
    h2 = obj(o, {**{k: null(COUNT) for k in settings}, "goaway": null(ref("goaway"))})
    connection = obj(
        o,
        {
            "id": {"type": "integer", "minimum": 1},
            "protocol": null(enum(PROTOCOLS)),
            "local": null(STRING),
            "remote": null(STRING),
            "tls": null(ref("tls")),
            "requests": COUNT,
            "opened_at_s": SECONDS,
            "closed_at_s": null(SECONDS),
            "closed_by": null(enum(CLOSED_BY)),
            "close_reason": null(enum(CLOSE_REASONS)),
            "request_indexes": array(COUNT),
            "idle_time_at_close_s": null(SECONDS),
            "error": null(STRING),
            "peak_streams": COUNT,
            "h2": null(ref("h2")),
            # Why the pool dialled it (the connection budget), and what it replaced.
            "dial_reason": null(enum(DIAL_REASONS)),
            "retry_reason": null(enum(RETRY_REASONS)),
            "replaces": null(
                obj(
                    o,
                    {
                        "conn": COUNT,
                        # null while it was still open: pinned, or failed and retried
                        "reason": null(enum(CLOSE_REASONS)),
                        "requests": null(COUNT),
                        # server-idle-limit: how long the server keeps idle connections
                        "server_idle_s": null(SECONDS),
                    },
                )
            ),
            # Through a proxy: the proxy (password redacted; remote is its address) and
            # the host:port an https:// target's CONNECT tunnel reached.
            "proxy": null(STRING),
            "tunnel": null(STRING),
            # the addresses a dial tried without connecting, in order (Go's net.Dialer)
            "failed_attempts": array(obj(o, {"addr": STRING, "error": STRING})),
            # the proxy's status for the tunnel's CONNECT (2xx: opened), null without one
            "tunnel_status": null({"type": "integer"}),
        },
    )
    server = obj(
        o,
        {
            "keepalive": null(BOOL),
            "idle_timeout_s": null(SECONDS),
            "max_requests_per_conn": null(COUNT),
            "keepalive_hint": null(ref("keep_alive_hint")),
            "h2_max_concurrent_streams": null(COUNT),
            "software": null(STRING),
            "idle_timeout_hint_delta_s": null({"type": "number"}),
            "max_requests_hint_delta": null({"type": "integer"}),
            "h2_max_concurrent_streams_announced": array(COUNT),
            "max_requests_evidence": null(enum(("repeated", "announced", "once"))),
        },
    )
    finding = obj(
        o,
        {
            "code": enum(KNOWN_CODES),
            "severity": enum(SEVERITIES),
            "title": STRING,
            "message": STRING,
            "evidence": {"type": "object"},
            "remedy": STRING,
        },
    )
    summary = obj(
        o,
        {
            "requests": COUNT,
            "connections_opened": COUNT,
            "reused": COUNT,
            "reuse_ratio": {"type": "number", "minimum": 0, "maximum": 1},
            "peak_concurrency": COUNT,
            "retried": COUNT,
            "failed": COUNT,
            "duration_s": SECONDS,
            # connections_opened = needed + the sum of avoidable (every cause named).
            "budget": obj(
                o,
                {
                    "needed": COUNT,
                    "avoidable": {
                        "type": "object",
                        "propertyNames": enum(DIAL_REASONS),
                        "additionalProperties": COUNT,
                    },
                },
            ),
            # responses by status class: {"2xx": 12, "5xx": 2}
            "status_classes": {
                "type": "object",
                "propertyNames": {"pattern": "^[1-9]xx$"},
                "additionalProperties": COUNT,
            },
        },
    )
    # Names are free text: --expect names, and a scenario's checks ('step "warm": reused').
    expectation = obj(
        o, {"name": STRING, "ok": BOOL, "detail": STRING, "value": null({"type": "number"})}
    )
    verdict = obj(
        o,
        {
            "ok": BOOL,
            "reuse": enum(REUSE_LEVELS),
            "expectations": array(ref("expectation")),
            "detail": STRING,
            "redialled_connections": array(COUNT),
        },
    )
    return {
        "error": error(o),
        "keep_alive_hint": hint,
        "timings": timings,
        "request": request,
        "tls": tls,
        "goaway": goaway,
        "h2": h2,
        "connection": connection,
        "server": server,
        "finding": finding,
        "summary": summary,
        "expectation": expectation,
        "verdict": verdict,
    }


def report_schema(*, strict: bool = False) -> Schema:
    """The schema of one ``--json`` report (one line of JSON Lines with several targets)."""
    top = obj(
        strict,
        {
            # Only in `watch --json`'s last line, which tells it from the window records
            # before it; the report is otherwise the probe's (docs/watch.md).
            "type": {"const": "report"},
            "schema": {"const": "reusecheck/1"},
            "target": STRING,
            # the proxy the connections went through (password redacted), or null
            "proxy": null(STRING),
            "protocol": null(enum(PROTOCOLS)),
            "requests": array(ref("request")),
            "connections": array(ref("connection")),
            "server": ref("server"),
            "findings": array(ref("finding")),
            "summary": ref("summary"),
            "verdict": ref("verdict"),
            "error": null(ref("error")),
            "options": {"type": "object"},
        },
        optional=("type",),
    )
    return {
        "$schema": DRAFT,
        "$id": REPORT_ID,
        "title": "reusecheck JSON report, schema reusecheck/1",
        "description": "What `reusecheck probe --json` writes (docs/design.md).",
        **top,
        "$defs": _report_defs(strict),
    }
