"""``span``: a step's ``*_done`` is emitted however the step ends.

Success carries what ``done()`` was given; a failure its ``error`` (and the ``failed``
fields); an exception or a cancellation that ends the step names itself in ``error``
and still propagates.  tests/net/test_dial.py checks the same over real sockets.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from reusecheck.trace import Recorder, Tracer, span
from reusecheck.trace.vocab import SpanName


def recorded() -> tuple[Recorder, Tracer]:
    rec = Recorder()
    return rec, Tracer(rec)


def lines(rec: Recorder) -> list[dict[str, Any]]:
    return [{"event": e.event, "request": e.request, "conn": e.conn, **e.fields} for e in rec]


@pytest.mark.parametrize("name", ["dns", "connect", "tls"])
def test_success_emits_start_then_done_with_the_done_fields(name: SpanName) -> None:
    rec, tracer = recorded()
    with span(tracer, name, 4, 2, failed={"never": "used"}, begin=1) as step:
        assert [e.event for e in rec] == [f"{name}_start"]  # emitted on entry
        step.done(result="ok")
    assert lines(rec) == [
        {"event": f"{name}_start", "request": 4, "conn": 2, "begin": 1},
        {"event": f"{name}_done", "request": 4, "conn": 2, "result": "ok"},
    ]


def test_fail_without_raising_emits_the_failed_fields_and_the_error() -> None:
    rec, tracer = recorded()
    with span(tracer, "connect", 0, 1, failed={"local": None}, addr="a:1") as step:
        step.fail("refused")
    assert lines(rec)[-1] == {
        "event": "connect_done",
        "request": 0,
        "conn": 1,
        "local": None,
        "error": "refused",
    }


def test_fail_then_raise_keeps_the_steps_own_message() -> None:
    rec, tracer = recorded()
    with pytest.raises(ValueError), span(tracer, "dns", 0, None, failed={"addrs": []}) as step:
        step.fail("cannot resolve example.test")
        raise ValueError("the caller's wrapper")
    assert lines(rec)[-1] == {
        "event": "dns_done",
        "request": 0,
        "conn": None,
        "addrs": [],
        "error": "cannot resolve example.test",
    }


@pytest.mark.parametrize(
    ("exc", "error"),
    [(RuntimeError("boom"), "RuntimeError: boom"), (KeyError(), "KeyError")],
)
def test_an_unexpected_exception_is_named_in_error_and_propagates(
    exc: Exception, error: str
) -> None:
    rec, tracer = recorded()
    with pytest.raises(type(exc)), span(tracer, "tls", 1, 1) as step:
        step.done(version="TLSv1.3")  # superseded: the step did not finish
        raise exc
    assert [e.event for e in rec] == ["tls_start", "tls_done"]
    assert rec.events[-1].fields == {"error": error}


def test_a_cancelled_task_still_closes_its_span() -> None:
    rec, tracer = recorded()

    async def step() -> None:
        with span(tracer, "tls", 0, 1, failed={"alpn": None}):
            await asyncio.sleep(10)

    async def main() -> None:
        task = asyncio.create_task(step())
        await asyncio.sleep(0)  # the span has started
        assert [e.event for e in rec] == ["tls_start"]
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(asyncio.wait_for(main(), 5))
    done = rec.events[-1]
    assert done.event == "tls_done"
    assert done.fields == {"alpn": None, "error": "cancelled: the run ended before this step did"}


def test_nested_spans_each_close_in_order() -> None:
    rec, tracer = recorded()
    with pytest.raises(OSError), span(tracer, "connect", 0, 1) as outer:
        outer.done(local="l", remote="r")
        with span(tracer, "tls", 0, 1):
            raise OSError("reset")
    assert [e.event for e in rec] == ["connect_start", "tls_start", "tls_done", "connect_done"]
    assert rec.events[2].fields == {"error": "OSError: reset"}
    assert rec.events[3].fields == {"error": "OSError: reset"}
