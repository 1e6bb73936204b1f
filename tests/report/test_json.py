"""The JSON report: exactly the schema-1 shape of docs/design.md, secrets redacted; made
from the records of real runs (tests/records)."""

from __future__ import annotations

import json

from reusecheck.analysis import analyze
from reusecheck.report.json import SCHEMA, dumps, to_document
from reusecheck.trace.redact import REDACTED
from tests.records import load

# The schema-1 field names (docs/design.md); additions are allowed, these must stay.
TOP = {"schema", "target", "protocol", "requests", "connections", "server", "findings",
       "summary", "verdict", "error"}  # fmt: skip
REQUEST = {"index", "phase", "method", "url", "status", "protocol", "conn_id", "stream_id",
           "reused", "was_idle", "idle_time_s", "retried", "timings_s", "response_connection",
           "keep_alive", "error"}  # fmt: skip
TIMINGS = {"dns", "connect", "tls", "wait", "total", "proxy"}
CONNECTION = {"id", "protocol", "local", "remote", "tls", "requests", "opened_at_s",
              "closed_at_s", "closed_by", "close_reason"}  # fmt: skip
SERVER = {"keepalive", "idle_timeout_s", "max_requests_per_conn", "keepalive_hint",
          "h2_max_concurrent_streams"}  # fmt: skip
FINDING = {"code", "severity", "message", "evidence", "remedy"}
SUMMARY = {"requests", "connections_opened", "reused", "reuse_ratio"}
VERDICT = {"ok", "reuse", "expectations"}
EXPECTATION = {"name", "ok", "detail"}


def test_schema_1_shape() -> None:
    a = analyze(load("idle-timeout-hint"))
    doc = to_document(a)
    assert doc["schema"] == SCHEMA == "reusecheck/1"
    assert doc.keys() >= TOP
    assert list(doc)[:3] == ["schema", "target", "protocol"]
    for row in doc["requests"]:
        assert row.keys() >= REQUEST
        assert set(row["timings_s"]) == TIMINGS
        assert row["keep_alive"] == {"timeout_s": 5.0, "max": 100}
    for conn in doc["connections"]:
        assert conn.keys() >= CONNECTION
    assert doc["server"].keys() >= SERVER
    assert doc["server"]["keepalive_hint"] == {"timeout_s": 5.0, "max": 100}
    idle = doc["connections"][0]["idle_time_at_close_s"]
    assert doc["server"]["idle_timeout_s"] == round(idle, 3)
    assert doc["server"]["idle_timeout_hint_delta_s"] == round(5.0 - round(idle, 3), 3)
    assert doc["findings"]
    for f in doc["findings"]:
        assert f.keys() >= FINDING
    assert doc["summary"].keys() >= SUMMARY
    assert doc["verdict"].keys() >= VERDICT
    for e in doc["verdict"]["expectations"]:
        assert e.keys() >= EXPECTATION
    assert doc["error"] is None


def test_values_for_a_healthy_run() -> None:
    doc = to_document(analyze(load("healthy")))
    assert doc["protocol"] == "http/1.1"
    assert doc["summary"] == {
        "requests": 5,
        "connections_opened": 1,
        "reused": 4,
        "reuse_ratio": 0.8,
        "peak_concurrency": 1,
        "retried": 0,
        "failed": 0,
        "duration_s": doc["summary"]["duration_s"],
        "budget": {"needed": 1, "avoidable": {}},
        "status_classes": {"2xx": 5},
    }
    assert doc["verdict"]["ok"] is True and doc["verdict"]["reuse"] == "yes"
    assert doc["verdict"]["expectations"][0]["name"] == "reuse"
    first, second = doc["requests"][:2]
    assert first["stream_id"] is None  # HTTP/1.1
    assert first["timings_s"]["connect"] is not None and first["timings_s"]["tls"] is None
    assert second["timings_s"]["dns"] is None and second["timings_s"]["connect"] is None
    assert second["reused"] is True and second["was_idle"] is True
    (conn,) = doc["connections"]
    assert conn["tls"] is None
    assert conn["closed_by"] == "client" and conn["close_reason"] == "end-of-run"
    assert conn["requests"] == 5
    assert doc["server"]["keepalive"] is True
    assert doc["server"]["h2_max_concurrent_streams"] is None
    assert doc["findings"] == []


def test_findings_and_failed_verdict() -> None:
    doc = to_document(analyze(load("connection-close")))
    (f,) = doc["findings"]
    assert f["code"] == "no-keepalive" and f["severity"] == "error"
    assert f["evidence"]["connections"] == [1, 2, 3, 4, 5]
    assert doc["server"]["keepalive"] is False
    assert doc["verdict"] == {
        "ok": False,
        "reuse": "no",
        "expectations": [
            {
                "name": "reuse",
                "ok": False,
                "detail": doc["verdict"]["expectations"][0]["detail"],
                "value": None,
            }
        ],
        "detail": doc["verdict"]["detail"],
        "redialled_connections": [2, 3, 4, 5],
    }


def test_retry_and_max_requests() -> None:
    doc = to_document(analyze(load("stale-retry")))
    assert doc["requests"][2]["retried"] is True
    assert doc["connections"][0]["close_reason"] == "eof"
    doc = to_document(analyze(load("max-requests")))
    assert doc["server"]["max_requests_per_conn"] == 3
    assert doc["requests"][2]["response_connection"] == "close"


