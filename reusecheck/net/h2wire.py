"""HTTP/2 bytes reusecheck handles outside h2's state machine: GOAWAY frames taken out of
the inbound stream, the request header block built once per request, names for codes.

Sans-IO: ``FrameSplitter`` is fed bytes and hands them on, so it is tested with bytes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

import h2.errors
import h2.settings
from hpack import HeaderTuple, NeverIndexedHeaderTuple

from reusecheck.net.request import Request

GOAWAY: Final = 0x7  # frame type (RFC 9113 section 6.8)


class FrameSplitter:
    """Finds frame boundaries in the inbound bytes (9-byte headers, cheap) and takes
    GOAWAY frames out, so h2 never sees them.

    h2 moves to CLOSED on receiving GOAWAY and then rejects the frames of streams the
    server is still finishing (python-hyper/h2#1181), yet a graceful GOAWAY, as nginx
    sends at keepalive_requests, comes *before* those responses.
    """

    __slots__ = ("_hold", "_skip")

    def __init__(self) -> None:
        self._hold = b""  # an incomplete frame header or GOAWAY frame
        self._skip = 0  # bytes of the current (non-GOAWAY) frame still to pass on

    def feed(
        self, data: bytes, to_h2: Callable[[bytes], bool], goaway: Callable[[bytes], None]
    ) -> None:
        """Pass ``data`` on in order: everything else to ``to_h2`` (which returns False
        when the connection is dead: nothing more is passed), GOAWAY payloads to
        ``goaway``."""
        if self._hold:
            data = self._hold + data
            self._hold = b""
        n = len(data)
        pos = start = 0
        if self._skip:
            pos = min(self._skip, n)
            self._skip -= pos
        while pos < n:
            if n - pos < 9:
                break
            end = pos + 9 + ((data[pos] << 16) | (data[pos + 1] << 8) | data[pos + 2])
            if data[pos + 3] == GOAWAY:
                if end > n:
                    break
                if not to_h2(data[start:pos]):
                    return
                goaway(data[pos + 9 : end])
                start = pos = end
                continue
            if end > n:
                self._skip = end - n
                pos = n
                break
            pos = end
        self._hold = data[pos:] if pos < n else b""
        to_h2(data[start:pos])


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
