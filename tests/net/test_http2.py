"""HTTP2Connection over a real loopback socket (h2c with prior knowledge).

Driven as the pool drives it: ``reserve`` a stream slot, ``send``, read the body,
``finish_stream`` (or ``release`` after a failure).  The built-in server covers the
healthy paths; exact frame sequences no server offers (a GOAWAY sent before the last
responses, SETTINGS naming one parameter, a peer that checks our RST_STREAM) come from
raw frames written by the test (tests/net/wire.py).
"""

from __future__ import annotations

import asyncio
import itertools
import struct
from collections.abc import Awaitable, Callable

import pytest

from reusecheck.net.conn import ConnState
from reusecheck.net.dial import Timeouts
from reusecheck.net.errors import RequestError
from reusecheck.net.http2 import HTTP2Connection
from reusecheck.net.request import Request
from reusecheck.net.response import Response
from reusecheck.server import ServerConfig, TargetServer
from reusecheck.server.misbehave import MisbehavingServer
from reusecheck.trace import Recorder
from reusecheck.trace.vocab import CloseReason
from tests.net.wire import (
    DATA,
    END_HEADERS,
    GOAWAY,
    HEADERS,
    RST_STREAM,
    STATUS_200,
    H2Peer,
    ScriptedServer,
    frame,
    goaway_frame,
    loopback,
    open_h2,
    recorder_tracer,
    run,
)

MAX_CONCURRENT_STREAMS, INITIAL_WINDOW_SIZE = 0x3, 0x4
CANCEL, ENHANCE_YOUR_CALM = 0x8, 0xB
Reason = CloseReason | None  # finish_stream's answer: None, or why the connection ends
Outcome = Response | BaseException  # one stream of asyncio.gather(return_exceptions)


async def stream(
    conn: HTTP2Connection, url: str, index: int, method: str = "GET", body: bytes | None = None
) -> Response:
    """One stream as the pool runs it: reserve the slot, send, read the whole body."""
    conn.reserve()
    resp = await conn.send(Request(method, url, body=body), index)
    await resp.read()
    return resp


