"""Trace sinks: what the NDJSON stream and the recorder keep."""

from __future__ import annotations

import errno
import io
import json
import os
from pathlib import Path
from typing import Any

import pytest

from reusecheck.trace import EVENT_NAMES, FanOut, NDJSONWriter, NullSink, Recorder, Tracer, sinks
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
    assert len(EVENT_NAMES) == len(set(EVENT_NAMES)) == 25
    assert {"got_conn", "idle_closed", "put_idle", "retry", "request_done"} <= set(EVENT_NAMES)


# -- a stream that fails: never half a line, never an exception into the run ------------


def _lines(tracer: Tracer, requests: int) -> None:
    for i in range(requests):
        tracer.emit("get_conn", i, None, key="http://h:80", url="http://h/")
        tracer.emit("request_done", i, 1, status=200, error=None)


def test_a_short_write_then_a_full_disk_leaves_only_whole_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The disk takes 300 bytes, part of a batch, then refuses: the file is cut back to
    its last whole line and the writer stops, holding the error."""
    path = tmp_path / "events.ndjson"
    real_write = os.write
    with open(path, "w", encoding="utf-8") as f:
        fd, room = f.fileno(), [300]

        def full_disk(target: int, data: Any) -> int:
            if target != fd:
                return real_write(target, data)
            if room[0] <= 0:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            n = real_write(target, bytes(data[: room[0]]))
            room[0] -= n
            return n

        monkeypatch.setattr(sinks.os, "write", full_disk)
        writer = NDJSONWriter(f)
        _lines(Tracer(writer), 20)
        writer.close()
    text = path.read_text(encoding="utf-8")
    assert 0 < len(text) < 300 and text.endswith("\n")
    assert all(json.loads(line) for line in text.splitlines())
    assert writer.failure is not None and writer.failure.errno == errno.ENOSPC


def test_a_pipe_whose_reader_went_away_stops_the_writing_quietly() -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)
    with os.fdopen(write_end, "w") as stream:
        writer = NDJSONWriter(stream)
        _lines(Tracer(writer), 3)  # no exception reaches the emitter
        writer.close()
    assert writer.failure is not None and writer.failure.errno == errno.EPIPE


def test_a_pipe_gets_each_line_in_one_write(monkeypatch: pytest.MonkeyPatch) -> None:
    read_end, write_end = os.pipe()
    writes: list[bytes] = []
    real_write = os.write

    def counted(target: int, data: Any) -> int:
        if target == write_end:
            writes.append(bytes(data))
        return real_write(target, data)

    monkeypatch.setattr(sinks.os, "write", counted)
    with os.fdopen(write_end, "w") as stream:
        writer = NDJSONWriter(stream)
        _lines(Tracer(writer), 2)
        writer.close()
    os.close(read_end)
    assert len(writes) == 4 and all(w.endswith(b"\n") and w.count(b"\n") == 1 for w in writes)
