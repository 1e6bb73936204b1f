"""One HTTP/2 stream of a connection: its state, the count of its body (``take``: the
DATA frames the connection takes out of h2's way, checked against Content-Length as h2
would), and its waits for the response head, its body bytes and room to send its own
body.

Apart from the connection (``http2.py``), which owns the h2 state machine and what the
server sends; a stream reads what the connection gives it through ``StreamHost``.  The
streams of a connection share one timer (``expire_due``), so a wait costs a future, not
a TimerHandle of its own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any, Final, Protocol

import h2.errors

from reusecheck.net.channel import Channel
from reusecheck.net.dial import ConnectionKey, Timeouts
from reusecheck.net.errors import RequestError
from reusecheck.net.h2wire import body_length_error, code_name, content_length
from reusecheck.net.response import Response, keep_head
from reusecheck.trace import Tracer
from reusecheck.trace.vocab import ErrorKind

# Request bodies are written in chunks of at most this and wait for the transport to
# drain, so what a server that stops reading leaves unsent stays small.
BODY_CHUNK: Final = 256 * 1024
# Go's http2 max1xxResponses: more informational responses on a stream is an error.
MAX_INFORMATIONAL: Final = 5
# ``Stream.expected`` before the response's Content-Length was looked up (below any
# body size, so the first comparison looks it up).
UNREAD: Final = -1


class StreamHost(Protocol):
    """What a stream needs from its connection."""

    id: int
    key: ConnectionKey
    timeouts: Timeouts
    tracer: Tracer
    channel: Channel
    h2: Any  # h2.connection.H2Connection (untyped library)

    @property
    def loop(self) -> asyncio.AbstractEventLoop: ...

    def flush(self) -> None: ...

    def arm_timer(self, deadline: float) -> None: ...

    def window_waiter(self) -> asyncio.Future[bool]: ...


class Stream:
    __slots__ = (
        "conn",
        "deadline",
        "ended",
        "error",
        "expected",
        "head",
        "headers",
        "id",
        "index",
        "informational",
        "received",
        "unread",
        "waiter",
    )

    def __init__(self, conn: StreamHost, stream_id: int, index: int) -> None:
        self.conn = conn
        self.id = stream_id
        self.index = index
        self.headers: list[tuple[bytes, bytes]] | None = None
        self.unread = 0
        self.ended = False
        self.error: RequestError | None = None
        self.waiter: asyncio.Future[bool] | None = None
        self.deadline = 0.0  # loop time at which the current wait times out
        self.informational = 0  # 1xx responses before the response
        self.head: bytearray | None = None  # an error response's first body bytes
        self.received = 0  # body bytes so far, by h2 or taken out
        self.expected: int | None = UNREAD  # Content-Length (0 for HEAD), None: none sent

    def wake(self) -> None:
        w = self.waiter
        if w is not None and not w.done():
            w.set_result(True)

    def take(self, data: bytes, begin: int, end: int) -> bool:
        """Body bytes of a DATA frame h2 never sees: counted as h2's DataReceived are;
        False when the body has outgrown its Content-Length (where h2 would raise)."""
        size = end - begin
        self.unread += size
        received = self.received = self.received + size
        if self.head is not None:
            keep_head(self.head, data[begin:end])
        self.wake()
        expected = self.expected
        return expected is None or received <= expected or self.length_error(False) is None

    def length_error(self, ended: bool) -> str | None:
        """What h2 would raise for this body against its Content-Length: longer, or at
        its END_STREAM any other length (RFC 9113 8.1.1)."""
        expected = self.expected
        if expected == UNREAD:
            expected = self.expected = content_length(self.headers or [])
        if (
            expected is None
            or self.received == expected
            or (not ended and self.received < expected)
        ):
            return None
        return body_length_error(expected, self.received)

    def informational_response(self) -> None:
        """A 1xx arrived: past MAX_INFORMATIONAL of them the stream fails."""
        if self.error is not None:
            return
        self.informational += 1
        if self.informational > MAX_INFORMATIONAL:
            self.error = RequestError(
                "protocol",
                f"server sent {self.informational} informational responses on stream "
                f"{self.id} and no response: Go's Transport gives up after {MAX_INFORMATIONAL}",
            )
            self.wake()

    def reset_by_server(self, code: int) -> None:
        """RST_STREAM from the server (the stream had not ended)."""
        refused = code == h2.errors.ErrorCodes.REFUSED_STREAM
        self.error = RequestError(
            "stream-reset",
            f"server reset stream {self.id}: {code_name(code)}",
            before_response=refused and self.headers is None,
        )
        self.error.unprocessed = refused  # RFC 9113 8.7: a refused stream is safe to retry
        self.wake()

    def fail(self, error: RequestError) -> None:
        """End the stream with ``error`` unless it already ended, and wake its wait."""
        if not self.ended and self.error is None:
            self.error = error
            self.wake()

    async def send_body(self, body: bytes) -> None:
        """Send the request body within the peer's window, chunk by chunk; each wait
        for window or for the write to drain is bounded by the body timeout."""
        conn = self.conn
        h = conn.h2
        stream = self
        view = memoryview(body)
        timeout = conn.timeouts.body
        # Progress is body bytes sent: WINDOW_UPDATEs for other streams wake the wait
        # but do not extend it.
        deadline = conn.loop.time() + timeout
        # A server that does not read the body stops granting window: the write wait
        # (write-timeout, as on HTTP/1.1), not a wait for the response's body.
        no_window = RequestError("write-timeout", "")
        while view:
            if stream.error is not None:
                raise stream.error
            window = min(
                h.local_flow_control_window(stream.id), h.max_outbound_frame_size, BODY_CHUNK
            )
            if window <= 0:
                try:
                    await wait_future(conn.window_waiter(), deadline, no_window)
                except RequestError as exc:
                    if exc is not no_window:
                        raise
                    sent = len(body) - len(view)
                    message = (
                        f"{conn.key} stopped reading the request: no window update for "
                        f"stream {stream.id} within {timeout:g} s, {sent} of {len(body)} "
                        "body bytes sent"
                    )
                    conn.tracer.emit(
                        "wrote_request", stream.index, conn.id, bytes=sent, error=message
                    )
                    raise RequestError("write-timeout", message) from None
                continue
            chunk, view = view[:window], view[window:]
            h.send_data(stream.id, bytes(chunk), end_stream=not view)
            conn.flush()
            if not await conn.channel.drain(timeout):
                unsent = conn.channel.unsent()
                message = (
                    f"{conn.key} stopped reading the request: {unsent} bytes of stream "
                    f"{stream.id} still unsent after {timeout:g} s"
                )
                sent = max(0, len(body) - len(view) - unsent)
                conn.tracer.emit("wrote_request", stream.index, conn.id, bytes=sent, error=message)
                raise RequestError("write-timeout", message)
            deadline = conn.loop.time() + timeout

    async def wait(self, deadline: float, kind: ErrorKind, what: str, timeout: float) -> None:
        """Wait for the stream to be woken, until ``deadline`` (loop time); then ``kind``:
        "no WHAT from KEY within TIMEOUT s" (built only then: this is the hot path).

        The caller moves the deadline only with progress on what it waits for (its
        response, its body bytes): a wake-up alone, an empty DATA frame say, is none.
        The streams share one timer per connection, armed for the earliest deadline
        and re-armed lazily when it fires (as HTTP1Connection does), so a wait costs a
        future and no TimerHandle of its own.
        """
        conn = self.conn
        fut: asyncio.Future[bool] = conn.loop.create_future()
        self.waiter = fut
        self.deadline = deadline
        conn.arm_timer(deadline)
        try:
            ok = await fut
        finally:
            self.waiter = None
        if not ok:
            raise RequestError(kind, f"no {what} from {conn.key} within {timeout:g} s")

    async def read(self, resp: Response, limit: int | None) -> bool:
        """The response body: bytes counted in ``resp.bytes_read`` as they arrive;
        returns whether the whole body was read."""
        stream = self
        n = 0
        timeout = self.conn.timeouts.body
        deadline = 0.0  # from the last body byte: empty DATA frames are no progress
        while True:
            if stream.unread:
                n += stream.unread
                resp.bytes_read += stream.unread
                stream.unread = 0
                deadline = 0.0
                if limit is not None and n >= limit and not stream.ended:
                    return False
            if stream.ended:
                return True
            if stream.error is not None:
                raise stream.error
            if not deadline:
                deadline = self.conn.loop.time() + timeout
            await stream.wait(deadline, "body-timeout", "body bytes", timeout)


def no_stream_message(key: ConnectionKey, limit: int, timeout: float) -> str:
    """Why a request waited its first-byte timeout for a stream on a connection whose
    server allows ``limit`` streams."""
    said = f"allows {limit} concurrent streams" if limit else "allows no streams"
    return (
        f"no stream on {key} within {timeout:g} s: the server {said} "
        f"(SETTINGS_MAX_CONCURRENT_STREAMS {limit})"
    )


def expire_due(streams: Iterable[Stream], now: float) -> float | None:
    """Time out the waits whose deadline passed; returns the next deadline, if any."""
    upcoming: float | None = None
    for s in list(streams):
        w = s.waiter
        if w is None or w.done():
            continue
        if s.deadline <= now:
            w.set_result(False)
        elif upcoming is None or s.deadline < upcoming:
            upcoming = s.deadline
    return upcoming


async def wait_future(fut: asyncio.Future[bool], deadline: float, error: RequestError) -> None:
    """Wait for ``fut`` until ``deadline`` (loop time); then raise ``error``."""
    handle = asyncio.get_running_loop().call_at(deadline, _expire, fut)
    try:
        ok = await fut
    finally:
        handle.cancel()
    if not ok:
        raise error


def _expire(fut: asyncio.Future[bool]) -> None:
    if not fut.done():
        fut.set_result(False)
