"""Response bodies over HTTP/2, whose DATA frames the connection counts itself
(``h2wire.FrameSplitter``) rather than through h2: the count, flow control, the
Content-Length check h2 would make, padding.  Real sockets on 127.0.0.1: the built-in
server over TLS (certificates made by the server for the test), and for frames it
never sends (padding, a short body) raw frames written by the test (tests/net/wire.py).
"""

from __future__ import annotations

import asyncio
import struct

import hpack
import pytest

from reusecheck.net.conn import ConnState
from reusecheck.net.dial import ConnectionKey, Timeouts, dial
from reusecheck.net.errors import RequestError
from reusecheck.net.http2 import STREAM_WINDOW, HTTP2Connection
from reusecheck.net.request import Request
from reusecheck.net.response import Response
from reusecheck.net.tls import TLSOptions
from reusecheck.server import ServerConfig, TargetServer
from tests.net.wire import (
    DATA,
    END_HEADERS,
    END_STREAM,
    FAST,
    HEADERS,
    SETTINGS,
    H2Peer,
    ScriptedServer,
    frame,
    open_h2,
    recorder_tracer,
    run,
)

PADDED, WINDOW_UPDATE = 0x8, 0x8
FRAME = 16384  # SETTINGS_MAX_FRAME_SIZE's default, which the client keeps


async def stream(conn: HTTP2Connection, url: str, index: int) -> Response:
    conn.reserve()
    resp = await conn.send(Request("GET", url), index)
    await resp.read()
    return resp


def test_a_large_body_across_many_data_frames_is_counted_exactly() -> None:
    size = 5 * 1024 * 1024 + 7  # over 320 frames of at most 16 KiB, and a ragged end

    async def main() -> tuple[list[Response], int]:
        _, tracer = recorder_tracer()
        async with TargetServer(ServerConfig(tls=True, h2=True)) as srv:
            key = ConnectionKey("https", "127.0.0.1", srv.port)
            tls = TLSOptions(cacert=str(srv.ca_path), alpn=("h2",))
            dialed = await dial(key, 1, 0, tracer, FAST, tls)
            conn = HTTP2Connection(1, key, dialed, tracer, FAST)
            big = await stream(conn, f"{srv.url}bytes/{size}", 0)
            conn.finish_stream(big, big.complete)
            # The stream ended in h2 too: the next one opens on the same connection.
            small = await stream(conn, f"{srv.url}bytes/10", 1)
            conn.finish_stream(small, small.complete)
            open_streams = conn.h2.open_outbound_streams
            conn.close()
        return [big, small], open_streams

    (big, small), open_streams = run(main())
    assert big.bytes_read == size and big.complete
    assert small.bytes_read == 10 and small.complete and small.stream_id == 3
    assert open_streams == 0


def headers_block(encoder: hpack.Encoder, content_length: int | None) -> bytes:
    fields = [(":status", "200")]
    if content_length is not None:
        fields.append(("content-length", str(content_length)))
    return bytes(encoder.encode(fields))


async def client_settings(peer: H2Peer) -> dict[int, int]:
    """The client's preface: its SETTINGS, ACKed."""
    await peer.start({})
    head = await peer.reader.readexactly(9)
    assert head[3] == SETTINGS
    payload = await peer.reader.readexactly(int.from_bytes(head[:3], "big"))
    peer.writer.write(frame(SETTINGS, 0x1, 0))
    return {k: v for k, v in struct.iter_unpack(">HI", payload)}


