"""HTTP1Connection over a real loopback socket: reuse, the close rules, failures by kind.

The connection is dialled and driven directly (send, read, finish_cycle), as the pool
does, so each test shows what the pool is told: whether the connection may carry the
next request, the close reason when not, the error kind when a request fails, and where
the connection is in its life (ConnState).
"""

from __future__ import annotations

import asyncio

import pytest

from reusecheck.net.conn import ConnState
from reusecheck.net.dial import Timeouts
from reusecheck.net.errors import RequestError
from reusecheck.net.http1 import HTTP1Connection
from reusecheck.net.request import Request
from reusecheck.net.response import Response
from reusecheck.server import ServerConfig, TargetServer
from reusecheck.server.misbehave import MisbehavingServer
from reusecheck.trace import Recorder
from reusecheck.trace.vocab import CloseReason
from tests.net.wire import (
    OK,
    ScriptedServer,
    idle_then,
    loopback,
    open_h1,
    read_head,
    recorder_tracer,
    run,
)


async def cycle(
    conn: HTTP1Connection, url: str, index: int = 0
) -> tuple[Response, CloseReason | None]:
    """One request/response, body read: (response, finish_cycle's close reason)."""
    resp = await conn.send(Request("GET", url), index)
    assert conn.state is ConnState.ACTIVE  # busy until the body is read
    await resp.read()
    return resp, conn.finish_cycle()


# -- keep-alive and the close rules ----------------------------------------------------


def test_keep_alive_connection_carries_requests_one_after_another() -> None:
    async def main() -> tuple[Recorder, list[CloseReason | None], int]:
        rec, tracer = recorder_tracer()
        async with TargetServer(ServerConfig()) as srv:
            conn = await open_h1(loopback(srv.port), tracer)
            assert conn.state is ConnState.IDLE and conn.is_available()
            reasons: list[CloseReason | None] = []
            for i in range(3):
                resp, reason = await cycle(conn, srv.url, i)
                assert resp.status == 200 and resp.complete
                reasons.append(reason)
                assert conn.state is ConnState.IDLE and conn.is_available()
            assert conn.requests == 3
            conn.close()
            assert conn.state is ConnState.CLOSED and conn.closed and not conn.is_usable()
            server_requests = srv.connections[0].requests
            assert len(srv.connections) == 1
        return rec, reasons, server_requests

    rec, reasons, server_requests = run(main())
    assert reasons == [None, None, None]
    assert server_requests == 3
    heads = rec.named("response_headers")
    assert [h.fields["http_version"] for h in heads] == ["1.1"] * 3
    assert [h.fields["connection"] for h in heads] == [None] * 3
    # One first byte per response, each before its headers.
    names = [e.event for e in rec.events if e.event in ("got_first_byte", "response_headers")]
    assert names == ["got_first_byte", "response_headers"] * 3
    assert [e.request for e in rec.named("got_first_byte")] == [0, 1, 2]


@pytest.mark.parametrize(
    ("config", "reason", "version", "connection"),
    [
        (ServerConfig(close_always=True), "connection-close-header", "1.1", "close"),
        (ServerConfig(max_requests=1), "connection-close-header", "1.1", "close"),
        (ServerConfig(http10=True), "http10", "1.0", None),
    ],
    ids=["close-always", "max-requests", "http10"],
)
def test_server_that_ends_reuse_makes_the_connection_draining_with_its_reason(
    config: ServerConfig, reason: str, version: str, connection: str | None
) -> None:
    async def main() -> tuple[Recorder, CloseReason | None]:
        rec, tracer = recorder_tracer()
        async with TargetServer(config) as srv:
            conn = await open_h1(loopback(srv.port), tracer)
            resp, got = await cycle(conn, srv.url)
            assert resp.status == 200
            assert conn.state is ConnState.DRAINING
            assert conn.is_usable() is False and conn.is_available() is False
            conn.close()
        return rec, got

    rec, got = run(main())
    assert got == reason
    head = rec.named("response_headers")[0].fields
    assert head["http_version"] == version
    assert head["connection"] == connection


