"""HAR 1.2 export: valid against the specification's structure, true to the trace.

HAR_SCHEMA below is the HAR 1.2 specification (softwareishard.com/blog/har-12-spec)
written as a JSON Schema: every required field with its type, ``-1`` allowed only where
the specification allows it.  Chromium's DevTools importer (front_end/models/har) reads
the same required fields and rejects an entry whose numbers are not numbers.
"""

from __future__ import annotations

import ipaddress
import json
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from reusecheck import __version__
from reusecheck.analysis import Analysis, Expectation, RunRecord, analyze
from reusecheck.report.har import dumps, to_har, to_har_runs
from reusecheck.server import ServerConfig, ServerThread
from reusecheck.trace import Event
from reusecheck.trace.redact import REDACTED
from tests.records import load
from tests.schema_check import ProbeRun, probe, to_events

T0 = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)

_STR = {"type": "string"}
_INT = {"type": "integer"}
_OPTIONAL_MS = {"type": "number", "minimum": -1}  # -1: does not apply
_MS = {"type": "number", "minimum": 0}
_PAIRS = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["name", "value"],
        "properties": {"name": _STR, "value": _STR, "comment": _STR},
    },
}
_DATETIME = {  # ISO 8601 with a zone, as the specification's examples
    "type": "string",
    "pattern": r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$",
}

HAR_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["log"],
    "properties": {"log": {"$ref": "#/$defs/log"}},
    "$defs": {
        "log": {
            "type": "object",
            "required": ["version", "creator", "entries"],
            "properties": {
                "version": {"const": "1.2"},
                "creator": {"$ref": "#/$defs/creator"},
                "browser": {"$ref": "#/$defs/creator"},
                "pages": {"type": "array", "items": {"$ref": "#/$defs/page"}},
                "entries": {"type": "array", "items": {"$ref": "#/$defs/entry"}},
                "comment": _STR,
            },
        },
        "creator": {
            "type": "object",
            "required": ["name", "version"],
            "properties": {"name": _STR, "version": _STR, "comment": _STR},
        },
        "page": {
            "type": "object",
            "required": ["startedDateTime", "id", "title", "pageTimings"],
            "properties": {
                "startedDateTime": _DATETIME,
                "id": _STR,
                "title": _STR,
                "pageTimings": {
                    "type": "object",
                    "properties": {"onContentLoad": _OPTIONAL_MS, "onLoad": _OPTIONAL_MS},
                },
                "comment": _STR,
            },
        },
        "entry": {
            "type": "object",
            "required": ["startedDateTime", "time", "request", "response", "cache", "timings"],
            "properties": {
                "pageref": _STR,
                "startedDateTime": _DATETIME,
                "time": _MS,
                "request": {"$ref": "#/$defs/request"},
                "response": {"$ref": "#/$defs/response"},
                "cache": {"type": "object"},
                "timings": {"$ref": "#/$defs/timings"},
                "serverIPAddress": _STR,
                "connection": _STR,
                "comment": _STR,
            },
            # Anything else must be a custom field: "_" + name (HAR 1.2, "Custom Fields").
            "patternProperties": {"^_": {}},
            "additionalProperties": False,
        },
        "request": {
            "type": "object",
            "required": [
                "method",
                "url",
                "httpVersion",
                "cookies",
                "headers",
                "queryString",
                "headersSize",
                "bodySize",
            ],
            "properties": {
                "method": _STR,
                "url": _STR,
                "httpVersion": _STR,
                "cookies": _PAIRS,
                "headers": _PAIRS,
                "queryString": _PAIRS,
                "headersSize": _INT,
                "bodySize": _INT,
                "comment": _STR,
            },
        },
        "response": {
            "type": "object",
            "required": [
                "status",
                "statusText",
                "httpVersion",
                "cookies",
                "headers",
                "content",
                "redirectURL",
                "headersSize",
                "bodySize",
            ],
            "properties": {
                "status": _INT,
                "statusText": _STR,
                "httpVersion": _STR,
                "cookies": _PAIRS,
                "headers": _PAIRS,
                "content": {
                    "type": "object",
                    "required": ["size", "mimeType"],
                    "properties": {"size": _INT, "mimeType": _STR, "text": _STR},
                },
                "redirectURL": _STR,
                "headersSize": _INT,
                "bodySize": _INT,
                "comment": _STR,
            },
        },
        "timings": {
            "type": "object",
            "required": ["send", "wait", "receive"],
            "properties": {
                "blocked": _OPTIONAL_MS,
                "dns": _OPTIONAL_MS,
                "connect": _OPTIONAL_MS,
                "ssl": _OPTIONAL_MS,
                "send": _MS,
                "wait": _MS,
                "receive": _MS,
                "comment": _STR,
            },
        },
    },
}


