"""HTTP/1.1 bytes reusecheck handles around h11: the request's h11 event built once per
request, the response head parsed once for the trace, and the rules Go applies that h11
leaves to its caller (a 408 on an idle connection, HTTP/1.0 keep-alive).

Sans-IO: plain functions of bytes and h11 events.
"""

from __future__ import annotations

import re
from typing import Any, Final

import h11

from reusecheck.net.proxy import Proxy
from reusecheck.net.request import Request, parse_url
from reusecheck.trace.vocab import RECORD_HEADER_BYTES, RECORD_HEADER_PAIRS

# Response headers larger than this are refused, as browsers and Go (1 MiB, but nginx
# and most proxies cap at 8-64 KiB) do: a diagnostic must not buffer without bound.
MAX_HEADER_BYTES: Final = 64 * 1024
# Go's max1xxResponses: more informational responses than this before the response is
# an error (net/http: "too many 1xx informational responses"); the same holds for 100.
MAX_INFORMATIONAL: Final = 5
# A response head that has begun and is an informational (1xx) one.
INFORMATIONAL_HEAD: Final = re.compile(rb"HTTP/\d\.\d 1")
_CLOSE = [(b"Connection", b"close")]


def h11_request(req: Request, close: bool) -> h11.Request:
    """The request's h11 event, built (and validated, which is costly) once per Request
    and reused for every attempt."""
    ev = req.wire_cache.get(close)
    if isinstance(ev, h11.Request):
        return ev
    headers = req.wire_headers + _CLOSE if close else req.wire_headers
    new = req.wire_cache[close] = h11.Request(method=req.method, target=req.target, headers=headers)
    return new


def sent_headers(req: Request) -> list[list[str]]:
    """The headers as sent with the ``Connection: close`` the pool added, for the trace
    (never record a header that was not sent, nor leave out one that was)."""
    cached = req.wire_cache.get("trace-close")
    if isinstance(cached, list):
        return cached
    pairs = req.wire_cache["trace-close"] = [*req.header_pairs, ["Connection", "close"]]
    return pairs


def absolute_form(req: Request) -> str:
    """The request target a forward proxy gets: the URL's scheme and authority before the
    path (RFC 9112 section 3.2.2), whatever ``Host`` header the request carries."""
    key, target, authority = parse_url(req.url)
    return f"{key.scheme}://{authority}{target}"


def forwarded(req: Request, close: bool, proxy: Proxy) -> h11.Request:
    """The request as an http:// proxy takes it (Go's Transport for an http:// URL
    through a proxy): absolute form, with the proxy's credentials on every request."""
    cache = ("forward", close)
    ev = req.wire_cache.get(cache)
    if isinstance(ev, h11.Request):
        return ev
    headers = list(req.wire_headers)
    credentials = proxy.authorization()
    if credentials is not None:
        # Go's Header.Set: the proxy URL's credentials replace a -H Proxy-Authorization.
        headers = [h for h in headers if h[0].lower() != b"proxy-authorization"]
        headers.append((b"Proxy-Authorization", credentials.encode("latin-1")))
    if close:
        headers += _CLOSE
    new = req.wire_cache[cache] = h11.Request(
        method=req.method, target=absolute_form(req), headers=headers
    )
    return new


def forwarded_pairs(req: Request, close: bool, proxy: Proxy) -> list[list[str]]:
    """What ``forwarded`` sends, for the trace (``Proxy-Authorization`` is redacted on
    output, as every credential is)."""
    cache = ("trace-forward", close)
    pairs = req.wire_cache.get(cache)
    if isinstance(pairs, list):
        return pairs
    found = [*req.header_pairs]
    credentials = proxy.authorization()
    if credentials is not None:
        found = [p for p in found if p[0].lower() != "proxy-authorization"]
        found.append(["Proxy-Authorization", credentials])
    if close:
        found.append(["Connection", "close"])
    req.wire_cache[cache] = found
    return found


def said_408(data: bytes) -> bool:
    """Unsolicited bytes that are a ``408 Request Timeout``: the server announcing its
    idle close, which Go's Transport takes as such (``is408Message``), not as a stray
    response."""
    return data[:7] == b"HTTP/1." and data[8:12] == b" 408"


def header_tokens(value: bytes | None) -> set[bytes]:
    if not value:
        return set()
    return {t.strip().lower() for t in value.split(b",")}


def parse_headers(
    raw_items: list[tuple[bytes, bytes]],
) -> tuple[int, bytes | None, bytes | None, list[list[str]], int]:
    """One pass over the response headers: their size, Connection, Keep-Alive (values
    of repeated headers comma-joined), the trace's text pairs (names lower-cased as h11
    gives them) and how many pairs the trace leaves out: it keeps a prefix of at most
    RECORD_HEADER_PAIRS pairs and RECORD_HEADER_BYTES bytes (``response.recorded_pairs``
    says why).  raw_items() is a plain list; iterating h11's Headers itself goes
    through the generic Sequence protocol, item by item."""
    size = recorded = 0
    full = False
    conn_hdr = ka_hdr = None
    pairs: list[list[str]] = []
    for raw, value in raw_items:
        name = raw.lower()
        size += len(name) + len(value) + 4
        if name == b"connection":
            conn_hdr = value if conn_hdr is None else conn_hdr + b", " + value
        elif name == b"keep-alive":
            ka_hdr = value if ka_hdr is None else ka_hdr + b", " + value
        if not full:
            recorded += len(name) + len(value)
            full = len(pairs) == RECORD_HEADER_PAIRS or recorded > RECORD_HEADER_BYTES
            if not full:
                pairs.append([name.decode("latin-1"), value.decode("latin-1")])
    return size, conn_hdr, ka_hdr, pairs, len(raw_items) - len(pairs)


def get(headers: Any, name: bytes) -> bytes | None:
    """The (comma-joined) value of a response header, h11 lower-cases names for us."""
    found = [v for n, v in headers if n == name]
    if not found:
        return None
    return b", ".join(found)


def bodiless(status: int, head: bool) -> bool:
    """A response that has no body by definition (RFC 9112 section 6.3), so its end is
    known without a length: Go's readTransfer keeps such an HTTP/1.0 keep-alive
    connection too."""
    return head or status in (204, 304) or 100 <= status < 200


def delimited(resp: h11.Response) -> bool:
    return get(resp.headers, b"content-length") is not None or b"chunked" in header_tokens(
        get(resp.headers, b"transfer-encoding")
    )
