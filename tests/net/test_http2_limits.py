"""HTTP/2: what a server controls is bounded (memory it can make us hold, time it can
make us wait), over raw h2c frames written by the test (tests/net/wire.py).

Memory is checked by counting what the record holds and what is queued for the
server, never by RSS; time only as "ended within its timeouts plus a margin".
"""

from __future__ import annotations

import asyncio
import struct
import time

from reusecheck.net.dial import Timeouts
from reusecheck.net.errors import RequestError
from reusecheck.net.http2 import MAX_INFORMATIONAL, MAX_UNSENT, HTTP2Connection
from reusecheck.net.request import Request
from reusecheck.trace import Event
from tests.net.wire import (
    DATA,
    END_HEADERS,
    END_STREAM,
    HEADERS,
    STATUS_200,
    H2Peer,
    ScriptedServer,
    frame,
    open_h2,
    recorder_tracer,
    run,
    settings_frame,
)

MAX_CONCURRENT_STREAMS, INITIAL_WINDOW_SIZE = 0x3, 0x4
PING, WINDOW_UPDATE = 0x6, 0x8
QUICK = Timeouts(connect=2.0, tls=2.0, first_byte=0.5, body=0.5)
MARGIN = 1.5  # seconds a loaded machine may add to a timeout
STATUS_103 = b"\x08\x03103"  # HPACK: :status (static index 8) literal "103", not indexed


async def _send(conn: HTTP2Connection, url: str, index: int = 0) -> int:
    """A GET as the pool runs it; returns the body bytes read."""
    conn.reserve()
    resp = await conn.send(Request("GET", url), index)
    return await resp.read()


def _named(events: list[Event], name: str) -> list[Event]:
    return [e for e in events if e.event == name]


# -- 1. SETTINGS and PING floods ---------------------------------------------------------


