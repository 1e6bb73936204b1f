"""An event line's schema: the NDJSON writer's output, one rule per event name."""

from __future__ import annotations

from typing import Final

from reusecheck.schema.blocks import (
    BOOL,
    COUNT,
    DRAFT,
    EVENT_ID,
    SECONDS,
    STRING,
    Schema,
    array,
    enum,
    error,
    null,
    ref,
)
from reusecheck.trace import EVENT_NAMES
from reusecheck.trace.vocab import (
    CLOSE_REASONS,
    CLOSED_BY,
    DIAL_REASONS,
    IDLE_CLOSE_REASONS,
    NOT_RETRIED_REASONS,
    PROTOCOLS,
    RETRY_REASONS,
)

# What ``request`` and ``conn`` hold for each event (docs/design.md, "Event fields"):
# "index" an integer, "null" always null, "either" an integer or null.
INT, NULL, EITHER = "index", "null", "either"
_SIDES: Final[dict[str, Schema]] = {
    INT: {"type": "integer", "minimum": 0},
    NULL: {"type": "null"},
    EITHER: {"type": ["integer", "null"], "minimum": 0},
}
_HEADERS: Final[Schema] = array(
    {"type": "array", "prefixItems": [STRING, STRING], "minItems": 2, "maxItems": 2}
)
_ERROR_TEXT: Final[Schema] = STRING
_SETTING: Final[Schema] = null(COUNT)

# event -> (request, conn, {field: schema}, fields that may be absent)
EventSpec = tuple[str, str, dict[str, Schema], tuple[str, ...]]


def _event_specs() -> dict[str, EventSpec]:
    return {
        "get_conn": (INT, NULL, {"key": STRING, "method": STRING, "url": STRING}, ()),
        # pinned: the addresses came from --resolve, not DNS
        "dns_start": (INT, NULL, {"host": STRING, "pinned": BOOL}, ("pinned",)),
        "dns_done": (INT, NULL, {"addrs": array(STRING), "error": _ERROR_TEXT}, ("error",)),
        # The first connect_start of a dial says why the pool dialled (the budget).
        "connect_start": (
            INT,
            INT,
            {
                "addr": STRING,
                "dial_reason": enum(DIAL_REASONS),
                "retry_reason": enum(RETRY_REASONS),
                "replaces": COUNT,
                "replaced_reason": enum(CLOSE_REASONS),
                "replaced_requests": COUNT,
                "server_idle_s": SECONDS,
                # the proxy dialled (password redacted): addr is the proxy's
                "proxy": STRING,
                # Happy Eyeballs: an attempt of the other address family, raced
                "fallback": BOOL,
            },
            (
                "dial_reason",
                "retry_reason",
                "replaces",
                "replaced_reason",
                "replaced_requests",
                "server_idle_s",
                "proxy",
                "fallback",
            ),
        ),
        "connect_done": (
            INT,
            INT,
            {"local": null(STRING), "remote": null(STRING), "error": _ERROR_TEXT},
            ("error",),
        ),
        # session_offered: a TLS session from an earlier connection was offered to resume.
        "tls_start": (
            INT,
            INT,
            {
                "server_name": STRING,
                "alpn_offered": array(STRING),
                "session_offered": BOOL,
                # a client certificate is configured, to answer the server if it asks
                "client_cert": BOOL,
            },
            ("client_cert",),
        ),
        # A failed handshake carries only ``error``.
        "tls_done": (
            INT,
            INT,
            {
                "version": null(STRING),
                "cipher": null(STRING),
                "alpn": null(STRING),
                "resumed": null(BOOL),
                "error": _ERROR_TEXT,
                # the server sent a CertificateRequest (absent: not known)
                "client_cert_requested": BOOL,
            },
            ("version", "cipher", "alpn", "resumed", "error", "client_cert_requested"),
        ),
        "got_conn": (
            INT,
            INT,
            {
                "reused": BOOL,
                "was_idle": BOOL,
                "idle_time_s": SECONDS,
                "protocol": enum(PROTOCOLS),
            },
            (),
        ),
        "wrote_headers": (INT, INT, {"headers": _HEADERS, "stream_id": COUNT}, ("stream_id",)),
        # bytes: HTTP/1.1 the whole request as written (head and body), HTTP/2 the body.
        "wrote_request": (INT, INT, {"bytes": COUNT, "error": _ERROR_TEXT}, ("error",)),
        "got_first_byte": (INT, INT, {"stream_id": COUNT}, ("stream_id",)),
        "response_headers": (
            INT,
            INT,
            {
                "status": {"type": "integer"},
                "http_version": STRING,
                "connection": null(STRING),
                "keep_alive": null(STRING),
                "headers": _HEADERS,
                # Header pairs past the record's cap (trace.vocab.RECORD_HEADER_*),
                # present only when some were left out.
                "headers_omitted": {"type": "integer", "minimum": 1},
            },
            ("headers_omitted",),
        ),
        "body_done": (
            INT,
            INT,
            # body_head: an error response's first words (status 400 and up), redacted
            {"bytes": COUNT, "complete": BOOL, "error": _ERROR_TEXT, "body_head": STRING},
            ("error", "body_head"),
        ),
        # request null: a dial that lost the race to a released connection is put idle
        # (or handed to a waiting request) without a request of its own.
        "put_idle": (
            EITHER,
            INT,
            {
                "ok": BOOL,
                "reason": null(enum(CLOSE_REASONS)),
                "idle_conns": COUNT,
                "handed_off": BOOL,
                "streams_active": COUNT,
            },
            ("idle_conns", "handed_off", "streams_active"),
        ),
        "idle_closed": (
            NULL,
            INT,
            {
                "idle_time_s": SECONDS,
                "reason": enum(IDLE_CLOSE_REASONS),
                "closed_by": enum(CLOSED_BY),
                "server_said": STRING,
            },
            ("server_said",),
        ),
        "conn_closed": (
            EITHER,
            INT,
            {
                "closed_by": enum(CLOSED_BY),
                "reason": enum(CLOSE_REASONS),
                "requests": COUNT,
                "error": _ERROR_TEXT,
                "error_code": STRING,
                # reason unsolicited-response: the first line of what the server sent.
                "server_said": STRING,
                # HTTP/2: SETTINGS frames that changed nothing, counted, not recorded.
                "settings_repeated": {"type": "integer", "minimum": 1},
            },
            ("error", "error_code", "server_said", "settings_repeated"),
        ),
        "retry": (
            INT,
            INT,
            {
                "error": _ERROR_TEXT,
                "attempt": {"type": "integer", "minimum": 2},
                "reason": enum(RETRY_REASONS),
            },
            (),
        ),
        "h2_settings": (
            NULL,
            INT,
            {
                "max_concurrent_streams": _SETTING,
                "initial_window_size": _SETTING,
                "max_frame_size": _SETTING,
                "max_header_list_size": _SETTING,
                "header_table_size": _SETTING,
            },
            (),
        ),
        "h2_goaway": (
            NULL,
            INT,
            {
                "error_code": STRING,
                "last_stream_id": COUNT,
                "additional_data": null(STRING),
                "unprocessed": array(COUNT),
            },
            (),
        ),
        "request_done": (
            INT,
            EITHER,
            {
                "status": null({"type": "integer"}),
                "error": null(ref("error")),
                "retried": BOOL,
                "phase": null(STRING),
                # a failure Go retries (a stale reused connection), not retried: why
                "not_retried": enum(NOT_RETRIED_REASONS),
                # -L: the request whose redirect this one follows
                "redirected_from": COUNT,
            },
            ("not_retried", "redirected_from"),
        ),
        # A scenario's [pool] step: every later request goes through a fresh pool.
        "pool_start": (NULL, NULL, {"step": STRING}, ()),
        # TLS to an https:// proxy, verified against the proxy's name.
        "proxy_tls_start": (INT, INT, {"server_name": STRING, "alpn_offered": array(STRING)}, ()),
        "proxy_tls_done": (
            INT,
            INT,
            {
                "version": null(STRING),
                "cipher": null(STRING),
                "alpn": null(STRING),
                "resumed": null(BOOL),
                "error": _ERROR_TEXT,
            },
            ("version", "cipher", "alpn", "resumed", "error"),
        ),
        # An https:// target's CONNECT: the proxy (password redacted), the host:port
        # asked for and the request's headers (Proxy-Authorization redacted on output).
        "proxy_connect_start": (
            INT,
            INT,
            {"proxy": STRING, "target": STRING, "headers": _HEADERS},
            (),
        ),
        # The proxy's answer; a refusal (not 2xx) carries error too.
        "proxy_connect_done": (
            INT,
            INT,
            {
                "status": null({"type": "integer"}),
                "reason": null(STRING),
                "headers": _HEADERS,
                "error": _ERROR_TEXT,
            },
            ("error",),
        ),
    }


