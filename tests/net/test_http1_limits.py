"""HTTP/1.1: what a server controls is bounded: informational responses, waits held
open by bytes that are not progress, a request the server never reads, the headers
one response puts in the record, and bytes that answer no request.

Memory is checked by counting what the record holds (header pairs); time only as
"ended within its timeouts plus a margin".
"""

from __future__ import annotations

import asyncio
import time

from reusecheck.net.dial import Timeouts
from reusecheck.net.errors import RequestError
from reusecheck.net.h1wire import MAX_INFORMATIONAL, said_408
from reusecheck.net.http1 import HTTP1Connection
from reusecheck.net.request import Request
from reusecheck.server.misbehave import MisbehavingServer
from reusecheck.trace import Event
from reusecheck.trace.vocab import RECORD_HEADER_BYTES, RECORD_HEADER_PAIRS
from tests.net.wire import ScriptedServer, loopback, open_h1, read_head, recorder_tracer, run

QUICK = Timeouts(connect=2.0, tls=2.0, first_byte=0.5, body=0.5)
PATIENT = Timeouts(connect=2.0, tls=2.0, first_byte=10.0, body=10.0)
MARGIN = 1.5  # seconds a loaded machine may add to a timeout


async def _get(conn: HTTP1Connection, url: str, index: int = 0) -> int:
    resp = await conn.send(Request("GET", url), index)
    return await resp.read()


def _named(events: list[Event], name: str) -> list[Event]:
    return [e for e in events if e.event == name]


async def _failure(conn: HTTP1Connection, url: str) -> tuple[RequestError, float]:
    started = time.monotonic()
    try:
        await _get(conn, url)
    except RequestError as exc:
        return exc, time.monotonic() - started
    raise AssertionError("the request succeeded")


# -- 3. Informational responses ---------------------------------------------------------


def test_endless_early_hints_end_at_the_sixth_as_in_go() -> None:
    async def main() -> RequestError:
        _, tracer = recorder_tracer()
        async with MisbehavingServer("early-hints") as srv:
            conn = await open_h1(loopback(srv.port), tracer, PATIENT)
            err, _ = await _failure(conn, srv.url)
            conn.abort()
            return err

    err = run(main())
    assert err.kind == "protocol"
    assert f"{MAX_INFORMATIONAL + 1} informational responses (103 Early Hints)" in err.message