def raw_server(script: Callable[[H2Peer], Awaitable[None]]) -> ScriptedServer:
    """An h2c server whose connection runs ``script(peer)`` after the preface."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = H2Peer(reader, writer)
        await script(peer)
        await reader.read()  # hold the connection until the client goes

    return ScriptedServer(handler)


# -- multiplexing and SETTINGS ---------------------------------------------------------


def test_concurrent_requests_are_streams_on_one_connection() -> None:
    async def main() -> tuple[Recorder, list[Response], list[Reason], list[ConnState]]:
        rec, tracer = recorder_tracer()
        async with TargetServer(ServerConfig(h2=True, max_streams=10)) as srv:
            conn = await open_h2(loopback(srv.port), tracer)
            states = [conn.state]
            resps = await asyncio.gather(*(stream(conn, srv.url + "delay/50", i) for i in range(3)))
            states.append(conn.state)  # streams done, not yet handed back
            reasons = [conn.finish_stream(r, r.complete) for r in resps]
            states.append(conn.state)
            assert conn.active == 0 and conn.requests == 3 and conn.is_available()
            conn.close()
            states.append(conn.state)
            assert len(srv.connections) == 1 and srv.connections[0].protocol == "h2"
            assert srv.connections[0].requests == 3
        return rec, resps, reasons, states

    rec, resps, reasons, states = run(main())
    assert states == [ConnState.IDLE, ConnState.ACTIVE, ConnState.IDLE, ConnState.CLOSED]
    assert [r.status for r in resps] == [200, 200, 200]
    assert [r.stream_id for r in resps] == [1, 3, 5]
    assert reasons == [None, None, None]
    wrote = rec.named("wrote_headers")
    assert [(e.request, e.fields["stream_id"]) for e in wrote] == [(0, 1), (1, 3), (2, 5)]
    assert [e.fields["http_version"] for e in rec.named("response_headers")] == ["2"] * 3
    settings = rec.named("h2_settings")[0]
    assert settings.request is None and settings.conn == 1
    assert settings.fields["max_concurrent_streams"] == 10


def _settings_then_answer(settings: dict[int, int]) -> ScriptedServer:
    async def script(peer: H2Peer) -> None:
        await peer.start(settings)
        while True:
            (sid,) = await peer.streams_opened(1)
            peer.writer.write(peer.respond(sid, b"ok"))

    return raw_server(script)


def test_the_servers_stream_limit_bounds_what_the_connection_takes() -> None:
    async def main() -> tuple[Recorder, list[bool]]:
        rec, tracer = recorder_tracer()
        async with _settings_then_answer({MAX_CONCURRENT_STREAMS: 2}) as srv:
            conn = await open_h2(srv.key, tracer)
            first = await stream(conn, srv.url, 0)  # the SETTINGS have arrived by now
            conn.finish_stream(first, True)
            available = []
            for _ in range(3):
                available.append(conn.is_available())
                conn.reserve()
            conn.abort()
        return rec, available

    rec, available = run(main())
    assert available == [True, True, False]
    assert rec.named("h2_settings")[0].fields["max_concurrent_streams"] == 2


def test_settings_the_server_did_not_send_are_null() -> None:
    async def main() -> dict[str, object]:
        rec, tracer = recorder_tracer()
        async with _settings_then_answer({MAX_CONCURRENT_STREAMS: 7}) as srv:
            conn = await open_h2(srv.key, tracer)
            await stream(conn, srv.url, 0)
            conn.abort()
        return rec.named("h2_settings")[0].fields

    assert run(main()) == {
        "max_concurrent_streams": 7,
        "initial_window_size": None,
        "max_frame_size": None,
        "max_header_list_size": None,
        "header_table_size": None,
    }


# -- GOAWAY ----------------------------------------------------------------------------


def test_goaway_before_the_last_responses_lets_streams_below_it_finish() -> None:
    """nginx at keepalive_requests: GOAWAY(last_stream_id=3) first, then the responses of
    streams 1 and 3; stream 5 was never processed."""

    async def script(peer: H2Peer) -> None:
        await peer.start({MAX_CONCURRENT_STREAMS: 100})
        s1, s3, _ = await peer.streams_opened(3)
        peer.writer.write(goaway_frame(s3) + peer.respond(s1, b"one") + peer.respond(s3, b"two"))

    async def main() -> tuple[Recorder, list[Outcome], list[Reason], list[ConnState]]:
        rec, tracer = recorder_tracer()
        async with raw_server(script) as srv:
            conn = await open_h2(srv.key, tracer)
            results = await asyncio.gather(
                *(stream(conn, srv.url, i) for i in range(3)), return_exceptions=True
            )
            states = [conn.state]
            assert not conn.is_usable() and not conn.is_available()
            ok = [r for r in results if isinstance(r, Response)]
            reasons = [conn.finish_stream(r, r.complete) for r in ok]
            reasons.append(conn.release())  # the failed stream, as the pool releases it
            states.append(conn.state)
            conn.close()
        return rec, results, reasons, states

    rec, results, reasons, states = run(main())
    r0, r1, err = results
    assert isinstance(r0, Response) and isinstance(r1, Response)
    assert (r0.status, r0.bytes_read, r0.complete) == (200, 3, True)
    assert (r1.status, r1.bytes_read, r1.complete) == (200, 3, True)
    assert isinstance(err, RequestError)
    assert err.kind == "goaway" and err.unprocessed and err.before_response
    goaway = rec.named("h2_goaway")
    assert len(goaway) == 1 and goaway[0].conn == 1 and goaway[0].request is None
    assert goaway[0].fields == {
        "error_code": "NO_ERROR",
        "last_stream_id": 3,
        "additional_data": None,
        "unprocessed": [2],
    }
    # The connection closes for the GOAWAY when its last stream ends, not before.
    assert reasons == [None, None, "goaway"]
    assert states == [ConnState.DRAINING, ConnState.DRAINING]


def test_goaway_in_pieces_across_reads_is_still_seen() -> None:
    async def script(peer: H2Peer) -> None:
        await peer.start({MAX_CONCURRENT_STREAMS: 100})
        (sid,) = await peer.streams_opened(1)
        # HEADERS [0, 10), DATA header [10, 19), its payload [19, 119), GOAWAY [119, 139):
        # cut inside a frame header, a DATA payload, the GOAWAY's header and its payload.
        data = peer.respond(sid, b"x" * 100) + goaway_frame(sid, data=b"bye")
        cuts = [0, 5, 14, 69, 124, 135, len(data)]
        for a, b in itertools.pairwise(cuts):
            peer.writer.write(data[a:b])
            await peer.writer.drain()
            await asyncio.sleep(0.02)  # one read each

    async def main() -> tuple[Recorder, Response, HTTP2Connection]:
        rec, tracer = recorder_tracer()
        async with raw_server(script) as srv:
            conn = await open_h2(srv.key, tracer)
            resp = await stream(conn, srv.url, 0)
            for _ in range(100):
                if conn.goaway is not None:
                    break
                await asyncio.sleep(0.01)
            conn.close()
        return rec, resp, conn

    rec, resp, conn = run(main())
    assert resp.bytes_read == 100 and resp.complete
    assert conn.goaway == ("NO_ERROR", 1)
    assert rec.named("h2_goaway")[0].fields["additional_data"] == "bye"


def test_a_later_goaway_may_only_lower_last_stream_id() -> None:
    """The graceful shutdown of RFC 9113 6.8: GOAWAY(2^31-1), then GOAWAY(last processed);
    a GOAWAY that raises last_stream_id again is ignored."""

    async def script(peer: H2Peer) -> None:
        await peer.start({MAX_CONCURRENT_STREAMS: 100})
        s1, _ = await peer.streams_opened(2)
        peer.writer.write(
            goaway_frame(2**31 - 1) + goaway_frame(s1) + goaway_frame(99) + peer.respond(s1, b"ok")
        )

    async def main() -> tuple[Recorder, list[Outcome], HTTP2Connection]:
        rec, tracer = recorder_tracer()
        async with raw_server(script) as srv:
            conn = await open_h2(srv.key, tracer)
            results = await asyncio.gather(
                *(stream(conn, srv.url, i) for i in range(2)), return_exceptions=True
            )
            conn.close()
        return rec, results, conn

    rec, (first, second), conn = run(main())
    assert [e.fields["last_stream_id"] for e in rec.named("h2_goaway")] == [2**31 - 1, 1]
    assert [e.fields["unprocessed"] for e in rec.named("h2_goaway")] == [[], [1]]
    assert conn.goaway == ("NO_ERROR", 1)
    assert isinstance(first, Response) and first.complete
    assert isinstance(second, RequestError) and second.kind == "goaway" and second.unprocessed


def test_goaway_with_an_error_fails_the_open_streams_below_it() -> None:
    async def script(peer: H2Peer) -> None:
        await peer.start({MAX_CONCURRENT_STREAMS: 100})
        (sid,) = await peer.streams_opened(1)
        peer.writer.write(goaway_frame(sid, ENHANCE_YOUR_CALM, b"too many resets"))

    async def main() -> RequestError:
        _, tracer = recorder_tracer()
        async with raw_server(script) as srv:
            conn = await open_h2(srv.key, tracer)
            with pytest.raises(RequestError) as info:
                await stream(conn, srv.url, 0)
            conn.close()
        return info.value

    err = run(main())
    assert err.kind == "goaway" and "ENHANCE_YOUR_CALM" in err.message
    assert not err.unprocessed  # the server may have processed it: not safe to retry


def test_goaway_while_idle_reports_an_idle_event() -> None:
    async def main() -> tuple[str, HTTP2Connection]:
        _, tracer = recorder_tracer()
        async with TargetServer(ServerConfig(h2=True, idle_timeout=0.2)) as srv:
            conn = await open_h2(loopback(srv.port), tracer)
            resp = await stream(conn, srv.url, 0)
            assert conn.finish_stream(resp, True) is None
            seen: asyncio.Future[str] = asyncio.get_running_loop().create_future()

            def on_idle_event(c: HTTP2Connection) -> None:
                if not seen.done():
                    seen.set_result(c.idle_close_reason())

            conn.on_idle_event = on_idle_event
            reason = await seen
            assert conn.state is ConnState.DRAINING and not conn.is_usable()
            conn.close()
            assert conn.state is ConnState.CLOSED
        return reason, conn

    reason, conn = run(main())
    assert reason == "goaway"
    assert conn.goaway == ("NO_ERROR", 1)


def test_close_says_goodbye_with_goaway_no_error() -> None:
    seen: list[tuple[int, int]] = []

    async def script(peer: H2Peer) -> None:
        await peer.start({MAX_CONCURRENT_STREAMS: 100})
        (sid,) = await peer.streams_opened(1)
        peer.writer.write(peer.respond(sid))
        while True:
            ftype, _, _, payload = await peer.frame()
            if ftype == GOAWAY:
                seen.append(struct.unpack(">II", payload[:8]))
                return

    async def main() -> None:
        _, tracer = recorder_tracer()
        async with raw_server(script) as srv:
            conn = await open_h2(srv.key, tracer)
            conn.finish_stream(await stream(conn, srv.url, 0), True)
            conn.close()
            for _ in range(100):
                if seen:
                    break
                await asyncio.sleep(0.01)

    run(main())
    assert seen == [(0, 0)]  # last_stream_id 0 (the server pushed nothing), NO_ERROR


# -- streams that fail alone -----------------------------------------------------------


def test_refused_stream_is_unprocessed_and_the_connection_stays() -> None:
    async def main() -> tuple[list[object], ConnState]:
        _, tracer = recorder_tracer()
        async with MisbehavingServer("h2-refuse-stream") as srv:  # refuses the 2nd stream
            conn = await open_h2(loopback(srv.port), tracer)
            outcomes: list[object] = []
            for i in range(3):
                try:
                    resp = await stream(conn, srv.url, i)
                except RequestError as exc:
                    outcomes.append(exc)
                    assert conn.release() is None  # as the pool does: not a close
                else:
                    outcomes.append(resp.status)
                    assert conn.finish_stream(resp, True) is None
            state = conn.state
            conn.close()
        return outcomes, state

    outcomes, state = run(main())
    first, refused, third = outcomes
    assert first == 200 and third == 200
    assert isinstance(refused, RequestError)
    assert refused.kind == "stream-reset" and "REFUSED_STREAM" in refused.message
    assert refused.unprocessed and refused.before_response  # RFC 9113 8.7: retry is safe
    assert state is ConnState.IDLE


def test_reset_stream_fails_that_request_only() -> None:
    async def main() -> tuple[RequestError, bool]:
        _, tracer = recorder_tracer()
        async with MisbehavingServer("h2-rst-every-stream") as srv:
            conn = await open_h2(loopback(srv.port), tracer)
            with pytest.raises(RequestError) as info:
                await stream(conn, srv.url, 0)
            conn.release()
            usable = conn.is_usable()
            conn.close()
        return info.value, usable

    err, usable = run(main())
    assert err.kind == "stream-reset" and "INTERNAL_ERROR" in err.message
    assert not err.unprocessed  # the server may have acted on it
    assert usable


def test_a_body_closed_early_resets_its_stream_with_cancel_and_keeps_the_connection() -> None:
    frames: list[tuple[int, int, int]] = []

    async def script(peer: H2Peer) -> None:
        await peer.start({MAX_CONCURRENT_STREAMS: 100})
        (s1,) = await peer.streams_opened(1)
        # Headers and part of a body, no END_STREAM: the client gives up on it.
        peer.writer.write(
            frame(HEADERS, END_HEADERS, s1, STATUS_200) + frame(DATA, 0, s1, b"x" * 1000)
        )
        while True:
            ftype, _, sid, payload = await peer.frame()
            if ftype == RST_STREAM:
                frames.append((ftype, sid, int.from_bytes(payload, "big")))
            elif ftype == HEADERS:  # the next request
                peer.writer.write(peer.respond(sid, b"ok"))

    async def main() -> tuple[object, Response, ConnState]:
        _, tracer = recorder_tracer()
        async with raw_server(script) as srv:
            conn = await open_h2(srv.key, tracer)
            conn.reserve()
            resp = await conn.send(Request("GET", srv.url), 0)
            await resp.read(limit=10)
            reason = conn.finish_stream(resp, complete=False)
            after = await stream(conn, srv.url, 1)
            conn.finish_stream(after, True)
            state = conn.state
            conn.close()
        return reason, after, state

    reason, after, state = run(main())
    assert reason is None
    assert frames == [(RST_STREAM, 1, CANCEL)]
    assert after.status == 200 and after.stream_id == 3 and after.complete
    assert state is ConnState.IDLE


def test_server_closing_mid_stream_is_server_closed() -> None:
    async def script(peer: H2Peer) -> None:
        await peer.start({MAX_CONCURRENT_STREAMS: 100})
        await peer.streams_opened(1)
        peer.writer.close()  # no GOAWAY, no response

    async def main() -> tuple[RequestError, HTTP2Connection]:
        _, tracer = recorder_tracer()
        async with raw_server(script) as srv:
            conn = await open_h2(srv.key, tracer)
            with pytest.raises(RequestError) as info:
                await stream(conn, srv.url, 0)
            reason = conn.release()
            assert reason == "eof"
            assert conn.state is ConnState.DRAINING
            conn.close()
        return info.value, conn

    err, conn = run(main())
    assert err.kind == "server-closed" and err.before_response
    assert conn.remote_closed == "eof"


@pytest.mark.parametrize("kind", ["h2-hpack-garbage", "h2-bad-frame"])
def test_broken_framing_is_a_protocol_error_that_ends_the_connection(kind: str) -> None:
    async def main() -> tuple[RequestError, ConnState]:
        _, tracer = recorder_tracer()
        async with MisbehavingServer(kind) as srv:
            conn = await open_h2(loopback(srv.port), tracer)
            with pytest.raises(RequestError) as info:
                await stream(conn, srv.url, 0)
            state = conn.state
            conn.close()
        return info.value, state

    err, state = run(main())
    assert err.kind == "protocol"
    assert state is ConnState.CLOSED


# -- flow control ----------------------------------------------------------------------


def test_a_body_larger_than_every_window_arrives_whole() -> None:
    size = 6 * 1024 * 1024  # over the 4 MiB stream window and the 64 KiB default

    async def main() -> Response:
        _, tracer = recorder_tracer()
        async with TargetServer(ServerConfig(h2=True)) as srv:
            conn = await open_h2(loopback(srv.port), tracer)
            resp = await stream(conn, f"{srv.url}bytes/{size}", 0)
            conn.close()
        return resp

    resp = run(main())
    assert resp.bytes_read == size and resp.complete


def test_a_request_body_larger_than_the_peers_window_is_sent_as_it_opens() -> None:
    async def main() -> Response:
        _, tracer = recorder_tracer()
        async with TargetServer(ServerConfig(h2=True)) as srv:
            conn = await open_h2(loopback(srv.port), tracer)
            resp = await stream(conn, srv.url, 0, "POST", b"y" * 300_000)
            conn.close()
        return resp

    resp = run(main())
    assert resp.status == 200 and resp.complete


def test_a_window_that_never_opens_is_a_write_timeout() -> None:
    """A server that grants no window does not read the request body: the write wait
    (write-timeout, as on HTTP/1.1), with what was sent in wrote_request."""

    async def script(peer: H2Peer) -> None:
        # INITIAL_WINDOW_SIZE 0 and never a WINDOW_UPDATE (RFC 9113 6.9.2).
        await peer.start({MAX_CONCURRENT_STREAMS: 100, INITIAL_WINDOW_SIZE: 0})
        (sid,) = await peer.streams_opened(1)
        peer.writer.write(peer.respond(sid))

    async def main() -> tuple[RequestError, Recorder]:
        rec, tracer = recorder_tracer()
        async with raw_server(script) as srv:
            conn = await open_h2(srv.key, tracer, Timeouts(body=0.2))
            conn.finish_stream(await stream(conn, srv.url, 0), True)  # SETTINGS are in
            with pytest.raises(RequestError) as info:
                await stream(conn, srv.url, 1, "POST", b"y" * 1000)
            conn.close()
        return info.value, rec

    err, rec = run(main())
    assert err.kind == "write-timeout"
    assert "stopped reading the request: no window update for stream 3" in err.message
    assert "0 of 1000 body bytes sent" in err.message
    (wrote,) = [e for e in rec.named("wrote_request") if e.request == 1]
    assert wrote.fields == {"bytes": 0, "error": err.message}
    assert rec.named("h2_settings")[0].fields["initial_window_size"] == 0
