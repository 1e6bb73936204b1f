"""What answers a client's request: the built-in answer (``reusecheck serve``'s routes)
or the upstream (``upstream.Forwarder``), behind one small interface so the HTTP/1.1 and
HTTP/2 handlers do not care which.

The handlers own the connection's headers (Connection, Keep-Alive: the client leg's
keep-alive policy is the observer's, not the upstream's); an answer gives status,
entity headers and body bytes to a ``Responder``.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from typing import Final, Protocol
from urllib.parse import parse_qs

from reusecheck.server.routes import MAX_BYTES, Reply, reply_for

Header = tuple[bytes, bytes]
CHUNK: Final = 64 * 1024
_FILL: Final = b"x" * CHUNK
# The server's own routes keep their meaning; every other path gets the default body.
_ROUTES: Final = re.compile(rb"/(bytes|delay|status|redirect)(/|-to$|$)")

# RFC 9110 7.6.1 and RFC 9113 8.2.2: headers about one connection, never forwarded.
HOP_BY_HOP: Final = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
        b"http2-settings",
    }
)


@dataclass(slots=True)
class Incoming:
    """A client's request, body read (bounded by the handler)."""

    index: int
    method: str
    target: str
    headers: list[Header]
    body: bytes


class Responder(Protocol):
    """Where an answer writes its response; raises OSError when the client is gone."""

    async def head(self, status: int, headers: list[Header]) -> None: ...

    async def body(self, data: bytes) -> None: ...

    async def end(self) -> None: ...


class Answer(Protocol):
    async def answer(self, req: Incoming, out: Responder) -> None: ...

    async def close(self) -> None: ...


def builtin_reply(method: str, target: str, body_size: int) -> Reply:
    """``serve``'s reply for its routes (/bytes/N, /delay/MS, /status/N, /redirect...);
    any other path: 200 with ``body_size`` bytes, or ``?size=N``."""
    raw = target.encode("latin-1", "replace")
    path = raw.split(b"?", 1)[0]
    if _ROUTES.match(path):
        return reply_for(method.encode("ascii", "replace"), raw)
    size = body_size
    sizes = parse_qs(target.partition("?")[2]).get("size")
    if sizes and sizes[0].isdigit():
        size = min(int(sizes[0]), MAX_BYTES)
    return Reply(200, filler=size, content_type=b"application/octet-stream")


class BuiltinAnswer:
    """Answers as ``reusecheck serve`` does, with a default body large enough that an
    unread one shows (config.DEFAULT_BODY_SIZE)."""

    def __init__(self, body_size: int) -> None:
        self._body_size = body_size

    async def answer(self, req: Incoming, out: Responder) -> None:
        reply = builtin_reply(req.method, req.target, self._body_size)
        if reply.delay_s > 0:
            await asyncio.sleep(reply.delay_s)
        await out.head(reply.status, reply.headers())
        if req.method != "HEAD":
            if reply.body:
                await out.body(reply.body)
            left = reply.filler
            while left > 0:
                n = min(left, CHUNK)
                await out.body(_FILL if n == CHUNK else _FILL[:n])
                left -= n
        await out.end()

    async def close(self) -> None:
        return None


def header_value(headers: list[Header], name: bytes) -> bytes | None:
    for n, v in headers:
        if n.lower() == name:
            return v
    return None


def entity_headers(headers: list[Header]) -> list[Header]:
    """The headers without those about one connection (the ones Connection names too)."""
    named = set(HOP_BY_HOP)
    for n, v in headers:
        if n.lower() == b"connection":
            named.update(t.strip().lower() for t in v.split(b","))
    return [(n, v) for n, v in headers if n.lower() not in named and not n.startswith(b":")]


def content_length(headers: list[Header]) -> int | None:
    value = header_value(headers, b"content-length")
    if value is None or not value.strip().isdigit():
        return None
    return int(value)
