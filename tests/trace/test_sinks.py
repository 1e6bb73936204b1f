"""Trace sinks: what the NDJSON stream and the recorder keep."""

from __future__ import annotations

import io
import json

from reusecheck.trace import EVENT_NAMES, FanOut, NDJSONWriter, NullSink, Recorder, Tracer
from reusecheck.trace.redact import redact_headers


def test_events_carry_time_request_and_connection_in_order() -> None:
    tracer = Tracer()
    tracer.emit("get_conn", 0, None, key="http://h:80")
    tracer.emit("got_conn", 0, 1, reused=False)
    events = tracer.sink.events  # type: ignore[attr-defined]
    assert [e.event for e in events] == ["get_conn", "got_conn"]
    assert events[0].t <= events[1].t
    assert events[1].to_dict() == {
        "t": round(events[1].t, 6),
        "event": "got_conn",
        "request": 0,
        "conn": 1,
        "reused": False,
    }


def test_ndjson_writes_one_flushed_line_per_event_and_redacts_headers() -> None:
    out = io.StringIO()
    tracer = Tracer(NDJSONWriter(out, redact=redact_headers))
    tracer.emit(
        "response_headers",
        2,
        1,
        status=200,
        headers=[["set-cookie", "session=s3cret"], ["content-length", "3"]],
    )
    tracer.emit("request_done", 2, 1, status=200)
    tracer.emit("get_conn", 3, None, url="https://u:pw@h.test/x?token=t0ps3cret&page=2")
    lines = out.getvalue().splitlines()
    assert len(lines) == 3
    assert "t0ps3cret" not in lines[2] and ":pw@" not in lines[2]
    assert "page=2" in lines[2]
    first = json.loads(lines[0])
    assert first["event"] == "response_headers" and first["request"] == 2 and first["conn"] == 1
    assert "s3cret" not in lines[0]
    assert ["content-length", "3"] in first["headers"]


def test_fanout_feeds_every_sink_and_null_sink_drops() -> None:
    a, b = Recorder(), Recorder()
    tracer = Tracer(FanOut((a, NullSink(), b)))
    tracer.emit("dns_start", 0, None, host="localhost")
    assert len(a.events) == len(b.events) == 1


def test_vocabulary_is_the_designs() -> None:
    assert len(EVENT_NAMES) == len(set(EVENT_NAMES)) == 20
    assert {"got_conn", "idle_closed", "put_idle", "retry", "request_done"} <= set(EVENT_NAMES)
