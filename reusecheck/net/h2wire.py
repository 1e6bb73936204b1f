"""HTTP/2 bytes reusecheck handles outside h2's state machine: GOAWAY frames and the
DATA frames of response bodies taken out of the inbound stream, the request header
block built once per request, names for codes.

Sans-IO: ``FrameSplitter`` is fed bytes and hands them on, so it is tested with bytes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final, Protocol

import h2.errors
import h2.settings
from hpack import HeaderTuple, NeverIndexedHeaderTuple

from reusecheck.net.request import Request

# Frame types and flags (RFC 9113 sections 6.1, 6.2, 6.6, 6.8, 6.9, 6.10).
DATA: Final = 0x0
HEADERS: Final = 0x1
PUSH_PROMISE: Final = 0x5
GOAWAY: Final = 0x7
WINDOW_UPDATE: Final = 0x8
CONTINUATION: Final = 0x9
END_STREAM: Final = 0x1
END_HEADERS: Final = 0x4
PADDED: Final = 0x8
# The connection's share of the DATA taken out is given back once it reaches this.  h2
# gives back its own share at half the 1 GiB window: the two together stay below the
# window, so the server never waits for it.
CONNECTION_ACK: Final = 1 << 28


class BodyStream(Protocol):
    """What the splitter needs of a stream whose DATA frames it takes out."""

    def take(self, data: bytes, begin: int, end: int) -> bool:
        """Count ``data[begin:end]``; False when the body outgrew its Content-Length."""
        ...


class FrameSplitter:
    """Finds frame boundaries in the inbound bytes (9-byte headers, cheap) and takes two
    kinds of frame out, so h2 never sees them:

    - GOAWAY: h2 moves to CLOSED on receiving it and then rejects the frames of streams
      the server is still finishing (python-hyper/h2#1181), yet a graceful GOAWAY, as
      nginx sends at keepalive_requests, comes *before* those responses.
    - DATA of a stream in ``receiving`` (its response headers went through h2, and
      neither END_STREAM nor RST_STREAM yet): counted here (``take``), padding skipped,
      its flow-control window given back by ``window_updates``.  h2's cost is per
      frame: it copies each payload three times and formats every frame for its trace
      log even when nothing logs (``repr`` of a DATA frame hex-encodes the payload),
      which held a 100 MiB download to a third of curl's rate.  END_STREAM goes to
      ``body_end``, which makes h2's Content-Length check and ends the stream in h2.

    Everything else reaches h2 in order, and so does the DATA h2 must judge: a stream
    not in ``receiving`` (idle, closed, reset, stream 0), an oversized frame, bad
    padding, DATA inside a header block.  Whatever precedes a DATA frame taken out goes
    to h2 first (its frames, a RST_STREAM or trailers, may end that stream).  One check
    of h2's is not made for the DATA taken out: a server sending past the window it was
    given (h2's FlowControlError); nothing is buffered here, the bytes are only counted.
    """

    __slots__ = (
        "_body_end",
        "_conn_unacked",
        "_dead",
        "_goaway",
        "_header_block",
        "_hold",
        "_max_frame",
        "_pad_left",
        "_receiving",
        "_skip",
        "_take",
        "_take_end",
        "_take_left",
        "_to_h2",
        "_unacked",
    )

    def __init__(
        self,
        receiving: Mapping[int, BodyStream],
        to_h2: Callable[[bytes], bool],
        goaway: Callable[[bytes], None],
        body_end: Callable[[Any], bool],
        max_frame_size: int = 16384,
    ) -> None:
        """``receiving``: the streams whose DATA is taken out, by id (the host keeps it).
        ``to_h2`` gets the bytes for h2, ``goaway`` GOAWAY payloads, ``body_end`` a
        stream whose END_STREAM was taken out or whose body outgrew its Content-Length;
        both return False when the connection is dead (nothing more is passed on)."""
        self._receiving = receiving
        self._to_h2 = to_h2
        self._goaway = goaway
        self._body_end = body_end
        self._max_frame = max_frame_size
        self._hold = b""  # an incomplete frame header or GOAWAY frame
        self._skip = 0  # bytes of the current frame (h2's) still to pass on
        self._header_block = False  # HEADERS without END_HEADERS: CONTINUATION is next
        self._take: Any = None  # the stream of the DATA frame being taken out
        self._take_left = 0  # that frame's body bytes still to come
        self._pad_left = 0  # then its padding
        self._take_end = False  # then its END_STREAM
        self._unacked: dict[int, int] = {}  # stream id -> bytes taken, window not given back
        self._conn_unacked = 0
        self._dead = False  # a callback said the connection is dead: pass nothing on

    def feed(self, data: bytes) -> None:
        """Pass ``data`` on, in order."""
        if self._dead:
            return
        if self._hold:
            data = self._hold + data
            self._hold = b""
        n = len(data)
        pos = start = 0
        if self._skip:
            pos = min(self._skip, n)
            self._skip -= pos
        elif self._take is not None:
            pos = start = self._take_rest(data, 0, n)
            if pos < 0:
                return
        receiving = self._receiving
        while pos < n:
            if n - pos < 9:
                break
            length = (data[pos] << 16) | (data[pos + 1] << 8) | data[pos + 2]
            ftype = data[pos + 3]
            end = pos + 9 + length
            if ftype == DATA and not self._header_block:
                sid = int.from_bytes(data[pos + 5 : pos + 9], "big") & 0x7FFFFFFF
                s = receiving.get(sid)
                if s is not None and length <= self._max_frame:
                    flags = data[pos + 4]
                    body, skip = length, 0
                    if flags & PADDED:
                        if length and n - pos < 10:
                            break  # its pad length comes with the next read
                        # The pad length byte counts in the frame's length (RFC 9113 6.1);
                        # padding as long as the frame is h2's to reject (body < 0).
                        body, skip = length - 1 - (data[pos + 9] if length else 0), 1
                    if body >= 0:
                        if start < pos:
                            if not self._to_h2(data[start:pos]):
                                self._dead = True
                                return
                            start = pos
                            if sid not in receiving:
                                continue  # ended by what came before: h2 judges this one
                        unacked = self._unacked
                        unacked[sid] = unacked.get(sid, 0) + length
                        self._conn_unacked += length
                        self._take, self._take_left = s, body
                        self._pad_left, self._take_end = (
                            length - skip - body,
                            bool(flags & END_STREAM),
                        )
                        pos = start = self._take_rest(data, pos + 9 + skip, n)
                        if pos < 0:
                            return
                        continue
            elif ftype == GOAWAY:
                if end > n:
                    break
                if not self._to_h2(data[start:pos]):
                    self._dead = True
                    return
                self._goaway(data[pos + 9 : end])
                start = pos = end
                continue
            elif ftype in (HEADERS, PUSH_PROMISE, CONTINUATION):
                self._header_block = not data[pos + 4] & END_HEADERS
            if end > n:
                self._skip = end - n
                pos = n
                break
            pos = end
        self._hold = data[pos:] if pos < n else b""
        if not self._to_h2(data[start:pos]):
            self._dead = True

    def _take_rest(self, data: bytes, pos: int, n: int) -> int:
        """Take the DATA frame in progress from ``pos``: where the bytes after it start
        (``n`` when it goes on in the next read), or -1 when the connection is dead."""
        s = self._take
        k = min(self._take_left, n - pos)
        if k:
            self._take_left -= k
            if not s.take(data, pos, pos + k):
                self._body_end(s)  # longer than its Content-Length: a connection error
                self._dead = True
                return -1
            pos += k
        p = min(self._pad_left, n - pos)
        self._pad_left -= p
        pos += p
        if self._take_left or self._pad_left:
            return pos
        self._take = None
        if self._take_end and not self._body_end(s):
            self._dead = True
            return -1
        return pos

    def window_updates(self, stream_ack: int) -> bytes:
        """WINDOW_UPDATE frames giving back the window of the DATA taken out, as h2
        does for its own: a stream's once its share reaches ``stream_ack`` (half its
        window), the connection's at CONNECTION_ACK.  A stream that ended needs none."""
        out = b""
        unacked = self._unacked
        if unacked:
            receiving = self._receiving
            for sid, size in list(unacked.items()):
                if sid not in receiving:
                    del unacked[sid]
                elif size >= stream_ack:
                    out += window_update(sid, size)
                    del unacked[sid]
        if self._conn_unacked >= CONNECTION_ACK:
            out += window_update(0, self._conn_unacked)
            self._conn_unacked = 0
        return out


def window_update(stream_id: int, increment: int) -> bytes:
    return (
        bytes((0, 0, 4, WINDOW_UPDATE, 0))
        + stream_id.to_bytes(4, "big")
        + increment.to_bytes(4, "big")
    )


def end_of_stream(stream_id: int) -> bytes:
    """What tells h2 that a stream whose DATA was taken out ended: an empty trailer
    block with END_STREAM (HEADERS, RFC 9113 8.1).  h2 closes the stream as for the
    END_STREAM of a DATA frame, and checks no Content-Length against trailers: the
    check is the splitter's host's, on the bytes it counted."""
    return bytes((0, 0, 0, HEADERS, END_STREAM | END_HEADERS)) + stream_id.to_bytes(4, "big")


def content_length(headers: list[tuple[bytes, bytes]]) -> int | None:
    """A response's Content-Length (h2 validated it when the headers arrived: digits,
    and no two different values)."""
    for name, value in headers:
        if name == b"content-length":
            return int(value)
    return None


def body_length_error(expected: int, received: int) -> str:
    """h2's text for a body that does not match its Content-Length."""
    return f"InvalidBodyLengthError: Expected {expected} bytes, received {received}"


def parse_goaway(payload: bytes) -> tuple[int, int, bytes | None] | None:
    """(error code, last stream id, additional data) of a GOAWAY payload; None when it
    is too short to hold them (RFC 9113 6.8)."""
    if len(payload) < 8:
        return None
    return (
        int.from_bytes(payload[4:8], "big"),
        int.from_bytes(payload[0:4], "big") & 0x7FFFFFFF,
        bytes(payload[8:]) or None,
    )


# Hop-by-hop headers are forbidden in HTTP/2 (RFC 9113 8.2.2).
_DROP = frozenset(
    {
        b"host",
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"transfer-encoding",
        b"upgrade",
        b"te",
    }
)


# Kept out of HPACK's dynamic table, as h2's own outbound normalisation does (Firefox's
# and nghttp2's rule); done here because that normalisation is turned off (see below).
_SECRET = frozenset({b"authorization", b"proxy-authorization"})


SETTING_NAMES = {
    h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: "max_concurrent_streams",
    h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: "initial_window_size",
    h2.settings.SettingCodes.MAX_FRAME_SIZE: "max_frame_size",
    h2.settings.SettingCodes.MAX_HEADER_LIST_SIZE: "max_header_list_size",
    h2.settings.SettingCodes.HEADER_TABLE_SIZE: "header_table_size",
}


def code_name(code: Any) -> str:
    try:
        return h2.errors.ErrorCodes(code).name
    except ValueError:
        return f"0x{int(code):x}"


def request_headers(req: Request, scheme: str) -> list[HeaderTuple]:
    """The request's HTTP/2 header block, built once per Request and reused.

    What h2's outbound normalisation would do per send: names lower-cased, hop-by-hop
    headers dropped (RFC 9113 8.2.2), Authorization and short Cookie values made
    never-indexed (RFC 7541 7.1.3).
    """
    key = ("h2", scheme)
    cached = req.wire_cache.get(key)
    if cached is None:
        headers = [
            HeaderTuple(b":method", req.method.encode()),
            HeaderTuple(b":authority", req.host.encode("latin-1")),
            HeaderTuple(b":scheme", scheme.encode()),
            HeaderTuple(b":path", req.target.encode()),
        ]
        for n, v in req.wire_headers:
            name = n.lower()
            if name in _DROP:
                continue
            secret = name in _SECRET or (name == b"cookie" and len(v) < 20)
            headers.append((NeverIndexedHeaderTuple if secret else HeaderTuple)(name, v))
        cached = req.wire_cache[key] = headers
        # What the trace says was sent: this block, pseudo-headers included (a Host
        # given with -H is :authority here; hop-by-hop headers are not sent at all).
        req.wire_cache[("h2-trace", scheme)] = [
            [n.decode("latin-1"), v.decode("latin-1")] for n, v in headers
        ]
    return cached  # type: ignore[return-value]


def sent_pairs(req: Request, scheme: str) -> list[list[str]]:
    """The header block ``request_headers`` built, as the trace shows it."""
    request_headers(req, scheme)
    return req.wire_cache[("h2-trace", scheme)]  # type: ignore[return-value]
