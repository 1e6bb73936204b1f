"""The HTTP/2 misbehaviours of ``misbehave.py`` (h2c, prior knowledge), as raw frames.

Frames are written byte by byte (RFC 9113 section 4.1) rather than with h2, because the
point is to break the protocol, or to stretch it, in exact ways: an impossible frame,
SETTINGS sent over and over, a response that never ends but keeps waking its reader.
``H2Misbehaviour`` is the h2 half of the misbehaving connection; ``misbehave._Misbehaving``
supplies the transport and the tasks.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Coroutine
from typing import Any, Final

H2_PREFACE: Final = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, RST_STREAM, SETTINGS, PING, GOAWAY = 0x0, 0x1, 0x3, 0x4, 0x6, 0x7
END_STREAM, ACK, END_HEADERS = 0x1, 0x1, 0x4
REFUSED_STREAM: Final = 0x7

# A minimal HPACK block: ":status: 200" is index 8 of the static table.
STATUS_200: Final = b"\x88"


def frame(ftype: int, flags: int, stream: int, payload: bytes) -> bytes:
    return (
        struct.pack(">I", len(payload))[1:]
        + bytes([ftype, flags])
        + struct.pack(">I", stream)
        + payload
    )


def settings(**values: int) -> bytes:
    codes = {"window": 0x4, "streams": 0x3}
    payload = b"".join(struct.pack(">HI", codes[k], v) for k, v in values.items())
    return frame(SETTINGS, 0, 0, payload)


# What the flooding kinds send, 64 KiB at a time: the same SETTINGS frame (the values of
# the preface, so nothing changes) over and over, each of which the client must ACK.
_SETTINGS_FLOOD: Final = settings(streams=100) * (64 * 1024 // len(settings(streams=100)))
# Empty DATA frames on a stream: each wakes the client's reader, none is body.
_EMPTY_DATA_BURST: Final = 50


class H2Misbehaviour:
    """The h2c half of a misbehaving connection; the host class provides the rest."""

    kind: str
    buffer: bytes
    answered: int
    streams: int
    transport: asyncio.Transport | None

    def _write(self, data: bytes) -> None:
        raise NotImplementedError

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        raise NotImplementedError

    def _close(self) -> None:
        raise NotImplementedError

    async def _writable(self) -> bool:
        """Wait until the transport takes more; False once the connection is gone."""
        raise NotImplementedError

    def _h2(self) -> None:
        if self.answered == 0:
            if len(self.buffer) < len(H2_PREFACE):
                return
            self.answered = 1
            if not self._h2_preface():
                return
        # Answer every HEADERS frame (type 1) that opens a stream.
        buf = self.buffer
        pos = len(H2_PREFACE) if buf.startswith(H2_PREFACE) else 0
        while len(buf) - pos >= 9:
            length = int.from_bytes(buf[pos : pos + 3], "big")
            if len(buf) - pos < 9 + length:
                break
            ftype, stream = buf[pos + 3], int.from_bytes(buf[pos + 5 : pos + 9], "big") & 0x7FFFFFFF
            if ftype == SETTINGS and not buf[pos + 4] & ACK:
                self._write(frame(SETTINGS, ACK, 0, b""))  # ACK the client's SETTINGS
            if ftype == HEADERS:
                self._h2_stream(stream)
            pos += 9 + length
        self.buffer = buf[pos:]

    def _h2_preface(self) -> bool:
        """The server's side of the preface; False when it answers nothing after it."""
        k = self.kind
        if k == "h2-bad-frame":
            self._write(frame(SETTINGS, 0, 0, b"\x00" * 7))  # length not a multiple of 6
            return False
        if k == "h2-bad-settings":
            self._write(settings(window=0x80000000))  # above 2^31-1: FLOW_CONTROL_ERROR
            return False
        if k == "h2-zero-window":
            # INITIAL_WINDOW_SIZE 0 and never a WINDOW_UPDATE: a request body can never be
            # sent (RFC 9113 6.9.2).
            self._write(settings(streams=100, window=0))
        elif k == "h2-no-streams":
            # Legal (RFC 9113 6.5.2): a server shedding load accepts no stream at all.
            self._write(settings(streams=0))
        else:
            self._write(settings(streams=100))
        if k == "h2-goaway-storm":
            for last in (2**31 - 1, 1001, 101, 1):
                self._write(frame(GOAWAY, 0, 0, struct.pack(">II", last, 0)))
            self._spawn(self._close_later())
            return False
        if k == "h2-settings-flood":
            # It reads nothing more: what the client sends back piles up on its side.
            if self.transport is not None:
                self.transport.pause_reading()
            self._spawn(self._flood(_SETTINGS_FLOOD))
            return False
        return True

    def _h2_stream(self, stream: int) -> None:
        k = self.kind
        self.streams += 1
        if (k == "h2-refuse-stream" and self.streams == 2) or k == "h2-no-streams":
            self._write(frame(RST_STREAM, 0, stream, struct.pack(">I", REFUSED_STREAM)))
        elif k == "h2-calm":
            if self.streams == 1:
                self._write(frame(HEADERS, END_HEADERS | END_STREAM, stream, STATUS_200))
                goaway = struct.pack(">II", stream, 0xB) + b"too many resets"  # ENHANCE_YOUR_CALM
                self._write(frame(GOAWAY, 0, 0, goaway))
            # later streams are above last_stream_id: never processed (RFC 9113 6.8)
        elif k == "h2-hpack-garbage":
            self._write(frame(HEADERS, END_HEADERS, stream, b"\xff\xff\xff\xff\x7f"))
        elif k == "h2-rst-every-stream":
            self._write(frame(RST_STREAM, 0, stream, struct.pack(">I", 0x2)))
        elif k == "h2-zero-window":
            self._write(frame(HEADERS, END_HEADERS, stream, STATUS_200))  # then no DATA
        elif k == "h2-empty-data":
            self._write(frame(HEADERS, END_HEADERS, stream, STATUS_200))
            self._spawn(self._empty_data(stream))
        else:
            self._write(frame(HEADERS, END_HEADERS | END_STREAM, stream, STATUS_200))

    async def _flood(self, chunk: bytes) -> None:
        """``chunk`` over and over, as fast as the transport takes it, until it closes."""
        while await self._writable():
            self._write(chunk)
            await asyncio.sleep(0)

    async def _empty_data(self, stream: int) -> None:
        """Bursts of DATA frames with no payload on ``stream``, and never its end."""
        burst = frame(DATA, 0, stream, b"") * _EMPTY_DATA_BURST
        while await self._writable():
            self._write(burst)
            await asyncio.sleep(0.02)

    async def _close_later(self) -> None:
        await asyncio.sleep(0.2)
        self._close()