def test_flow_control_keeps_a_body_going_past_the_stream_window() -> None:
    """The server sends only within the window the client gives (RFC 9113 6.9), in
    padded frames (padding counts against the window): the body arrives whole only if
    the client gives back the window for what it took out."""
    total = 3 * STREAM_WINDOW + 12345
    chunk = FRAME - 256  # padded to a full frame
    updates: list[int] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = H2Peer(reader, writer)
        window = (await client_settings(peer)).get(0x4, 65535)
        (sid,) = await peer.streams_opened(1)
        writer.write(frame(HEADERS, END_HEADERS, sid, headers_block(hpack.Encoder(), total)))
        sent = 0
        while sent < total:
            body = min(chunk, total - sent)
            if window < body + 256:
                ftype, _, stream_id, payload = await peer.frame()
                if ftype == WINDOW_UPDATE and stream_id == sid:
                    updates.append(int.from_bytes(payload, "big"))
                    window += updates[-1]
                continue
            sent += body
            flags = PADDED | (END_STREAM if sent == total else 0)
            writer.write(frame(DATA, flags, sid, b"\xff" + b"b" * body + b"\0" * 255))
            window -= body + 256
            await writer.drain()
        await reader.read()

    async def main() -> Response:
        _, tracer = recorder_tracer()
        async with ScriptedServer(handler) as srv:
            conn = await open_h2(srv.key, tracer)
            resp = await stream(conn, srv.url, 0)
            conn.close()
        return resp

    resp = run(main())
    assert resp.bytes_read == total and resp.complete
    # Given back in steps of half the window or more (h2's own rule), padding included:
    # the data alone would not have refilled what the server counted.
    frames = -(-total // (FRAME - 256))
    assert updates and min(updates) >= STREAM_WINDOW // 2
    assert sum(updates) >= total + frames * 256 - STREAM_WINDOW


def respond_in_pieces(pieces: list[bytes]) -> ScriptedServer:
    """Answers the first stream with ``pieces`` of frames, each written on its own after
    a pause, so the client reads them one by one (its headers first)."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = H2Peer(reader, writer)
        await client_settings(peer)
        (sid,) = await peer.streams_opened(1)
        assert sid == 1
        for piece in pieces:
            writer.write(piece)
            await writer.drain()
            await asyncio.sleep(0.05)
        await reader.read()

    return ScriptedServer(handler)


def fetch(server: ScriptedServer) -> tuple[Response | RequestError, ConnState]:
    async def main() -> tuple[Response | RequestError, ConnState]:
        _, tracer = recorder_tracer()
        async with server as srv:
            conn = await open_h2(srv.key, tracer)
            try:
                result: Response | RequestError = await stream(conn, srv.url, 0)
            except RequestError as exc:
                result = exc
            state = conn.state
            conn.close()
        return result, state

    return run(main())


@pytest.mark.parametrize("split", [True, False], ids=["taken-out", "through-h2"])
@pytest.mark.parametrize(
    "bodies",
    [[b"abcd"], [b"abcdefgh", b"ijkl"]],
    ids=["shorter", "longer"],
)
def test_a_body_unlike_its_content_length_fails_the_request(
    bodies: list[bytes], split: bool
) -> None:
    """A body shorter or longer than its Content-Length is malformed (RFC 9113 8.1.1):
    the connection error h2 raises, whether the DATA went through h2 (in the same read
    as the headers) or was counted by the connection (after them)."""
    head = frame(HEADERS, END_HEADERS, 1, headers_block(hpack.Encoder(), 10))
    data = [
        frame(DATA, END_STREAM if i == len(bodies) - 1 else 0, 1, b) for i, b in enumerate(bodies)
    ]
    pieces = [head, *data] if split else [head + b"".join(data)]
    result, state = fetch(respond_in_pieces(pieces))
    assert isinstance(result, RequestError)
    received = sum(map(len, bodies))
    assert result.kind == "protocol"
    assert f"Expected 10 bytes, received {received}" in result.message
    assert state is ConnState.CLOSED


def test_a_body_as_long_as_its_content_length_in_many_reads_completes() -> None:
    head = frame(HEADERS, END_HEADERS, 1, headers_block(hpack.Encoder(), 12))
    pieces = [head, frame(DATA, 0, 1, b"abcd"), frame(DATA, 0, 1), frame(DATA, 1, 1, b"x" * 8)]
    result, state = fetch(respond_in_pieces(pieces))
    assert isinstance(result, Response)
    assert result.bytes_read == 12 and result.complete
    assert state is not ConnState.CLOSED


def test_padding_is_not_body() -> None:
    """Padded DATA frames (RFC 9113 6.1): only their data is body, Content-Length
    included; a pad length of 0, the longest one, one split across reads."""
    head = frame(HEADERS, END_HEADERS, 1, headers_block(hpack.Encoder(), 10 + 200 + 3))

    def padded(body: bytes, pad: int, flags: int = 0) -> bytes:
        return frame(DATA, flags | PADDED, 1, bytes([pad]) + body + b"\0" * pad)

    last = padded(b"end", 100, END_STREAM)
    pieces = [
        head,
        padded(b"p" * 10, 0) + padded(b"q" * 200, 255) + last[:9],  # pad length next read
        last[9:60],
        last[60:],
    ]
    result, _ = fetch(respond_in_pieces(pieces))
    assert isinstance(result, Response)
    assert result.bytes_read == 213 and result.complete


def test_padding_longer_than_its_frame_is_a_protocol_error() -> None:
    head = frame(HEADERS, END_HEADERS, 1, headers_block(hpack.Encoder(), None))
    bad = frame(DATA, PADDED | END_STREAM, 1, b"\x09abc")  # 9 bytes of padding in 4
    result, state = fetch(respond_in_pieces([head, bad]))
    assert isinstance(result, RequestError) and result.kind == "protocol"
    assert "padding" in result.message
    assert state is ConnState.CLOSED


def test_a_stream_given_up_mid_body_is_still_counted_to_its_end() -> None:
    """A stream dropped after a body timeout (as the pool drops a failed one: no
    RST_STREAM) goes on arriving: its length is checked on all of it, so the
    connection and its next stream are unharmed."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = H2Peer(reader, writer)
        await client_settings(peer)
        encoder = hpack.Encoder()
        (sid,) = await peer.streams_opened(1)
        writer.write(frame(HEADERS, END_HEADERS, sid, headers_block(encoder, 10)))
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.write(frame(DATA, 0, sid, b"abcd"))
        await asyncio.sleep(0.5)  # past the client's body timeout
        writer.write(frame(DATA, END_STREAM, sid, b"efghij"))
        (sid,) = await peer.streams_opened(1)
        writer.write(frame(HEADERS, END_HEADERS, sid, headers_block(encoder, 2)))
        writer.write(frame(DATA, END_STREAM, sid, b"ok"))
        await reader.read()

    async def main() -> tuple[RequestError, Response, ConnState]:
        _, tracer = recorder_tracer()
        async with ScriptedServer(handler) as srv:
            conn = await open_h2(srv.key, tracer, Timeouts(2.0, 2.0, 2.0, body=0.2))
            with pytest.raises(RequestError) as info:
                await stream(conn, srv.url, 0)
            conn.drop_stream(1)
            conn.release()
            await asyncio.sleep(0.5)  # the rest of stream 1 arrives
            second = await stream(conn, srv.url, 1)
            state = conn.state
            conn.close()
        return info.value, second, state

    err, second, state = run(main())
    assert err.kind == "body-timeout"
    assert second.bytes_read == 2 and second.complete
    assert state is not ConnState.CLOSED
