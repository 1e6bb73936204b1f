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
from reusecheck.trace.vocab import RECORD_HEADER_BYTES, RECORD_HEADER_PAIRS


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


class BodySource(Protocol):
    """The connection side of a response: HTTP1Connection or HTTP2Connection."""

    id: int
    tracer: Tracer

    async def read_body(self, resp: Response, limit: int | None) -> bool: ...


class Response:
    __slots__ = (
        "bytes_read",
        "complete",
        "conn",
        "connection_header",
        "headers",
        "http_version",
        "index",
        "on_done",
        "reading",
        "retried",
        "reused",
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
        self.complete = False
        self.reading = False  # the caller started reading: not a body left unread
        self.retried = False  # set by the pool when a failed attempt came first
        self.reused = False  # set by the pool: the connection had carried a request
        # Set by the pool: called once with (response, error or None) when the body ends.
        self.on_done: Callable[[Response, RequestError | None], None] | None = None

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
            )
            self._done(exc)
            raise
        if complete:
            self.complete = True
            conn.tracer.emit("body_done", self.index, conn.id, bytes=self.bytes_read, complete=True)
            self._done(None)
        return self.bytes_read - before

    def close(self) -> None:
        """Give the response up; an unread HTTP/1.1 body costs the connection, as in Go."""
        if self.complete or self.on_done is None:
            return
        self.conn.tracer.emit(
            "body_done", self.index, self.conn.id, bytes=self.bytes_read, complete=False
        )
        self._done(RequestError("cancelled", "response body not read to the end"))

    def _done(self, error: RequestError | None) -> None:
        on_done, self.on_done = self.on_done, None
        if on_done is not None:
            on_done(self, error)