def _event_rule(name: str, spec: EventSpec) -> Schema:
    request, conn, fields, optional = spec
    return {
        "if": {"properties": {"event": {"const": name}}, "required": ["event"]},
        "then": {
            "properties": {"request": _SIDES[request], "conn": _SIDES[conn], **fields},
            "required": [f for f in fields if f not in optional],
        },
    }


def event_schema(*, strict: bool = False) -> Schema:
    """The schema of one ``--events`` line: fixed keys, then the event's own fields."""
    specs = _event_specs()
    missing = set(EVENT_NAMES) - set(specs)
    if missing:  # trace.EVENT_NAMES grew: the new event needs its fields declared here
        raise AssertionError(f"event fields not declared for {sorted(missing)}")
    schema: Schema = {
        "$schema": DRAFT,
        "$id": EVENT_ID,
        "title": "reusecheck event line (NDJSON), schema reusecheck/1",
        "description": "One line of `reusecheck probe --events FILE` (docs/design.md).",
        "type": "object",
        "properties": {
            "t": {**SECONDS, "description": "seconds since the run started (one clock)"},
            "event": enum(EVENT_NAMES),
            "request": _SIDES[EITHER],
            "conn": _SIDES[EITHER],
        },
        "required": ["t", "event", "request", "conn"],
        "allOf": [_event_rule(name, specs[name]) for name in EVENT_NAMES],
        "$defs": {"error": error(strict)},
    }
    if strict:
        # Fields named in the matching event's ``then`` count as evaluated.
        schema["unevaluatedProperties"] = False
    return schema
