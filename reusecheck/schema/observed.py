"""JSON Schema of ``reusecheck observe --json`` (schema 1, ``"command": "observe"``) and
of its ``client_*`` event lines.  The finding codes come from the catalogue; the
upstream leg's block is the probe report's summary, server facts and findings, brief."""

from __future__ import annotations

from typing import Final

from reusecheck.analysis.findings.catalogue import KNOWN_CODES, SEVERITIES
from reusecheck.analysis.observed.model import SERVER_CLOSE_REASONS
from reusecheck.schema.blocks import (
    BOOL,
    COUNT,
    DRAFT,
    REUSE_LEVELS,
    SECONDS,
    STRING,
    Schema,
    array,
    enum,
    null,
    obj,
)

OBSERVE_ID: Final = "urn:reusecheck:schema:observe:1"
CLIENT_CLOSE_REASONS: Final = ("eof", "reset", "goaway")
CLOSE_REASONS: Final = (*SERVER_CLOSE_REASONS, *CLIENT_CLOSE_REASONS)
OBSERVE_EVENTS: Final = (
    "client_conn_open",
    "client_request",
    "client_response",
    "client_conn_closed",
)
NUMBER: Final[Schema] = {"type": "number"}
OPEN_OBJECT: Final[Schema] = {"type": "object"}


def _finding(strict: bool) -> Schema:
    return obj(
        strict,
        {
            "code": enum(KNOWN_CODES),
            "severity": enum(SEVERITIES),
            "title": STRING,
            "message": STRING,
            "remedy": STRING,
            "evidence": OPEN_OBJECT,
        },
    )


def _connection(strict: bool) -> Schema:
    return obj(
        strict,
        {
            "id": COUNT,
            "remote": STRING,
            "local": STRING,
            "client": obj(strict, {"ip": STRING, "user_agent": null(STRING)}),
            "protocol": enum(("http/1.1", "h2")),
            "tls": null(obj(strict, {"alpn": null(STRING)})),
            "opened_s": SECONDS,
            "closed_s": null(SECONDS),
            "closed_by": null(enum(("client", "server"))),
            "close_kind": null(enum(("fin", "rst"))),
            "close_reason": null(enum(CLOSE_REASONS)),
            "requests": COUNT,
            "peak_streams": COUNT,
            "max_concurrent_streams": null(COUNT),
            "idle_gaps_s": array(SECONDS),
            "idle_gaps": COUNT,
            "longest_idle_gap_s": null(SECONDS),
            "idle_at_close_s": null(SECONDS),
            "unread_response_bytes": null(COUNT),
            "closed_while_sending": BOOL,
            "streams_reset": COUNT,
        },
    )


def _client(strict: bool) -> Schema:
    return obj(
        strict,
        {
            "ip": STRING,
            "user_agent": null(STRING),
            "requests": COUNT,
            "connections": COUNT,
            "conn_ids": array(COUNT),
            "reused": COUNT,
            "reuse_ratio": NUMBER,
            "peak_concurrency": COUNT,
            "minimum_connections": COUNT,
            # over the connections that carried a request; unused ones are counted apart
            "requests_per_connection": NUMBER,
            "unused_connections": COUNT,
            "max_requests_per_connection": COUNT,
            "protocols": array(STRING),
            "findings": array(_finding(strict)),
        },
    )


def _upstream(strict: bool) -> Schema:
    return obj(
        strict,
        {
            "url": STRING,
            "protocol": null(STRING),
            "summary": obj(
                strict,
                {
                    "requests": COUNT,
                    "connections_opened": COUNT,
                    "reused": COUNT,
                    "reuse_ratio": NUMBER,
                    "peak_concurrency": COUNT,
                    "failed": COUNT,
                    "retried": COUNT,
                },
            ),
            "server": obj(
                strict,
                {
                    "keepalive": null(BOOL),
                    "idle_timeout_s": null(SECONDS),
                    "max_requests_per_conn": null(COUNT),
                    "keepalive_hint": null(OPEN_OBJECT),
                },
            ),
            "findings": array(OPEN_OBJECT),
            "verdict": obj(strict, {"reuse": enum(REUSE_LEVELS), "detail": STRING}),
        },
    )


def observe_schema(*, strict: bool = False) -> Schema:
    """The observe report."""
    summary = obj(
        strict,
        {
            name: COUNT
            for name in (
                "requests",
                "connections_opened",
                "reused",
                "peak_concurrency",
                "minimum_connections",
                "clients",
                "closed_by_client",
                "closed_by_server",
                "reset_by_client",
                "requests_not_kept",
            )
        }
        | {"reuse_ratio": NUMBER, "duration_s": SECONDS},
    )
    return {
        "$schema": DRAFT,
        "$id": OBSERVE_ID,
        "title": "reusecheck observe report, schema reusecheck/1",
        **obj(
            strict,
            {
                "schema": {"const": "reusecheck/1"},
                "command": {"const": "observe"},
                "listen": STRING,
                "mode": enum(("built-in", "upstream")),
                "stopped_by": null(enum(("signal", "duration", "requests"))),
                "options": OPEN_OBJECT,
                "server": obj(
                    strict,
                    {
                        "idle_timeout_s": null(SECONDS),
                        "idle_timeout_source": null(STRING),
                        "h2_offered": BOOL,
                        "max_concurrent_streams": COUNT,
                    },
                ),
                "summary": summary,
                "connections": array(_connection(strict)),
                "findings": array(_finding(strict)),
                "clients": array(_client(strict)),
                "upstream": null(_upstream(strict)),
                "verdict": obj(
                    strict,
                    {
                        "ok": BOOL,
                        "reuse": enum(REUSE_LEVELS),
                        "detail": STRING,
                        "expectations": array(
                            obj(strict, {"name": enum(("reuse",)), "ok": BOOL, "detail": STRING})
                        ),
                    },
                ),
            },
        ),
    }


def observe_event_schema() -> Schema:
    """A ``client_*`` line of observe's ``--events`` (the upstream leg's lines are
    ``$defs.event``): its fields are open, the envelope fixed."""
    return {
        "$schema": DRAFT,
        "type": "object",
        "properties": {
            "t": SECONDS,
            "event": enum(OBSERVE_EVENTS),
            "request": null(COUNT),
            "conn": {"type": "null"},
            "client_conn": COUNT,
        },
        "required": ["t", "event", "request", "conn", "client_conn"],
    }
