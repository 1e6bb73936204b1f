"""The pool against servers that push on its limits: one allowing no HTTP/2 streams,
one sending responses nobody asked for, one flooding an idle h2 connection.

Each test reads the event stream, as a user would: how many connections were dialled,
how a connection ended and who ended it.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from reusecheck.net.dial import Timeouts
from reusecheck.net.errors import RequestError
from reusecheck.net.request import Request
from reusecheck.pool import Pool, PoolOptions
from reusecheck.server.misbehave import MisbehavingServer
from reusecheck.trace import Event, Recorder, Tracer
from tests.net.wire import OK, H2Peer, ScriptedServer, frame, read_head, run

QUICK = Timeouts(connect=2.0, tls=2.0, first_byte=0.5, body=0.5)
MARGIN = 1.5
PING = 0x6


def _fields(events: list[Event], name: str) -> list[dict[str, Any]]:
    return [{"request": e.request, "conn": e.conn, **e.fields} for e in events if e.event == name]


# -- 7. SETTINGS_MAX_CONCURRENT_STREAMS 0 ---------------------------------------------------


@pytest.mark.parametrize("strict", [False, True])
def test_a_server_allowing_no_streams_gets_no_more_connections(strict: bool) -> None:
    """Concurrent requests to a server that announces 0 streams and refuses every one:
    each waits for a stream at most its first-byte timeout and fails naming the
    setting; the pool dials one connection, not one per retry."""

    async def main() -> tuple[list[BaseException | Any], float, list[Event]]:
        rec = Recorder()
        options = PoolOptions(http="h2c", timeouts=QUICK, strict_max_streams=strict)
        async with MisbehavingServer("h2-no-streams") as srv:
            pool = Pool(Tracer(rec), options)
            started = time.monotonic()
            try:
                got = await asyncio.gather(
                    *(pool.round_trip(Request("GET", srv.url), i) for i in range(4)),
                    return_exceptions=True,
                )
            finally:
                await pool.close()
        return got, time.monotonic() - started, rec.events

    got, took, events = run(main())
    assert all(isinstance(g, RequestError) for g in got)
    errors = [g for g in got if isinstance(g, RequestError)]
    assert {e.kind for e in errors} == {"first-byte-timeout"}
    assert all("SETTINGS_MAX_CONCURRENT_STREAMS 0" in e.message for e in errors)
    assert len(_fields(events, "connect_start")) == 1
    # One wait for the refused stream's retry, one for a stream: within the timeouts.
    assert took < 2 * QUICK.first_byte + MARGIN


def test_a_limit_raised_later_is_used_without_a_new_connection() -> None:
    async def handler(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        peer = H2Peer(r, w)
        await peer.start({0x3: 0})
        await asyncio.sleep(0.3)
        w.write(frame(0x4, 0, 0, b"\x00\x03\x00\x00\x00\x05"))  # SETTINGS: 5 streams
        while True:
            (sid,) = await peer.streams_opened(1)
            w.write(peer.respond(sid, b"ok"))

    async def main() -> tuple[int, list[Event]]:
        rec = Recorder()
        patient = Timeouts(connect=2.0, tls=2.0, first_byte=5.0, body=5.0)
        async with ScriptedServer(handler) as srv:
            pool = Pool(Tracer(rec), PoolOptions(http="h2c", timeouts=patient))
            first = await pool.round_trip(Request("GET", srv.url), 0)
            await first.read()
            resp = await pool.round_trip(Request("GET", srv.url), 1)
            n = await resp.read()
            await pool.close()
        return n, rec.events

    n, events = run(main())
    assert n == 2
    assert len(_fields(events, "connect_start")) == 1
    assert [s["max_concurrent_streams"] for s in _fields(events, "h2_settings")] == [0, 5]


# -- 6. Responses nobody asked for ---------------------------------------------------------


def _late_then_idle() -> ScriptedServer:
    """Answers one request, then writes a second response 50 ms later."""

    async def handler(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        await read_head(r)
        w.write(OK)
        await asyncio.sleep(0.05)
        w.write(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nstray\n")
        await r.read()

    return ScriptedServer(handler)


def test_a_stray_response_on_an_idle_connection_is_closed_by_the_client() -> None:
    async def main() -> list[Event]:
        rec = Recorder()
        async with _late_then_idle() as srv:
            pool = Pool(Tracer(rec), PoolOptions(timeouts=QUICK))
            resp = await pool.round_trip(Request("GET", srv.url), 0)
            await resp.read()
            for _ in range(50):
                if not pool.open_connections:
                    break
                await asyncio.sleep(0.02)
            assert pool.idle_count() == 0
            await pool.close()
        return rec.events

    events = run(main())
    (idle,) = _fields(events, "idle_closed")
    assert (idle["reason"], idle["closed_by"]) == ("unsolicited-response", "client")
    assert idle["server_said"] == "HTTP/1.1 200 OK"
    (closed,) = _fields(events, "conn_closed")
    assert closed["closed_by"] == "client"
    assert closed["reason"] == "unsolicited-response"
    assert closed["server_said"] == "HTTP/1.1 200 OK"


def test_bytes_after_the_end_of_a_response_end_the_connection_not_the_request() -> None:
    async def main() -> tuple[int, list[Event]]:
        rec = Recorder()
        async with MisbehavingServer("extra-body") as srv:
            pool = Pool(Tracer(rec), PoolOptions(timeouts=QUICK))
            resp = await pool.round_trip(Request("GET", srv.url), 0)
            n = await resp.read()
            second = await pool.round_trip(Request("GET", srv.url), 1)
            await second.read()
            await pool.close()
        return n, rec.events

    n, events = run(main())
    assert n == 5  # the body its Content-Length said
    put = _fields(events, "put_idle")[0]
    assert (put["ok"], put["reason"]) == (False, "unsolicited-response")
    closed = _fields(events, "conn_closed")[0]
    assert (closed["conn"], closed["closed_by"], closed["reason"]) == (
        1,
        "client",
        "unsolicited-response",
    )
    assert closed["server_said"] == ", and then some"
    # The next request is not handed the stray bytes: it gets a connection of its own.
    assert [g["conn"] for g in _fields(events, "got_conn")] == [1, 2]
    assert all(d["error"] is None for d in _fields(events, "request_done") if "error" in d)


# -- 1. A flood on an idle h2 connection ------------------------------------------------


def test_a_flood_on_an_idle_h2_connection_is_closed_as_an_error() -> None:
    ping = frame(PING, 0, 0, b"12345678")
    flood = ping * (64 * 1024 // len(ping))

    async def handler(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        peer = H2Peer(r, w)
        await peer.start({0x3: 10})
        (sid,) = await peer.streams_opened(1)
        w.write(peer.respond(sid, b"ok"))
        await asyncio.sleep(0.1)
        w.transport.pause_reading()
        while not w.is_closing():
            w.write(flood)
            await w.drain()

    async def main() -> list[Event]:
        rec = Recorder()
        async with ScriptedServer(handler) as srv:
            pool = Pool(Tracer(rec), PoolOptions(http="h2c", timeouts=QUICK))
            resp = await pool.round_trip(Request("GET", srv.url), 0)
            await resp.read()
            for _ in range(1000):
                if not pool.open_connections:
                    break
                await asyncio.sleep(0.02)
            await pool.close()
        return rec.events

    events = run(main())
    (closed,) = _fields(events, "conn_closed")
    assert (closed["request"], closed["closed_by"], closed["reason"]) == (None, "client", "error")
    assert "the server stopped reading while sending frames" in closed["error"]
    assert not _fields(events, "idle_closed")  # not the server's idle close
