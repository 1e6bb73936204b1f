"""FrameSplitter on bytes: which frames reach h2, which DATA it takes out and counts,
and the window it gives back, whatever the reads' boundaries (RFC 9113 4.1, 6.1)."""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest

from reusecheck.net.h2wire import CONNECTION_ACK, FrameSplitter, window_update
from tests.net.wire import DATA, HEADERS, SETTINGS, frame, goaway_frame

PADDED, END_STREAM, WINDOW_UPDATE = 0x8, 0x1, 0x8


Log = list[tuple[str, bytes | int]]


class Body:
    """A receiving stream as the splitter sees it; ``limit`` stands for a
    Content-Length the body must not outgrow."""

    def __init__(self, log: Log | None = None, limit: int | None = None) -> None:
        self.body = bytearray()
        self.size = 0
        self.limit = limit
        self.log = log

    def take(self, data: bytes, begin: int, end: int) -> bool:
        if self.size < 4096:
            self.body += data[begin:end]
            if self.log is not None:
                self.log.append(("take", data[begin:end]))
        self.size += end - begin
        return self.limit is None or self.size <= self.limit


class Host:
    """Records, in order, what the splitter hands on."""

    def __init__(self, streams: dict[int, Body], log: Log | None = None) -> None:
        self.streams = streams
        self.log: Log = [] if log is None else log
        self.splitter = FrameSplitter(streams, self.to_h2, self.goaway, self.body_end)

    def to_h2(self, data: bytes) -> bool:
        if data:
            self.log.append(("h2", data))
        return True

    def goaway(self, payload: bytes) -> None:
        self.log.append(("goaway", payload))

    def body_end(self, s: Body) -> bool:
        sid = next(k for k, v in self.streams.items() if v is s)
        del self.streams[sid]  # what the connection does on the END_STREAM h2 is told of
        self.log.append(("end", sid))
        return s.limit is None or s.size <= s.limit

    def merged(self) -> Log:
        """The log with pieces joined: a read boundary splits h2's bytes and a body."""
        out: Log = []
        for kind, value in self.log:
            if kind in ("h2", "take") and out and out[-1][0] == kind:
                prev = out[-1][1]
                assert isinstance(prev, bytes) and isinstance(value, bytes)
                out[-1] = (kind, prev + value)
            else:
                out.append((kind, value))
        return out


def padded(stream: int, body: bytes, pad: int, flags: int = 0) -> bytes:
    return frame(DATA, flags | PADDED, stream, bytes([pad]) + body + b"\0" * pad)


SETTINGS_FRAME = frame(SETTINGS, 0, 0, b"\0\x03\0\0\0\x64")
OTHER_STREAM = frame(DATA, 0, 3, b"x" * 20)  # stream 3 is not receiving: h2's
WINDOW = frame(WINDOW_UPDATE, 0, 0, (1000).to_bytes(4, "big"))
AFTER_END = frame(DATA, 0, 1, b"late")  # stream 1 ended: h2 judges it
WIRE = b"".join(
    [
        SETTINGS_FRAME,
        frame(DATA, 0, 1, b"a" * 100),
        WINDOW,
        padded(1, b"b" * 50, 7),
        padded(1, b"c" * 10, 0),
        OTHER_STREAM,
        goaway_frame(5),
        padded(1, b"", 3),
        frame(DATA, END_STREAM, 1, b"d" * 30),
        AFTER_END,
    ]
)
EXPECTED: Log = [
    ("h2", SETTINGS_FRAME),
    ("take", b"a" * 100),
    ("h2", WINDOW),
    ("take", b"b" * 50 + b"c" * 10),
    ("h2", OTHER_STREAM),
    ("goaway", goaway_frame(5)[9:]),
    ("take", b"d" * 30),
    ("end", 1),
    ("h2", AFTER_END),
]


def feed(wire: bytes, pieces: list[int], streams: dict[int, Body], log: Log | None = None) -> Host:
    host = Host(streams, log)
    at = 0
    for size in [*pieces, len(wire)]:
        host.splitter.feed(wire[at : at + size])
        at += size
        if at >= len(wire):
            break
    return host


def splits(n: int) -> Iterator[list[int]]:
    """Every two-read split, one byte a read, and random reads."""
    for i in range(1, n):
        yield [i]
    yield [1] * n
    rng = random.Random(9113)
    for _ in range(50):
        yield [rng.randint(1, 40) for _ in range(n)]