def check_har(har: dict[str, Any]) -> dict[str, Any]:
    """The schema, and the rules a schema cannot say."""
    errors = list(Draft202012Validator(HAR_SCHEMA).iter_errors(har))
    assert not errors, [f"{e.json_path}: {e.message}" for e in errors[:10]]
    log = har["log"]
    page_ids = {p["id"] for p in log.get("pages", [])}
    for e in log["entries"]:
        t = e["timings"]
        # time = the sum of the phases that apply; ssl is inside connect.
        phases = [t[k] for k in ("blocked", "dns", "connect", "send", "wait", "receive")]
        assert e["time"] == pytest.approx(sum(v for v in phases if v > 0), abs=0.01)
        if t["ssl"] >= 0:
            assert t["connect"] >= t["ssl"]
        if "serverIPAddress" in e:
            ipaddress.ip_address(e["serverIPAddress"])  # no port, no brackets
        assert e.get("pageref") in page_ids
    json.dumps(har, allow_nan=False)
    return har


def har_of(record: RunRecord, **kw: Any) -> dict[str, Any]:
    return check_har(to_har(analyze(record), record.events, started_at=T0, **kw))


# --- recorded runs (tests/records) -----------------------------------------------------------


def test_one_entry_per_request_with_the_reuse_story() -> None:
    record = load("healthy")
    har = har_of(record)
    log = har["log"]
    assert log["version"] == "1.2"
    assert log["creator"] == {"name": "reusecheck", "version": __version__}
    (page,) = log["pages"]
    assert page["title"] == record.target and page["startedDateTime"] == "2024-05-01T12:00:00.000Z"
    first, second, *rest = log["entries"]
    assert [e["_index"] for e in log["entries"]] == [0, 1, 2, 3, 4]
    assert {e["connection"] for e in log["entries"]} == {"1"}
    assert first["_reused"] is False and second["_reused"] is True and second["_wasIdle"]
    assert first["timings"]["connect"] > 0
    assert first["timings"]["dns"] == -1  # an IP literal: no lookup
    assert first["timings"]["ssl"] == -1  # no TLS
    for reused in (second, *rest):
        t = reused["timings"]
        assert (t["dns"], t["connect"], t["ssl"]) == (-1, -1, -1)
        assert t["blocked"] >= 0 and t["wait"] > 0
    assert first["request"]["httpVersion"] == "HTTP/1.1"
    assert first["response"]["httpVersion"] == "HTTP/1.1"
    assert first["response"]["status"] == 200 and first["response"]["statusText"] == "OK"
    assert first["response"]["content"] == {"size": 3, "mimeType": "text/plain; charset=utf-8"}
    assert first["serverIPAddress"] == "127.0.0.1"
    assert first["_phase"] == "sequential" and first["cache"] == {}


def test_a_name_lookup_is_the_dns_timing() -> None:
    entries = har_of(load("cross-host"))["log"]["entries"]
    other = next(e for e in entries if e["_phase"] == "origin-b")
    assert "localhost" in other["request"]["url"]
    assert other["timings"]["dns"] >= 0 and other["timings"]["connect"] > 0


def test_started_date_time_is_the_run_start_plus_the_event_time() -> None:
    record = load("idle-timeout")
    har = har_of(record)
    late = har["log"]["entries"][2]
    t = next(e.t for e in record.events if e.event == "get_conn" and e.request == 2)
    when = datetime.fromisoformat(late["startedDateTime"])
    assert abs(when - (T0 + timedelta(seconds=t))) <= timedelta(milliseconds=1)
    # Another zone or a naive (local) start names the same instant in UTC.
    east = to_har(
        analyze(record), record.events, started_at=T0.astimezone(timezone(timedelta(hours=5)))
    )
    assert east["log"]["entries"][2]["startedDateTime"] == late["startedDateTime"]
    naive = to_har(analyze(record), record.events, started_at=datetime.now())
    assert naive["log"]["entries"][0]["startedDateTime"].endswith("Z")


def test_h2_entries_use_chromiums_version_and_stream_ids() -> None:
    har = har_of(load("h2-burst"))
    entries = har["log"]["entries"]
    assert {e["request"]["httpVersion"] for e in entries} == {"http/2.0"}
    assert {e["response"]["httpVersion"] for e in entries} == {"http/2.0"}
    assert [e["_streamId"] for e in entries] == list(range(1, 16, 2))
    assert entries[0]["response"]["statusText"] == ""  # h2 has no reason phrase
    assert entries[0]["timings"]["ssl"] > 0


def test_a_retried_request_is_its_final_attempt_with_the_retry_told() -> None:
    entries = har_of(load("stale-retry"))["log"]["entries"]
    retried = entries[2]
    assert retried["_retried"] is True and retried["connection"] == "2"
    assert "attempt 1 on connection 1 failed (stale:" in retried["comment"]
    assert retried["timings"]["connect"] >= 0  # the retry dialled a new connection
    h2 = har_of(load("h2-goaway-retry"))["log"]["entries"][4]
    assert "(goaway:" in h2["comment"] and h2["_streamId"] == 1 and h2["connection"] == "2"