def test_a_few_early_hints_before_the_response_are_fine() -> None:
    hint = b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n"

    async def handler(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        await read_head(r)
        w.write(hint * MAX_INFORMATIONAL + b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await r.read()

    async def main() -> int:
        _, tracer = recorder_tracer()
        async with ScriptedServer(handler) as srv:
            conn = await open_h1(srv.key, tracer, QUICK)
            n = await _get(conn, srv.url)
            conn.close()
            return n

    assert run(main()) == 2


def test_early_hints_dripped_byte_by_byte_do_not_extend_the_first_byte_wait() -> None:
    """One byte every 50 ms: each wakes the reader, none is the response's."""
    hint = b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n"

    async def handler(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        await read_head(r)
        while True:
            for i in range(len(hint)):
                w.write(hint[i : i + 1])
                await asyncio.sleep(0.05)

    async def main() -> tuple[RequestError, float]:
        _, tracer = recorder_tracer()
        async with ScriptedServer(handler) as srv:
            conn = await open_h1(srv.key, tracer, QUICK)
            got = await _failure(conn, srv.url)
            conn.abort()
            return got

    err, took = run(main())
    assert err.kind == "first-byte-timeout"
    # "HTTP/1.1 " could still begin the response; its "1" says it does not.
    assert took < QUICK.first_byte + 10 * 0.05 + MARGIN


def test_a_response_head_sent_slowly_is_progress() -> None:
    """The other side of the rule: bytes of the response's own head extend the wait."""
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"

    async def handler(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        await read_head(r)
        for i in range(len(head)):
            w.write(head[i : i + 1])
            await asyncio.sleep(0.03)
        await r.read()

    async def main() -> int:
        _, tracer = recorder_tracer()
        async with ScriptedServer(handler) as srv:
            conn = await open_h1(srv.key, tracer, QUICK)
            n = await _get(conn, srv.url)
            conn.close()
            return n

    assert run(main()) == 2  # 1.2 s in all, never 0.5 s without a byte


# -- 4. The body wait runs from the last body byte ---------------------------------------


def test_chunk_framing_without_data_is_not_body_progress() -> None:
    """A chunk header dripped forever (a chunk extension that never ends) wakes the
    reader with every byte, and brings no body byte."""

    async def handler(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        await read_head(r)
        w.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n5;x=")
        while True:
            w.write(b"a")
            await asyncio.sleep(0.05)

    async def main() -> tuple[RequestError, float, int]:
        _, tracer = recorder_tracer()
        async with ScriptedServer(handler) as srv:
            conn = await open_h1(srv.key, tracer, QUICK)
            resp = await conn.send(Request("GET", srv.url), 0)
            started = time.monotonic()
            try:
                await resp.read()
            except RequestError as exc:
                conn.abort()
                return exc, time.monotonic() - started, resp.bytes_read
            raise AssertionError("the body ended")

    err, took, read = run(main())
    assert err.kind == "body-timeout"
    assert read == 3
    assert took < QUICK.body + MARGIN


# -- 5. A request the server never reads ---------------------------------------------


def test_a_request_body_the_server_never_reads_is_a_write_timeout() -> None:
    size = 16 << 20

    async def main() -> tuple[RequestError, float, list[Event]]:
        rec, tracer = recorder_tracer()
        async with MisbehavingServer("never-read") as srv:
            conn = await open_h1(loopback(srv.port), tracer, QUICK)
            started = time.monotonic()
            try:
                await conn.send(Request("POST", srv.url, body=b"x" * size), 0)
            except RequestError as exc:
                conn.abort()
                return exc, time.monotonic() - started, rec.events
            raise AssertionError("the request was written")

    err, took, events = run(main())
    assert err.kind == "write-timeout"
    assert "stopped reading the request" in err.message
    assert took < QUICK.body + MARGIN
    (wrote,) = _named(events, "wrote_request")
    assert wrote.fields["error"] == err.message
    assert 0 < wrote.fields["bytes"] < size


# -- 2. The headers one response puts in the record -----------------------------------


def test_ten_thousand_headers_are_recorded_as_a_capped_prefix_with_a_count() -> None:
    async def main() -> list[Event]:
        rec, tracer = recorder_tracer()
        async with MisbehavingServer("many-headers") as srv:
            conn = await open_h1(loopback(srv.port), tracer, QUICK)
            for i in range(3):
                await _get(conn, srv.url, i)
                assert conn.finish_cycle() is None  # kept alive, as the pool would
            conn.close()
        return rec.events

    events = run(main())
    heads = _named(events, "response_headers")
    assert len(heads) == 3
    for e in heads:
        assert len(e.fields["headers"]) == RECORD_HEADER_PAIRS
        assert e.fields["headers_omitted"] == 10_002 - RECORD_HEADER_PAIRS
    # Identical headers on one connection share one list, however many responses.
    assert heads[0].fields["headers"] is heads[2].fields["headers"]


def test_the_byte_cap_keeps_a_prefix_and_the_connection_headers_are_still_read() -> None:
    filler = b"".join(b"X-Filler-%02d: %s\r\n" % (i, b"a" * 1000) for i in range(40))

    async def handler(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        await read_head(r)
        w.write(
            b"HTTP/1.1 200 OK\r\n"
            + filler
            + b"Keep-Alive: timeout=5, max=100\r\nContent-Length: 2\r\n\r\nok"
        )
        await r.read()

    async def main() -> list[Event]:
        rec, tracer = recorder_tracer()
        async with ScriptedServer(handler) as srv:
            conn = await open_h1(srv.key, tracer, QUICK)
            await _get(conn, srv.url)
            conn.close()
        return rec.events

    (head,) = _named(run(main()), "response_headers")
    pairs = head.fields["headers"]
    assert sum(len(n) + len(v) for n, v in pairs) <= RECORD_HEADER_BYTES
    assert len(pairs) + head.fields["headers_omitted"] == 42
    assert [n for n, _ in pairs] == [f"x-filler-{i:02d}" for i in range(len(pairs))]
    assert head.fields["keep_alive"] == "timeout=5, max=100"


def test_a_few_headers_carry_no_omitted_count() -> None:
    async def handler(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        await read_head(r)
        w.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await r.read()

    async def main() -> list[Event]:
        rec, tracer = recorder_tracer()
        async with ScriptedServer(handler) as srv:
            conn = await open_h1(srv.key, tracer, QUICK)
            await _get(conn, srv.url)
            conn.close()
        return rec.events

    (head,) = _named(run(main()), "response_headers")
    assert "headers_omitted" not in head.fields


# -- 6. Bytes that answer no request --------------------------------------------------


def test_bytes_after_a_response_make_it_whole_and_the_connection_done() -> None:
    async def main() -> tuple[int, str | None, HTTP1Connection]:
        _, tracer = recorder_tracer()
        async with MisbehavingServer("extra-body") as srv:
            conn = await open_h1(loopback(srv.port), tracer, QUICK)
            n = await _get(conn, srv.url)
            reason = conn.finish_cycle()
            conn.close()
            return n, reason, conn

    n, reason, conn = run(main())
    assert n == 5
    assert reason == "unsolicited-response"
    assert conn.unsolicited == b", and then some" and conn.stray_response()


def test_a_408_is_the_servers_idle_close_not_a_stray_response() -> None:
    assert said_408(b"HTTP/1.1 408 Request Timeout\r\n")
    assert said_408(b"HTTP/1.0 408 \r\n")
    assert not said_408(b"HTTP/1.1 200 OK\r\n")
    assert not said_408(b", and then some")