def test_data_of_a_receiving_stream_is_taken_out_and_the_rest_reaches_h2_in_order() -> None:
    for pieces in splits(len(WIRE)):
        log: Log = []
        body = Body(log)
        host = feed(WIRE, pieces, {1: body}, log)
        assert bytes(body.body) == b"a" * 100 + b"b" * 50 + b"c" * 10 + b"d" * 30, pieces
        assert host.merged() == EXPECTED, pieces


class EndingHost(Host):
    """Its h2 ends stream 1 on the first frames it is given (trailers, a RST_STREAM)."""

    def to_h2(self, data: bytes) -> bool:
        if data:
            self.streams.pop(1, None)
        return super().to_h2(data)


def test_what_precedes_a_taken_frame_reaches_h2_first() -> None:
    trailers = frame(HEADERS, END_STREAM | 0x4, 1)
    wire = trailers + frame(DATA, 0, 1, b"zz")  # DATA after the end: h2 rejects it
    for pieces in splits(len(wire)):
        body = Body()
        host = EndingHost({1: body})
        at = 0
        for size in [*pieces, len(wire)]:
            host.splitter.feed(wire[at : at + size])
            at += size
        assert body.body == b"" and host.merged() == [("h2", wire)], pieces


@pytest.mark.parametrize(
    "data",
    [
        frame(DATA, PADDED, 1, b"\x04abc"),  # padding as long as the frame: invalid
        frame(DATA, PADDED, 1),  # PADDED with no pad length byte
        frame(DATA, 0, 1, b"x" * 16385),  # over SETTINGS_MAX_FRAME_SIZE
        frame(HEADERS, 0, 1, b"\x88") + frame(DATA, 0, 1, b"x"),  # inside a header block
        frame(DATA, 0, 0, b"x"),  # stream 0
    ],
    ids=["padding-too-long", "padded-empty", "oversized", "in-header-block", "stream-0"],
)
def test_data_h2_must_judge_is_left_to_it(data: bytes) -> None:
    for pieces in splits(len(data)):
        body = Body()
        host = feed(data, pieces, {1: body})
        assert body.body == b"" and host.merged() == [("h2", data)], pieces


def test_a_body_that_outgrows_its_content_length_stops_everything() -> None:
    wire = frame(DATA, 0, 1, b"x" * 8) + frame(DATA, 0, 1, b"y" * 8) + SETTINGS_FRAME
    for pieces in splits(len(wire)):
        body = Body(limit=10)
        host = feed(wire, pieces, {1: body})
        assert host.merged() == [("end", 1)], pieces  # nothing after it reaches h2


def test_the_window_given_back_counts_padding_once_half_the_window_arrived() -> None:
    # Flow control counts the whole payload: pad length byte and padding too (6.9.1).
    wire = padded(1, b"x" * 1000, 255) + frame(DATA, 0, 1, b"y" * 500) + padded(3, b"z", 0)
    host = Host({1: Body(), 3: Body()})
    host.splitter.feed(wire)
    assert host.splitter.window_updates(stream_ack=2000) == b""  # 1,756 and 2: below it
    host.splitter.feed(frame(DATA, 0, 1, b"w" * 300))
    assert host.splitter.window_updates(stream_ack=2000) == window_update(1, 2056)
    assert host.splitter.window_updates(stream_ack=2000) == b""  # given back once
    del host.streams[3]  # ended: its share needs no WINDOW_UPDATE
    assert host.splitter.window_updates(stream_ack=1) == b""


def test_the_connections_window_is_given_back_in_large_steps() -> None:
    body = Body()
    host = Host({1: body})
    chunk = frame(DATA, 0, 1, b"x" * 16384)
    per_read = chunk * 64
    reads = CONNECTION_ACK // len(per_read) * 9 // 8 + 1
    updates = b""
    for _ in range(reads):
        host.splitter.feed(per_read)
        updates += host.splitter.window_updates(stream_ack=1 << 40)
    assert len(updates) == 13  # one connection-level WINDOW_UPDATE
    assert updates[3] == WINDOW_UPDATE and updates[5:9] == b"\0\0\0\0"
    assert int.from_bytes(updates[9:13], "big") >= CONNECTION_ACK
