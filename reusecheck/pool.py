"""The instrumented connection pool, modelled on Go's ``http.Transport``.

What is mirrored, and where in net/http/transport.go it comes from:

- ``getConn``: take the most recently used idle connection for the key; otherwise wait
  for whichever comes first, a connection dialled for this request or one another
  request releases (``queueForIdleConn`` + ``queueForDial``).  A dial that loses that
  race is not wasted: the connection goes to the idle list (``putOrCloseIdleConn``).
- ``tryPutIdleConn``: a released connection goes first to a waiting request (GotConn
  then says ``reused: true, was_idle: false``), else to the idle list within
  ``max_idle_per_host`` / ``max_idle``; an idle timer closes it after ``idle_timeout``.
- ``MaxConnsPerHost``: dials beyond it wait for a connection of that key to close.
- ``shouldRetryRequest``: a replayable request that failed on a *reused* connection
  before any response byte arrived is retried, here once and on a new connection;
  HTTP/2 streams the server never processed (GOAWAY, REFUSED_STREAM) up to 6 times.

Unlike Go, ``reused`` means exactly "the connection had already carried a request":
Go marks a connection reused when it is put idle, even if it never carried one.

HTTP/2 connections are shared (``h2share.py``); what happens after a response, and
the watching of idle connections, is ``lifecycle.py``.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict, deque
from dataclasses import dataclass, field, replace
from typing import Final

from reusecheck.lifecycle import Conn, ConnectionBook, Got
from reusecheck.net import dial as dialing
from reusecheck.net.dial import ConnectionKey, Timeouts
from reusecheck.net.errors import RequestError
from reusecheck.net.http1 import HTTP1Connection
from reusecheck.net.http2 import HTTP2Connection
from reusecheck.net.request import Request
from reusecheck.net.response import Response
from reusecheck.net.tls import TLSOptions
from reusecheck.trace import Tracer

_Got = Got

HTTP_MODES: Final = ("auto", "1.1", "2", "h2c")
# ALPN offered per mode (https); "2" offers both so a server that picks HTTP/1.1 can be
# told apart from one that cannot negotiate at all.
_ALPN: Final = {
    "auto": ("h2", "http/1.1"),
    "1.1": ("http/1.1",),
    "2": ("h2", "http/1.1"),
    "h2c": ("h2",),
}


@dataclass(frozen=True, slots=True)
class PoolOptions:
    max_idle: int = 100
    # 100, not Go's 2: the tool must not cause the churn it is measuring.  Set 2 to
    # reproduce Go's DefaultTransport.
    max_idle_per_host: int = 100
    max_conns_per_host: int = 0  # 0 = unlimited; otherwise callers wait
    idle_timeout: float | None = 90.0
    disable_keepalives: bool = False
    timeouts: Timeouts = field(default_factory=Timeouts)
    tls: TLSOptions = field(default_factory=TLSOptions)
    # auto: h2 when ALPN picks it; 1.1: never h2; 2: h2 required (https);
    # h2c: HTTP/2 with prior knowledge on http:// (and ALPN h2 only on https://).
    http: str = "auto"
    # Go's StrictMaxConcurrentStreams: at the server's stream limit, wait for a free
    # stream instead of dialling another connection.
    strict_max_streams: bool = False
    # Offer the key's latest TLS session on new connections (tickets or IDs), as Go's
    # ClientSessionCache does when set; False makes every handshake a full one.
    tls_resume: bool = True


class Pool(ConnectionBook):
    def __init__(
        self, tracer: Tracer, options: PoolOptions | None = None, *, first_conn_id: int = 1
    ) -> None:
        """``first_conn_id``: where connection ids start, so a pool that takes over from
        another in the same run (a scenario's fresh pool) never reuses an id."""
        super().__init__(tracer, options or PoolOptions())
        o = self.options
        self._count: dict[ConnectionKey, int] = defaultdict(int)
        self._dial_queue: dict[ConnectionKey, deque[tuple[int, asyncio.Future[_Got]]]] = (
            defaultdict(deque)
        )
        self._tasks: set[asyncio.Task[None]] = set()
        self._next_id = first_conn_id
        self._tls = replace(o.tls, alpn=_ALPN.get(o.http, _ALPN["auto"]))
        self.closed = False

    # -- the request path ----------------------------------------------------------

    async def round_trip(self, req: Request, request: int) -> Response:
        """Send ``req`` and return once its response headers are in.

        The caller reads or closes the body; until then the connection is not reusable.
        """
        tracer = self.tracer
        attempts = 0
        retried = False
        while True:
            attempts += 1
            tracer.emit("get_conn", request, None, key=req.key_text, method=req.method, url=req.url)
            conn, was_idle, idle_time = await self._get_conn(req.key, request, fresh=retried)
            reused = conn.requests > 0
            tracer.emit(
                "got_conn",
                request,
                conn.id,
                reused=reused,
                was_idle=was_idle,
                idle_time_s=round(idle_time, 6),
                protocol=conn.protocol,
            )
            try:
                resp = await conn.send(req, request, self.options.disable_keepalives)
            except RequestError as exc:
                exc.on_reused = reused
                self._failed(conn, request, exc)
                why = _retry_reason(exc, reused, req.replayable, conn.multiplexed)
                if why is not None and attempts <= _MAX_RETRIES[why]:
                    tracer.emit(
                        "retry",
                        request,
                        conn.id,
                        error=exc.message,
                        attempt=attempts + 1,
                        reason=why,
                    )
                    retried = True
                    continue
                exc.retried = retried
                raise
            except BaseException:
                self._close(conn, request, "client", "error")
                raise
            resp.on_done = self._response_done
            self._pending[request] = resp
            resp.retried = retried
            resp.reused = reused
            return resp

    async def _get_conn(self, key: ConnectionKey, request: int, fresh: bool) -> _Got:
        if self._h2_possible(key):
            got = await self._get_shared(key)
            if got is not None:
                return got
        if not fresh and not self.options.disable_keepalives:
            conn, idle_time, stale = self._idle.take(key, self.tracer.now())
            for s in stale:
                self._close_stale(s)
            if conn is not None:
                return conn, True, idle_time
        fut: asyncio.Future[_Got] = asyncio.get_running_loop().create_future()
        if not fresh:
            self._waiters[key].append(fut)
        if self._h2_possible(key):
            self._shared.start_dial(key)
        self._queue_for_dial(key, request, fut)
        try:
            return await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled() and fut.exception() is None:
                self._close(fut.result()[0], request, "client", "end-of-run")
            raise

    def _h2_possible(self, key: ConnectionKey) -> bool:
        mode = self.options.http
        if mode == "1.1" or key in self._shared.http1_keys:
            return False
        return key.scheme == "https" or mode == "h2c"

    async def _get_shared(self, key: ConnectionKey) -> _Got | None:
        """A stream on a live h2 connection, waiting for a first dial or a free stream."""
        shared = self._shared
        while True:
            got = shared.pick(key, self.tracer.now())
            if got is not None:
                return got
            dialing = shared.dialing(key)
            if dialing is not None:
                await asyncio.shield(dialing)
                continue
            if self.options.strict_max_streams and shared.at_limit(key):
                await shared.wait_for_slot(key)
                continue
            return None

    def _queue_for_dial(self, key: ConnectionKey, request: int, fut: asyncio.Future[_Got]) -> None:
        limit = self.options.max_conns_per_host
        if limit <= 0 or self._count[key] < limit:
            self._count[key] += 1
            task = asyncio.get_running_loop().create_task(self._dial_for(key, request, fut))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        else:
            self._dial_queue[key].append((request, fut))

    async def _dial_for(self, key: ConnectionKey, request: int, fut: asyncio.Future[_Got]) -> None:
        conn_id = self._next_id
        self._next_id += 1
        o = self.options
        try:
            dialed = await dialing.dial(
                key, conn_id, request, self.tracer, o.timeouts, self._tls, self._session_for(key)
            )
        except RequestError as exc:
            self._slot_freed(key)
            self._shared.dial_finished(key)
            if not fut.done():
                fut.set_exception(exc)
            return
        except BaseException:
            self._slot_freed(key)
            self._shared.dial_finished(key)
            raise
        conn = self._connection(conn_id, key, dialed)
        self._shared.dial_finished(key)
        if conn is None:
            self._slot_freed(key)
            alpn = dialed.tls.alpn if dialed.tls else None
            self.tracer.emit(
                "conn_closed",
                request,
                conn_id,
                closed_by="client",
                reason="error",
                requests=0,
                error=f"server chose {alpn or 'no protocol'} (h2 required)",
            )
            dialed.channel.close()
            if not fut.done():
                fut.set_exception(
                    RequestError(
                        "h2-not-negotiated",
                        f"{key} did not negotiate h2 (ALPN chose {alpn or 'nothing'}; offered "
                        f"{', '.join(self._tls.alpn)}); --http2 requires it",
                    )
                )
            return
        self._open[conn_id] = conn
        if self.closed:
            self._close(conn, None, "client", "end-of-run")
        elif not fut.done():
            if isinstance(conn, HTTP2Connection):
                conn.active += 1
            fut.set_result((conn, False, 0.0))
        elif isinstance(conn, HTTP1Connection):
            # The request got another connection first; keep this one (Go does too).
            self._put_idle(conn, None)

    def _connection(self, conn_id: int, key: ConnectionKey, dialed: dialing.Dialed) -> Conn | None:
        """HTTP/2 when ALPN chose it (or h2c), else HTTP/1.1; None when h2 was required."""
        o = self.options
        alpn = dialed.tls.alpn if dialed.tls is not None else None
        if alpn == "h2" or (key.scheme == "http" and o.http == "h2c"):
            h2conn = HTTP2Connection(conn_id, key, dialed, self.tracer, o.timeouts)
            h2conn.on_idle_event = self._idle_event
            h2conn.on_stream_slot = self._stream_slot
            self._shared.add(key, h2conn)
            return h2conn
        if key.scheme == "https" and o.http == "2":
            return None
        self._shared.http1_keys.add(key)
        conn = HTTP1Connection(conn_id, key, dialed, self.tracer, o.timeouts)
        conn.on_idle_event = self._idle_event
        return conn

    def _stream_slot(self, conn: HTTP2Connection) -> None:
        self._shared.slot_freed(conn.key)

    def _slot_freed(self, key: ConnectionKey) -> None:
        """A connection of ``key`` is gone: a request waiting on max_conns_per_host may dial."""
        self._count[key] -= 1
        queue = self._dial_queue.get(key)
        while queue:
            request, fut = queue.popleft()
            if not fut.done():
                self._queue_for_dial(key, request, fut)
                return

    # -- the end of the run --------------------------------------------------------

    async def close(self) -> None:
        """Close everything; connections still pinned by an unread body say so."""
        self.closed = True
        for task in list(self._tasks):
            task.cancel()
        # A body nobody started reading pins its connection (the classic leak); a read
        # cut short by the deadline or a stopped run is just the end of the run.
        pinned = {
            r.conn.id: r
            for r in self._pending.values()
            if isinstance(r.conn, HTTP1Connection) and not r.reading
        }
        self._pending.clear()
        for conn in list(self._open.values()):
            resp = pinned.get(conn.id)
            if resp is not None:
                self.tracer.emit(
                    "put_idle",
                    resp.request,
                    conn.id,
                    ok=False,
                    reason="body-not-drained",
                    idle_conns=self._idle.count(conn.key),
                )
                self._close(conn, resp.request, "client", "body-not-drained")
            else:
                self._close(conn, None, "client", "end-of-run")
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        # Let the transports run connection_lost so no socket outlives the pool.
        for _ in range(3):
            await asyncio.sleep(0)

    # -- introspection for tests and reports -----------------------------------------

    def idle_count(self, key: ConnectionKey | None = None) -> int:
        return len(self._idle) if key is None else self._idle.count(key)

    @property
    def open_connections(self) -> list[Conn]:
        return list(self._open.values())

    @property
    def next_conn_id(self) -> int:
        """The id the next dialled connection gets."""
        return self._next_id


# Retries allowed per reason: a stale HTTP/1.1 connection once (on a new connection);
# streams the server never processed up to 6 times, as Go's http2 RoundTripOpt does.
_MAX_RETRIES: Final = {"stale": 1, "connection-lost": 1, "goaway": 6, "refused-stream": 6}


def _retry_reason(
    exc: RequestError, reused: bool, replayable: bool, multiplexed: bool = False
) -> str | None:
    """Why a failed attempt may be sent again (once), or None.

    Go's ``shouldRetryRequest``: a replayable request that failed on a reused connection
    before any response byte (the server closed it in the race window).  HTTP/2 adds
    streams the server never processed, which any request may retry (RFC 9113 8.7).
    """
    if exc.unprocessed:
        return "goaway" if exc.kind == "goaway" else "refused-stream"
    if reused and exc.before_response and replayable and exc.kind == "server-closed":
        # On HTTP/2 a lost connection with streams in flight is not an idle race.
        return "connection-lost" if multiplexed else "stale"
    return None
