"""Random and mutated server bytes through the HTTP/1.1 and HTTP/2 client, over a socket.

The invariant a user relies on: whatever the server sends, a request ends with a
response or a RequestError (a clean, named error), within its timeouts; no other
exception escapes, nothing hangs. docs/reliability.md records the case counts.
"""

from __future__ import annotations

import asyncio
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reusecheck.net.dial import Timeouts
from reusecheck.net.errors import RequestError
from reusecheck.net.request import Request
from reusecheck.pool import Pool, PoolOptions
from reusecheck.trace import NullSink, Tracer
from reusecheck.trace.vocab import ERROR_KINDS

CASES = 100  # per test; recorded in docs/reliability.md
FAST = Timeouts(connect=1.0, tls=1.0, first_byte=0.1, body=0.1)

VALID_H1 = (
    b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: keep-alive\r\n\r\nhello",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok",
    b"HTTP/1.1 204 No Content\r\n\r\n",
    b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
)


def _frame(ftype: int, flags: int, stream: int, payload: bytes) -> bytes:
    return (
        struct.pack(">I", len(payload))[1:]
        + bytes([ftype, flags])
        + struct.pack(">I", stream)
        + payload
    )


VALID_H2 = (
    _frame(0x4, 0, 0, b"")  # SETTINGS
    + _frame(0x4, 0x1, 0, b"")  # SETTINGS ACK
    + _frame(0x1, 0x4, 1, b"\x88")  # HEADERS :status 200, END_HEADERS
    + _frame(0x0, 0x1, 1, b"hello")  # DATA, END_STREAM
)


def _mutate(data: bytes, cuts: list[tuple[int, int, int]]) -> bytes:
    """Flip, drop or insert bytes at positions chosen by hypothesis."""
    out = bytearray(data)
    for op, pos, value in cuts:
        if not out:
            break
        i = pos % len(out)
        if op == 0:
            out[i] = value
        elif op == 1:
            del out[i]
        else:
            out.insert(i, value)
    return bytes(out)


mutations = st.lists(
    st.tuples(st.integers(0, 2), st.integers(0, 10_000), st.integers(0, 255)), max_size=6
)


class ScriptedServer:
    """Answers every connection with the current script, then keeps it open a while."""

    def __init__(self) -> None:
        self.script = b""
        self.close_after = False
        self.server: asyncio.Server | None = None

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await asyncio.wait_for(reader.read(65536), 1.0)
            writer.write(self.script)
            await writer.drain()
            if self.close_after:
                writer.close()
                return
            await asyncio.wait_for(reader.read(65536), 1.0)
        except (TimeoutError, OSError):
            pass
        finally:
            writer.close()


async def _exercise(script: bytes, http: str, close_after: bool) -> list[int]:
    srv = ScriptedServer()
    srv.script, srv.close_after = script, close_after
    server = await asyncio.start_server(srv.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    pool = Pool(Tracer(NullSink()), PoolOptions(timeouts=FAST, http=http))
    statuses: list[int] = []
    try:
        for i in range(2):  # a second request tries to reuse whatever is left
            try:
                resp = await pool.round_trip(Request("GET", f"http://127.0.0.1:{port}/"), i)
                await resp.read()
                statuses.append(resp.status)
            except RequestError as exc:
                assert exc.kind in ERROR_KINDS, exc.kind
                assert exc.message and "\n" not in exc.message
                break
    finally:
        await pool.close()
        server.close()
        await server.wait_closed()
    return statuses


def run_case(script: bytes, http: str = "1.1", close_after: bool = False) -> list[int]:
    return asyncio.run(asyncio.wait_for(_exercise(script, http, close_after), 5.0))


fuzz = settings(max_examples=CASES, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@fuzz
@given(st.binary(max_size=2048), st.booleans())
def test_random_bytes_http1(data: bytes, close_after: bool) -> None:
    run_case(data, "1.1", close_after)


@fuzz
@given(st.sampled_from(VALID_H1), mutations, st.booleans())
def test_mutated_responses_http1(
    base: bytes, cuts: list[tuple[int, int, int]], close: bool
) -> None:
    run_case(_mutate(base, cuts), "1.1", close)


@fuzz
@given(st.binary(max_size=2048), st.booleans())
def test_random_bytes_h2c(data: bytes, close_after: bool) -> None:
    run_case(data, "h2c", close_after)


@fuzz
@given(mutations, st.booleans())
def test_mutated_frames_h2c(cuts: list[tuple[int, int, int]], close: bool) -> None:
    run_case(_mutate(VALID_H2, cuts), "h2c", close)


@pytest.mark.parametrize("base", VALID_H1)
def test_the_valid_seeds_really_succeed(base: bytes) -> None:
    """The mutations start from responses the client accepts: check they do."""
    assert run_case(base, "1.1")[:1] in ([200], [204])
    assert run_case(VALID_H2, "h2c")[:1] == [200]