def test_identical_settings_frames_are_counted_not_recorded() -> None:
    """One h2_settings per change: 5,000 repeats of the same values are one event."""
    repeats = 5000

    async def handler(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        peer = H2Peer(r, w)
        await peer.start({MAX_CONCURRENT_STREAMS: 10})
        w.write(settings_frame({MAX_CONCURRENT_STREAMS: 10}) * repeats)
        w.write(settings_frame({MAX_CONCURRENT_STREAMS: 20}))  # a change: recorded
        (sid,) = await peer.streams_opened(1)
        w.write(peer.respond(sid, b"ok"))
        await r.read()

    async def main() -> tuple[list[Event], HTTP2Connection]:
        rec, tracer = recorder_tracer()
        async with ScriptedServer(handler) as srv:
            conn = await open_h2(srv.key, tracer)
            await asyncio.sleep(0.2)  # let the frames arrive before the request
            assert await _send(conn, srv.url) == 2
            conn.close()
        return rec.events, conn

    events, conn = run(main())
    settings = [e.fields["max_concurrent_streams"] for e in _named(events, "h2_settings")]
    assert settings == [10, 20]
    assert conn.settings_repeated == repeats
    assert conn.max_streams == 20
    assert len(events) < 20  # the record does not grow with the frames


def test_a_settings_flood_from_a_server_that_stopped_reading_ends_the_connection() -> None:
    """h2 ACKs each SETTINGS frame; unsent ACKs pile up on our side while the server
    reads nothing, until MAX_UNSENT ends the connection with a named error (well before
    the first-byte timeout, which is long here), and the record holds one h2_settings."""
    one = settings_frame({MAX_CONCURRENT_STREAMS: 10})
    flood = one * (64 * 1024 // len(one))

    async def handler(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        peer = H2Peer(r, w)
        await peer.start({MAX_CONCURRENT_STREAMS: 10})
        await peer.streams_opened(1)
        w.transport.pause_reading()  # reads nothing more
        while not w.is_closing():
            w.write(flood)
            await w.drain()

    async def main() -> tuple[RequestError, HTTP2Connection, list[Event], float]:
        rec, tracer = recorder_tracer()
        patient = Timeouts(connect=2.0, tls=2.0, first_byte=30.0, body=30.0)
        async with ScriptedServer(handler) as srv:
            conn = await open_h2(srv.key, tracer, patient)
            started = time.monotonic()
            try:
                await _send(conn, srv.url)
            except RequestError as exc:
                return exc, conn, rec.events, time.monotonic() - started
            raise AssertionError("the flood did not end the request")

    err, conn, events, took = run(main(), timeout=25.0)
    assert err.kind == "protocol"
    assert "the server stopped reading while sending frames" in err.message
    assert conn.settings_frames > 100_000 and f"{conn.settings_frames} SETTINGS" in err.message
    assert len(_named(events, "h2_settings")) == 1
    assert took < 20.0
    assert conn.closed and conn.fatal == err.message
    # What we queued is bounded by the cap plus what one flush adds.
    assert conn.channel.unsent() <= MAX_UNSENT + 256 * 1024 or conn.channel.lost
    assert len(events) < 20


def test_a_ping_flood_while_idle_reaches_the_idle_watch() -> None:
    """h2 ACKs each PING too.  With no stream open, the connection error still reaches
    whoever watches the connection (the pool's idle watch closes it, tests/pool)."""
    ping = frame(PING, 0, 0, b"12345678")
    flood = ping * (64 * 1024 // len(ping))

    async def handler(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        peer = H2Peer(r, w)
        await peer.start({MAX_CONCURRENT_STREAMS: 10})
        (sid,) = await peer.streams_opened(1)
        w.write(peer.respond(sid))
        await asyncio.sleep(0.1)
        w.transport.pause_reading()
        while not w.is_closing():
            w.write(flood)
            await w.drain()

    async def main() -> tuple[HTTP2Connection, list[str]]:
        _, tracer = recorder_tracer()
        seen: list[str] = []
        async with ScriptedServer(handler) as srv:
            conn = await open_h2(srv.key, tracer)
            await _send(conn, srv.url)
            conn.release()
            gone = asyncio.get_running_loop().create_future()

            def on_idle_event(c: HTTP2Connection) -> None:
                seen.append(c.fatal or "")
                if not gone.done():
                    gone.set_result(None)

            conn.on_idle_event = on_idle_event
            await asyncio.wait_for(gone, 20.0)
        return conn, seen

    conn, seen = run(main(), timeout=25.0)
    assert seen and "stopped reading" in seen[0]
    assert conn.pings > 1000 and "PING" in seen[0]
    assert conn.closed


# -- 3, 4. Waits that only progress extends ------------------------------------------------


def test_empty_data_frames_do_not_hold_the_body_wait_open() -> None:
    async def handler(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        peer = H2Peer(r, w)
        await peer.start({MAX_CONCURRENT_STREAMS: 10})
        (sid,) = await peer.streams_opened(1)
        w.write(frame(HEADERS, END_HEADERS, sid, STATUS_200) + frame(DATA, 0, sid, b"abc"))
        while not w.is_closing():
            w.write(frame(DATA, 0, sid, b"") * 20)
            await asyncio.sleep(0.02)

    async def main() -> tuple[RequestError, float]:
        _, tracer = recorder_tracer()
        async with ScriptedServer(handler) as srv:
            conn = await open_h2(srv.key, tracer, QUICK)
            conn.reserve()
            resp = await conn.send(Request("GET", srv.url), 0)
            started = time.monotonic()
            try:
                await resp.read()
            except RequestError as exc:
                return exc, time.monotonic() - started
            raise AssertionError("the body ended")

    err, took = run(main())
    assert err.kind == "body-timeout"
    assert took < QUICK.body + MARGIN


def test_frames_that_are_not_the_response_do_not_extend_the_first_byte_wait() -> None:
    async def handler(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        peer = H2Peer(r, w)
        await peer.start({MAX_CONCURRENT_STREAMS: 10})
        (sid,) = await peer.streams_opened(1)
        while not w.is_closing():
            w.write(frame(PING, 0, 0, b"12345678"))
            w.write(frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", 1)))
            w.write(frame(WINDOW_UPDATE, 0, sid, struct.pack(">I", 1)))
            await asyncio.sleep(0.05)

    async def main() -> tuple[RequestError, float]:
        _, tracer = recorder_tracer()
        async with ScriptedServer(handler) as srv:
            conn = await open_h2(srv.key, tracer, QUICK)
            started = time.monotonic()
            try:
                await _send(conn, srv.url)
            except RequestError as exc:
                return exc, time.monotonic() - started
            raise AssertionError("answered")

    err, took = run(main())
    assert err.kind == "first-byte-timeout"
    assert took < QUICK.first_byte + MARGIN


def test_endless_informational_responses_end_at_the_sixth() -> None:
    async def handler(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        peer = H2Peer(r, w)
        await peer.start({MAX_CONCURRENT_STREAMS: 10})
        (sid,) = await peer.streams_opened(1)
        while not w.is_closing():
            w.write(frame(HEADERS, END_HEADERS, sid, STATUS_103))
            await asyncio.sleep(0.01)

    async def main() -> RequestError:
        _, tracer = recorder_tracer()
        patient = Timeouts(connect=2.0, tls=2.0, first_byte=10.0, body=10.0)
        async with ScriptedServer(handler) as srv:
            conn = await open_h2(srv.key, tracer, patient)
            try:
                await _send(conn, srv.url)
            except RequestError as exc:
                return exc
            raise AssertionError("answered")

    err = run(main())
    assert err.kind == "protocol"
    assert f"{MAX_INFORMATIONAL + 1} informational responses" in err.message


# -- 5. A request body the server does not read ----------------------------------------


def test_a_request_body_the_server_never_reads_is_a_write_timeout() -> None:
    """The server opens every window wide and reads nothing: the body stops at the
    socket, and the write wait ends after the body timeout without progress."""
    wide = 2**31 - 1

    async def handler(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        peer = H2Peer(r, w)
        await peer.start({MAX_CONCURRENT_STREAMS: 10, INITIAL_WINDOW_SIZE: wide})
        w.write(frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", wide - 65535)))
        await peer.streams_opened(1)
        w.transport.pause_reading()
        await asyncio.sleep(30)

    async def main() -> tuple[RequestError, float, list[Event]]:
        rec, tracer = recorder_tracer()
        async with ScriptedServer(handler) as srv:
            conn = await open_h2(srv.key, tracer, QUICK)
            await asyncio.sleep(0.1)  # the SETTINGS and the window first
            conn.reserve()
            started = time.monotonic()
            try:
                await conn.send(Request("POST", srv.url, body=b"x" * (64 << 20)), 0)
            except RequestError as exc:
                return exc, time.monotonic() - started, rec.events
            raise AssertionError("the body was sent")

    err, took, events = run(main(), timeout=30.0)
    assert err.kind == "write-timeout"
    assert "stopped reading the request" in err.message
    # Writing took a while (tens of MB reach the kernel first); the wait without
    # progress is what is bounded.
    assert took < 15.0
    (wrote,) = _named(events, "wrote_request")
    assert wrote.fields["error"] == err.message and 0 < wrote.fields["bytes"] < 64 << 20


# -- 7. A server that allows no streams -------------------------------------------------


def test_settings_zero_after_the_pick_waits_for_a_stream_then_names_it() -> None:
    async def handler(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        peer = H2Peer(r, w)
        await peer.start({MAX_CONCURRENT_STREAMS: 0})
        await r.read()

    async def main() -> tuple[RequestError, float, list[Event]]:
        rec, tracer = recorder_tracer()
        async with ScriptedServer(handler) as srv:
            conn = await open_h2(srv.key, tracer, QUICK)
            await asyncio.sleep(0.1)  # SETTINGS 0 arrives after the pool's pick
            started = time.monotonic()
            try:
                await _send(conn, srv.url)
            except RequestError as exc:
                return exc, time.monotonic() - started, rec.events
            raise AssertionError("a stream opened")

    err, took, events = run(main())
    assert err.kind == "first-byte-timeout"
    assert "SETTINGS_MAX_CONCURRENT_STREAMS 0" in err.message
    assert took < QUICK.first_byte + MARGIN
    assert not _named(events, "wrote_headers")  # nothing was sent the server refuses


def test_a_limit_raised_while_a_request_waits_lets_it_open() -> None:
    async def handler(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        peer = H2Peer(r, w)
        await peer.start({MAX_CONCURRENT_STREAMS: 0})
        await asyncio.sleep(0.2)
        w.write(settings_frame({MAX_CONCURRENT_STREAMS: 5}))
        (sid,) = await peer.streams_opened(1)
        w.write(frame(HEADERS, END_HEADERS | END_STREAM, sid, STATUS_200))
        await r.read()

    async def main() -> int:
        _, tracer = recorder_tracer()
        async with ScriptedServer(handler) as srv:
            conn = await open_h2(srv.key, tracer, QUICK)
            await asyncio.sleep(0.1)
            n = await _send(conn, srv.url)
            conn.close()
            return n

    assert run(main()) == 0