def test_error_run() -> None:
    record = load("unreachable")
    doc = to_document(analyze(record))
    assert record.error is not None
    assert doc["error"] == {"kind": "connect", "message": record.error.message}
    assert doc["error"]["message"].endswith("failed: Connection refused")
    assert doc["verdict"]["ok"] is False
    assert doc["connections"][0]["error"].startswith("connect to 127.0.0.1:")
    assert doc["requests"][0]["error"]["kind"] == "connect"


def test_dumps_is_one_json_document() -> None:
    a = analyze(load("idle-timeout"))
    text = dumps(a)
    assert json.loads(text) == json.loads(json.dumps(to_document(a)))
    assert "\n" not in dumps(a, indent=None)


def test_urls_are_redacted_unless_revealed() -> None:
    # recorded unredacted: a password and an API key in the URL
    record = load("secrets")
    assert "pa55word" in record.target and "K3Y" in record.target
    a = analyze(record)
    text = dumps(a)
    assert "pa55word" not in text and "K3Y" not in text
    doc = json.loads(text)
    host = record.target.split("@", 1)[1].split("/", 1)[0]
    assert doc["target"] == f"http://bob:{REDACTED}@{host}/[v1]?api_key={REDACTED}&page=2"
    assert doc["requests"][0]["url"] == doc["target"]
    assert doc["requests"][0]["method"] == "POST" and doc["requests"][0]["status"] == 404
    assert doc["options"] == record.options
    revealed = dumps(a, reveal=True)
    assert "pa55word" in revealed and "K3Y" in revealed


def test_h2_fields() -> None:
    doc = to_document(analyze(load("h2-burst")))
    assert doc["protocol"] == "h2"
    assert [r["stream_id"] for r in doc["requests"]] == list(range(1, 16, 2))
    assert all(r["http_version"] == "2" and r["protocol"] == "h2" for r in doc["requests"])
    first = doc["requests"][0]
    assert first["got_conn_at_s"] is not None
    assert first["released_at_s"] > first["got_conn_at_s"]
    (conn,) = doc["connections"]
    assert conn.keys() >= CONNECTION
    assert conn["tls"]["alpn"] == "h2"
    assert conn["tls"]["alpn_offered"] == ["h2", "http/1.1"]
    assert conn["peak_streams"] == 4
    assert conn["h2"] == {
        "max_concurrent_streams": 100,
        "initial_window_size": 65535,
        "max_frame_size": 16384,
        "max_header_list_size": 65536,
        "header_table_size": 4096,
        "goaway": None,
    }
    assert doc["server"]["h2_max_concurrent_streams"] == 100
    assert doc["server"]["h2_max_concurrent_streams_announced"] == [100]
    names = [e["name"] for e in doc["verdict"]["expectations"]]
    assert names == ["multiplex"]
    assert all(e["ok"] for e in doc["verdict"]["expectations"])
    json.dumps(doc)  # plain JSON all the way down


def test_h2_goaway_in_the_connection() -> None:
    doc = to_document(analyze(load("h2-goaway-retry")))
    c1, c2, c3 = doc["connections"]
    goaway = c1["h2"]["goaway"]
    assert goaway == {
        "error_code": "NO_ERROR",
        "last_stream_id": 7,
        "additional_data": None,
        "unprocessed": [4],
        "at_s": goaway["at_s"],
    }
    assert c1["close_reason"] == "goaway" and c1["closed_by"] == "server"
    assert c2["h2"]["goaway"]["unprocessed"] == [8, 9]
    assert c3["h2"]["goaway"] is None
    retried = doc["requests"][4]
    assert retried["retried"] is True and retried["conn_id"] == 2 and retried["stream_id"] == 1
    (f,) = doc["findings"]
    assert f["code"] == "h2-goaway" and f["evidence"]["unprocessed"] == [4, 8, 9]


def test_h2_no_multiplexing_evidence() -> None:
    doc = to_document(analyze(load("h2-spread-after")))
    (f,) = doc["findings"]
    assert f["code"] == "h2-no-multiplexing"
    assert f["evidence"]["phases"][0]["phase"] == "burst-1"
    assert f["evidence"]["connections"] == [1, 11, 21, 31]
    assert f["evidence"]["peak_concurrency"] == 4
    assert f["evidence"]["max_concurrent_streams"] == 100
    assert [c["peak_streams"] for c in doc["connections"]] == [1, 1, 1, 1]
    # A client per request: four pools, each one's first needed; multiplex is what failed.
    assert [c["dial_reason"] for c in doc["connections"]] == ["first"] * 4
    assert doc["verdict"]["reuse"] == "yes"


def test_http1_connections_have_no_h2_block() -> None:
    doc = to_document(analyze(load("alpn-fallback")))
    (conn,) = doc["connections"]
    assert conn["h2"] is None and conn["protocol"] == "http/1.1"
    assert conn["tls"]["alpn"] == "http/1.1"
    assert conn["tls"]["alpn_offered"] == ["h2", "http/1.1"]
    assert doc["server"]["h2_max_concurrent_streams"] is None
    assert doc["server"]["h2_max_concurrent_streams_announced"] == []
    assert doc["findings"][0]["evidence"]["alpn_chosen"] == ["http/1.1"]