def test_a_failed_request_is_still_a_valid_entry() -> None:
    har = har_of(load("unreachable"))
    (entry,) = har["log"]["entries"]
    response = entry["response"]
    assert response["status"] == 0 and response["httpVersion"] == ""
    assert response["_error"].startswith("connect: connect to 127.0.0.1:")
    assert entry["comment"].startswith("failed: connect")
    assert entry["timings"]["connect"] >= 0 and entry["timings"]["send"] == 0
    assert entry["serverIPAddress"] == "127.0.0.1"
    assert "connect" in har["log"]["pages"][0]["comment"]


def test_secrets_are_redacted_unless_revealed() -> None:
    record = load("secrets")  # recorded unredacted: credentials in the URL and headers
    text = dumps(analyze(record), record.events, started_at=T0)
    for secret in ("pa55word", "K3Y", "T0K3N", "C00K1E"):
        assert secret not in text
    (entry,) = check_har(json.loads(text))["log"]["entries"]
    request = entry["request"]
    assert request["method"] == "POST"
    assert {"name": "Authorization", "value": f"Bearer {REDACTED}"} in request["headers"]
    assert {"name": "Cookie", "value": f"sid={REDACTED}"} in request["headers"]
    assert {"name": "api_key", "value": REDACTED} in request["queryString"]
    assert {"name": "page", "value": "2"} in request["queryString"]
    assert request["bodySize"] == 5
    assert entry["response"]["status"] == 404
    assert entry["response"]["content"]["mimeType"] == "text/plain; charset=utf-8"
    revealed = dumps(analyze(record), record.events, started_at=T0, reveal=True)
    assert all(s in revealed for s in ("pa55word", "K3Y", "T0K3N", "C00K1E"))


def test_the_connection_close_a_client_sent_is_in_its_request_headers() -> None:
    for entry in har_of(load("disable-keepalives"))["log"]["entries"]:
        assert {"name": "Connection", "value": "close"} in entry["request"]["headers"]


def test_several_runs_make_one_log_with_a_page_each() -> None:
    a, b = load("healthy"), load("h2-burst")
    har = check_har(
        to_har_runs([(analyze(a), a.events, T0), (analyze(b), b.events, T0 + timedelta(seconds=5))])
    )
    pages = har["log"]["pages"]
    assert [p["id"] for p in pages] == ["run_1", "run_2"]
    assert [p["title"] for p in pages] == [a.target, b.target]
    entries = har["log"]["entries"]
    assert [e["pageref"] for e in entries] == ["run_1"] * 5 + ["run_2"] * 8
    # Connection ids restart per run; the log keeps them apart.
    assert [e["connection"] for e in entries] == ["1:1"] * 5 + ["2:1"] * 8
    assert entries[5]["startedDateTime"] > entries[4]["startedDateTime"]


# --- real runs against the built-in server --------------------------------------------------


def _analysis(run: ProbeRun, events: list[Event]) -> Analysis:
    return analyze(RunRecord(run.report["target"], events, (Expectation("none"),)))


def _real(config: ServerConfig, tmp: Path, *args: str) -> tuple[ProbeRun, dict[str, Any]]:
    with ServerThread(config) as srv:
        extra = ("--cacert", str(srv.ca_path)) if config.tls else ()
        run = probe(srv.url, "--idle", "0", *extra, *args, events_path=tmp / "ev.ndjson")
    events = to_events(run.events)
    return run, check_har(to_har(_analysis(run, events), events, started_at=T0))


@pytest.fixture(scope="module")
def tmp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    yield tmp_path_factory.mktemp("har")


def test_a_real_http1_run(tmp: Path) -> None:
    run, har = _real(ServerConfig(max_requests=3), tmp, "-H", "Authorization: Bearer s3cr3t")
    entries = har["log"]["entries"]
    assert len(entries) == run.report["summary"]["requests"] == 13
    for entry, row in zip(entries, run.report["requests"], strict=True):
        assert entry["_index"] == row["index"] and entry["connection"] == str(row["conn_id"])
        assert entry["_reused"] == row["reused"]
        assert (entry["timings"]["connect"] == -1) == (row["timings_s"]["connect"] is None)
        assert entry["response"]["status"] == row["status"] == 200
        assert entry["serverIPAddress"] == "127.0.0.1"
        assert entry["response"]["content"]["mimeType"].startswith("text/plain")
    assert "s3cr3t" not in json.dumps(har)


def test_a_real_h2_run_over_tls(tmp: Path) -> None:
    _, har = _real(ServerConfig(h2=True, tls=True), tmp)
    entries = har["log"]["entries"]
    assert {e["response"]["httpVersion"] for e in entries} == {"http/2.0"}
    first = entries[0]
    assert first["timings"]["ssl"] > 0 and first["timings"]["connect"] > first["timings"]["ssl"]
    assert all(e["_streamId"] for e in entries)
    burst = [e for e in entries if e["_phase"] == "burst-1"]
    assert len({e["connection"] for e in burst}) == 1


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _ipv6_loopback(), reason="no IPv6 loopback (::1) on this machine")
def test_ipv6_server_address_has_no_brackets(tmp: Path) -> None:
    _, har = _real(ServerConfig(host="::1"), tmp, "--requests", "1", "--concurrency", "0")
    assert {e["serverIPAddress"] for e in har["log"]["entries"]} == {"::1"}
