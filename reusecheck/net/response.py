"""A response as the caller sees it, the same for HTTP/1.1 and HTTP/2.

The body is read, partly read or left alone by the caller.  Leaving an HTTP/1.1 body
alone is a real client bug the scenarios reproduce: the connection stays pinned to
this response and never returns to the pool.  On HTTP/2 only the stream is pinned.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Protocol

from reusecheck.net.errors import RequestError
from reusecheck.trace import Tracer
from reusecheck.trace.redact import redact_text
from reusecheck.trace.vocab import (
    BODY_HEAD_BYTES,
    BODY_HEAD_CHARS,
    RECORD_HEADER_BYTES,
    RECORD_HEADER_PAIRS,
)


def recorded_pairs(
    headers: list[tuple[bytes, bytes]], skip_pseudo: bool = False
) -> tuple[list[list[str]], int]:
    """The response's header pairs as the record keeps them, and how many it left out.

    At most ``RECORD_HEADER_PAIRS`` pairs and ``RECORD_HEADER_BYTES`` bytes of names and
    values, in the order sent: a server may send thousands of headers, and a record
    (and its HAR) that kept them all would grow by megabytes per response.  The pairs
    left out are counted in ``response_headers.headers_omitted``.  ``skip_pseudo``:
    HTTP/2's ``:status`` and friends are not headers.
    """
    pairs: list[list[str]] = []
    size = 0
    seen = 0
    for n, v in headers:
        if skip_pseudo and n.startswith(b":"):
            continue
        seen += 1
        if len(pairs) < RECORD_HEADER_PAIRS:
            size += len(n) + len(v)
            if size <= RECORD_HEADER_BYTES:
                pairs.append([n.decode("latin-1"), v.decode("latin-1")])
                continue
        # Full: only count what follows (a prefix is kept, never a hole).
        size = RECORD_HEADER_BYTES + 1
    return pairs, seen - len(pairs)


def keep_head(head: bytearray, data: bytes) -> None:
    """Add ``data`` to an error body's head, up to ``BODY_HEAD_BYTES``."""
    room = BODY_HEAD_BYTES - len(head)
    if room > 0:
        head += data[:room]


def body_head(head: bytearray) -> str:
    """What the server said in an error body, as the record keeps it: one line of
    printable text, whitespace collapsed, at most ``BODY_HEAD_CHARS``, secrets redacted."""
    text = " ".join(head.decode("utf-8", "replace").split())
    text = "".join(ch if ch.isprintable() else "?" for ch in text)
    return redact_text(text[:BODY_HEAD_CHARS])


class BodySource(Protocol):
    """The connection side of a response: HTTP1Connection or HTTP2Connection."""

    id: int
    tracer: Tracer

    async def read_body(self, resp: Response, limit: int | None) -> bool: ...


class Response:
    __slots__ = (
        "abandoned",
        "bytes_read",
        "complete",
        "conn",
        "connection_header",
        "head",
        "headers",
        "http_version",
        "index",
        "on_done",
        "reading",
        "retried",
        "reused",
        "sink",
        "status",
        "stream_id",
    )

    def __init__(
        self,
        conn: Any,
        index: int,
        status: int,
        http_version: str,
        headers: Any,
        connection_header: bytes | None = None,
        stream_id: int | None = None,
    ) -> None:
        self.conn = conn
        self.index = index
        self.status = status
        self.http_version = http_version
        self.headers = headers
        self.connection_header = connection_header
        self.stream_id = stream_id
        self.bytes_read = 0
        # An error response's first body bytes, for the record (body_done.body_head).
        self.head: bytearray | None = bytearray() if status >= 400 else None
        self.complete = False
        self.reading = False  # the caller started reading: not a body left unread
        # The caller will neither read nor close it (a body forgotten, as a client
        # that never closes resp.Body): its connection is pinned for good.
        self.abandoned = False
        self.retried = False  # set by the pool when a failed attempt came first
        self.reused = False  # set by the pool: the connection had carried a request
        # Set by the pool: called once with (response, error or None) when the body ends.
        self.on_done: Callable[[Response, RequestError | None], None] | None = None
        # Set by a caller that wants the body's bytes (``reusecheck observe`` forwards
        # them): HTTP/1.1 appends each chunk as it is read; otherwise bytes are only
        # counted.  The caller empties it between bounded reads, so memory stays flat.
        self.sink: list[bytes] | None = None

    async def read(self, limit: int | None = None) -> int:
        """Read the body, or its first ``limit`` bytes; returns the bytes read."""
        conn: BodySource = self.conn
        self.reading = True
        before = self.bytes_read
        try:
            complete = await conn.read_body(self, limit)
        except asyncio.CancelledError:
            # The run ended mid-body: say how far it got; the pool closes the connection
            # at the end of the run (end-of-run, not an unread body).
            conn.tracer.emit(
                "body_done",
                self.index,
                conn.id,
                bytes=self.bytes_read,
                complete=False,
                error="cancelled: the run ended before the body did",
            )
            raise
        except RequestError as exc:
            conn.tracer.emit(
                "body_done",
                self.index,
                conn.id,
                bytes=self.bytes_read,
                complete=False,
                error=exc.message,
                **self._said(),
            )
            self._done(exc)
            raise
        if complete:
            self.complete = True
            if self.head is None:
                conn.tracer.emit(
                    "body_done", self.index, conn.id, bytes=self.bytes_read, complete=True
                )
            else:
                conn.tracer.emit(
                    "body_done",
                    self.index,
                    conn.id,
                    bytes=self.bytes_read,
                    complete=True,
                    **self._said(),
                )
            self._done(None)
        return self.bytes_read - before

    def close(self) -> None:
        """Give the response up; an unread HTTP/1.1 body costs the connection, as in Go."""
        if self.complete or self.on_done is None:
            return
        self.conn.tracer.emit(
            "body_done",
            self.index,
            self.conn.id,
            bytes=self.bytes_read,
            complete=False,
            **self._said(),
        )
        self._done(RequestError("cancelled", "response body not read to the end"))

    def _said(self) -> dict[str, str]:
        return {"body_head": body_head(self.head)} if self.head else {}

    def _done(self, error: RequestError | None) -> None:
        on_done, self.on_done = self.on_done, None
        if on_done is not None:
            on_done(self, error)