def _http10_server(delimited: bool) -> ScriptedServer:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            await read_head(reader)
            if delimited:
                writer.write(
                    b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok"
                )
            else:
                # No length: the body ends with the connection, whatever it says.
                writer.write(b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\nok")
                return

    return ScriptedServer(handler)


def test_http10_keep_alive_with_a_length_keeps_the_connection_as_go_does() -> None:
    async def main() -> tuple[list[CloseReason | None], list[int], int]:
        _, tracer = recorder_tracer()
        async with _http10_server(delimited=True) as srv:
            conn = await open_h1(srv.key, tracer)
            reasons: list[CloseReason | None] = []
            sizes: list[int] = []
            for i in range(3):
                resp, reason = await cycle(conn, srv.url, i)
                reasons.append(reason)
                sizes.append(resp.bytes_read)
                assert conn.is_available()
            conn.close()
            return reasons, sizes, srv.accepted

    reasons, sizes, accepted = run(main())
    assert reasons == [None, None, None]
    assert sizes == [2, 2, 2]
    assert accepted == 1


def test_http10_keep_alive_without_a_length_is_not_reusable() -> None:
    async def main() -> CloseReason | None:
        _, tracer = recorder_tracer()
        async with _http10_server(delimited=False) as srv:
            conn = await open_h1(srv.key, tracer)
            resp, reason = await cycle(conn, srv.url)
            assert resp.complete and resp.bytes_read == 2
            assert conn.state is ConnState.DRAINING
            conn.close()
            return reason

    assert run(main()) == "http10"


@pytest.mark.parametrize(
    ("method", "head"),
    [
        ("GET", b"HTTP/1.0 204 No Content\r\nConnection: keep-alive\r\n\r\n"),
        ("GET", b"HTTP/1.0 304 Not Modified\r\nConnection: keep-alive\r\n\r\n"),
        ("HEAD", b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\n"),
    ],
    ids=["204", "304", "HEAD"],
)
def test_http10_keep_alive_without_a_body_keeps_the_connection_as_go_does(
    method: str, head: bytes
) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            await read_head(reader)
            writer.write(head)

    async def main() -> CloseReason | None:
        _, tracer = recorder_tracer()
        async with ScriptedServer(handler) as srv:
            conn = await open_h1(srv.key, tracer)
            resp = await conn.send(Request(method, srv.url), 0)
            await resp.read()
            reason = conn.finish_cycle()
            conn.close()
            return reason

    assert run(main()) is None


def test_interim_100_continue_is_skipped_and_the_connection_stays_reusable() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            await read_head(reader)
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n" + OK)

    async def main() -> tuple[list[int], list[CloseReason | None]]:
        _, tracer = recorder_tracer()
        async with ScriptedServer(handler) as srv:
            conn = await open_h1(srv.key, tracer)
            statuses: list[int] = []
            reasons: list[CloseReason | None] = []
            for i in range(2):
                resp, reason = await cycle(conn, srv.url, i)
                statuses.append(resp.status)
                reasons.append(reason)
            conn.close()
            return statuses, reasons

    assert run(main()) == ([200, 200], [None, None])


# -- h11's limits and malformed responses ----------------------------------------------


def _headers_server(size: int) -> ScriptedServer:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_head(reader)
        lines = b"".join(b"X-Filler-%d: %s\r\n" % (i, b"a" * 1000) for i in range(size // 1024))
        writer.write(b"HTTP/1.1 200 OK\r\n" + lines + b"Content-Length: 2\r\n\r\nok")
        await reader.read()

    return ScriptedServer(handler)


@pytest.mark.parametrize(("size", "kind"), [(40 * 1024, None), (70 * 1024, "protocol")])
def test_response_headers_are_capped_at_64_kib(size: int, kind: str | None) -> None:
    """40 KiB passes (h11's own default cap is 16 KiB); 70 KiB is refused, named."""

    async def main() -> int | RequestError:
        _, tracer = recorder_tracer()
        async with _headers_server(size) as srv:
            conn = await open_h1(loopback(srv.port), tracer)
            try:
                resp, reason = await cycle(conn, srv.url)
            except RequestError as exc:
                return exc
            finally:
                conn.abort()
            assert reason is None
            return resp.status

    got = run(main())
    if kind is None:
        assert got == 200
    else:
        assert isinstance(got, RequestError) and got.kind == kind
        assert "over the 64 KiB limit" in got.message


# extra-body: the response is whole and the bytes after it answer no request; the
# connection ends over them (tests/net/test_http1_unsolicited.py), no error.
@pytest.mark.parametrize("kind", ["bad-status", "bad-chunked"])
def test_malformed_responses_are_protocol_errors(kind: str) -> None:
    async def main() -> RequestError:
        _, tracer = recorder_tracer()
        async with MisbehavingServer(kind) as srv:
            conn = await open_h1(loopback(srv.port), tracer)
            with pytest.raises(RequestError) as info:
                resp = await conn.send(Request("GET", srv.url), 0)
                await resp.read()
            conn.abort()
            return info.value

    err = run(main())
    assert err.kind == "protocol"
    assert err.message and "\n" not in err.message


# -- the server ending an idle connection ----------------------------------------------


@pytest.mark.parametrize(
    ("action", "reason"),
    [("eof", "eof"), ("reset", "reset"), ("408", "unsolicited-response")],
)
def test_server_ending_an_idle_connection_is_seen_at_once(action: str, reason: str) -> None:
    async def main() -> tuple[HTTP1Connection, str]:
        _, tracer = recorder_tracer()
        go = asyncio.Event()
        async with idle_then(action, go) as srv:
            conn = await open_h1(srv.key, tracer)
            _, first = await cycle(conn, srv.url)
            assert first is None and conn.is_available()
            seen: asyncio.Future[str] = asyncio.get_running_loop().create_future()

            def on_idle_event(c: HTTP1Connection) -> None:
                if not seen.done():
                    seen.set_result(c.idle_close_reason())

            conn.on_idle_event = on_idle_event
            go.set()
            got = await seen
            assert conn.state is ConnState.DRAINING
            assert not conn.is_available() and not conn.is_usable()
            conn.close()
            return conn, got

    conn, got = run(main())
    assert got == reason
    if action == "408":
        assert conn.unsolicited.startswith(b"HTTP/1.1 408 Request Timeout\r\n")
    else:
        assert conn.remote_closed == reason and conn.unsolicited == b""


# -- failures mid-request, by kind -----------------------------------------------------


@pytest.mark.parametrize(
    ("config", "kind"),
    [(ServerConfig(drop_after=0), None), (None, "close-on-accept")],
    ids=["drop-request", "close-on-accept"],
)
def test_server_closing_before_any_response_byte_is_server_closed_before_response(
    config: ServerConfig | None, kind: str | None
) -> None:
    async def main() -> RequestError:
        _, tracer = recorder_tracer()
        srv: TargetServer | MisbehavingServer
        if config is not None:
            srv = await TargetServer(config).start()
        else:
            assert kind is not None
            srv = await MisbehavingServer(kind).start()
        try:
            conn = await open_h1(loopback(srv.port), tracer)
            await asyncio.sleep(0.05)  # close-on-accept: let the FIN arrive first
            with pytest.raises(RequestError) as info:
                await conn.send(Request("GET", srv.url), 0)
            conn.abort()
        finally:
            await srv.close()
        return info.value

    err = run(main())
    assert err.kind == "server-closed"
    assert err.before_response is True  # what makes a replayable request retryable


@pytest.mark.parametrize(("kind", "remote"), [("short-body", "eof"), ("rst-mid-body", "reset")])
def test_connection_lost_mid_body_is_server_closed(kind: str, remote: str) -> None:
    async def main() -> tuple[RequestError, HTTP1Connection, Recorder]:
        rec, tracer = recorder_tracer()
        async with MisbehavingServer(kind) as srv:
            conn = await open_h1(loopback(srv.port), tracer)
            resp = await conn.send(Request("GET", srv.url), 0)
            assert resp.status == 200
            with pytest.raises(RequestError) as info:
                await resp.read()
            conn.abort()
            return info.value, conn, rec

    err, conn, rec = run(main())
    assert err.kind == "server-closed"
    assert err.before_response is False  # a response had begun: never retried
    assert conn.remote_closed == remote
    done = rec.named("body_done")[0].fields
    assert done["complete"] is False and done["error"] == err.message


def test_waiting_too_long_for_the_first_byte_is_a_first_byte_timeout() -> None:
    async def main() -> RequestError:
        _, tracer = recorder_tracer()
        timeouts = Timeouts(first_byte=0.2)
        async with MisbehavingServer("never-answer") as srv:
            conn = await open_h1(loopback(srv.port), tracer, timeouts)
            with pytest.raises(RequestError) as info:
                await conn.send(Request("GET", srv.url), 0)
            conn.abort()
            return info.value

    err = run(main())
    assert err.kind == "first-byte-timeout"
    assert "0.2 s" in err.message


def test_a_stalled_body_is_a_body_timeout() -> None:
    async def main() -> tuple[RequestError, Recorder]:
        rec, tracer = recorder_tracer()
        timeouts = Timeouts(body=0.2)
        async with MisbehavingServer("stall-body") as srv:
            conn = await open_h1(loopback(srv.port), tracer, timeouts)
            resp = await conn.send(Request("GET", srv.url), 0)
            with pytest.raises(RequestError) as info:
                await resp.read()
            conn.abort()
            return info.value, rec

    err, rec = run(main())
    assert err.kind == "body-timeout"
    assert "0.2 s" in err.message
    done = rec.named("body_done")[0].fields
    assert done["complete"] is False and done["error"] == err.message


def test_body_done_counts_the_bytes_that_arrived_before_the_connection_was_lost() -> None:
    async def main() -> dict[str, object]:
        rec, tracer = recorder_tracer()
        async with MisbehavingServer("short-body") as srv:  # 10 of 100 bytes, then FIN
            conn = await open_h1(loopback(srv.port), tracer)
            resp = await conn.send(Request("GET", srv.url), 0)
            with pytest.raises(RequestError):
                await resp.read()
            conn.abort()
        return rec.named("body_done")[0].fields

    done = run(main())
    assert done["complete"] is False
    assert done["bytes"] == 10
