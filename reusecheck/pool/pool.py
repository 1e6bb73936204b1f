"""The instrumented connection pool, modelled on Go's ``http.Transport``.

What is mirrored, and where in net/http/transport.go it comes from:

- ``getConn``: take the most recently used idle connection for the key; otherwise wait
  for whichever comes first, a connection dialled for this request or one another
  request releases (``queueForIdleConn`` + ``queueForDial``).  A dial that loses that
  race is not wasted: the connection goes to the idle list (``putOrCloseIdleConn``).
- ``MaxConnsPerHost``: dials beyond it wait for a connection of that key to close.
- ``shouldRetryRequest``: a replayable request that failed on a *reused* connection
  before any response byte arrived is retried, here once and on a new connection;
  HTTP/2 streams the server never processed (GOAWAY, REFUSED_STREAM) up to 6 times
  (``retry.py``).

Unlike Go, ``reused`` means exactly "the connection had already carried a request":
Go marks a connection reused when it is put idle, even if it never carried one.

What happens after a response (``tryPutIdleConn``, idle timers, closes) is
``lifecycle.py``; which HTTP/2 connection a request shares is ``h2share.py``.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import replace
from typing import Any

from reusecheck.net import dial as dialing
from reusecheck.net.dial import ConnectionKey
from reusecheck.net.errors import RequestError
from reusecheck.net.http1 import HTTP1Connection
from reusecheck.net.http2 import HTTP2Connection
from reusecheck.net.request import Request
from reusecheck.net.response import Response
from reusecheck.pool.dials import DialLimit
from reusecheck.pool.lifecycle import Conn, Got, Lifecycle
from reusecheck.pool.options import ALPN, PoolOptions
from reusecheck.pool.retry import MAX_RETRIES, not_retried, retry_reason
from reusecheck.pool.routes import Routes
from reusecheck.trace import Tracer
from reusecheck.trace.vocab import RetryReason


class Pool:
    def __init__(
        self, tracer: Tracer, options: PoolOptions | None = None, *, first_conn_id: int = 1
    ) -> None:
        """``first_conn_id``: where connection ids start, so a pool that takes over from
        another in the same run (a scenario's fresh pool) never reuses an id."""
        self.tracer = tracer
        self.options = o = options or PoolOptions()
        self._dials = DialLimit(o.max_conns_per_host)
        self._life = Lifecycle(tracer, o, on_gone=self._dials.release)
        self._tasks: set[asyncio.Task[None]] = set()
        self._next_id = first_conn_id
        self._tls = replace(o.tls, alpn=ALPN.get(o.http, ALPN["auto"]))
        self._routes = Routes(o.routing)
        self.closed = False

    # -- the request path ----------------------------------------------------------

    async def round_trip(self, req: Request, index: int) -> Response:
        """Send ``req`` and return once its response headers are in.

        The caller reads or closes the body; until then the connection is not reusable.
        """
        tracer = self.tracer
        key, key_text = self._routes.key(req)
        attempts = 0
        retried = False
        retry: tuple[RetryReason, int] | None = None
        while True:
            attempts += 1
            tracer.emit("get_conn", index, None, key=key_text, method=req.method, url=req.url)
            conn, was_idle, idle_time = await self._get_conn(key, index, retry)
            reused = conn.requests > 0
            tracer.emit(
                "got_conn",
                index,
                conn.id,
                reused=reused,
                was_idle=was_idle,
                idle_time_s=round(idle_time, 6),
                protocol=conn.protocol,
            )
            try:
                resp = await conn.send(req, index, self.options.disable_keepalives)
            except RequestError as exc:
                exc.on_reused = reused
                exc.conn_id = conn.id
                self._life.failed(conn, index, exc)
                why = retry_reason(exc, reused, req.replayable, conn.multiplexed)
                if why is not None and attempts <= MAX_RETRIES[why]:
                    tracer.emit(
                        "retry", index, conn.id, error=exc.message, attempt=attempts + 1, reason=why
                    )
                    retried = True
                    retry = (why, conn.id)
                    continue
                exc.retried = retried
                if why is None:
                    exc.not_retried = not_retried(exc, reused, req.replayable)
                raise
            except asyncio.CancelledError:
                self._life.close(conn, index, "client", "end-of-run")
                raise
            except BaseException:
                self._life.close(conn, index, "client", "error")
                raise
            resp.on_done = self._life.response_done
            self._life.pending[index] = resp
            resp.retried = retried
            resp.reused = reused
            return resp

    async def _get_conn(
        self, key: ConnectionKey, index: int, retry: tuple[RetryReason, int] | None
    ) -> Got:
        """A connection for request ``index``: a stream on a shared h2 connection, the
        most recent idle one, or one dialled (or released) for it.  ``retry``: the
        attempt retries one that failed (on a new connection, as Go does)."""
        life = self._life
        fresh = retry is not None
        if self._h2_possible(key):
            got = await self._get_shared(key)
            if got is not None:
                return got
        if not fresh and not self.options.disable_keepalives:
            conn, idle_time, stale = life.idle.take(key, self.tracer.now())
            for s in stale:
                life.close_stale(s)
            if conn is not None:
                return Got(conn, True, idle_time)
        fut: asyncio.Future[Got] = asyncio.get_running_loop().create_future()
        if not fresh:
            waiters = life.waiters[key]
            # A waiter its own dial served stays queued until a put: against a server
            # that closes every connection none comes, so the done ones go here (each
            # holds its connection and that connection's read buffer).
            while waiters and waiters[0].done():
                waiters.popleft()
            if len(waiters) > 64:
                life.waiters[key] = waiters = deque(w for w in waiters if not w.done())
            waiters.append(fut)
        if self._h2_possible(key):
            life.shared.start_dial(key)
        why = life.dial_fields(key, retry)
        self._dials.request(key, lambda: self._start_dial(key, index, fut, why))
        try:
            return await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled() and fut.exception() is None:
                life.close(fut.result().conn, index, "client", "end-of-run")
            raise

    def _h2_possible(self, key: ConnectionKey) -> bool:
        mode = self.options.http
        if mode == "1.1" or key.forward or key in self._life.shared.http1_keys:
            return False
        return key.scheme == "https" or mode == "h2c"

    async def _get_shared(self, key: ConnectionKey) -> Got | None:
        """A stream on a live h2 connection, waiting for a first dial or a free stream.

        A wait for a free stream (``strict_max_streams`` at the limit, or a server that
        allows none) lasts at most the first-byte timeout: every network wait has one.
        """
        shared = self._life.shared
        deadline: float | None = None
        while True:
            picked = shared.pick(key, self.tracer.now())
            if picked is not None:
                return Got(*picked)
            dialing_ = shared.dialing(key)
            if dialing_ is not None:
                await asyncio.shield(dialing_)
                continue
            refusing = shared.accepts_none(key)
            if refusing or (self.options.strict_max_streams and shared.at_limit(key)):
                timeout = self.options.timeouts.first_byte
                loop = asyncio.get_running_loop()
                if deadline is None:
                    deadline = loop.time() + timeout
                try:
                    async with asyncio.timeout_at(deadline):
                        await shared.wait_for_slot(key)
                except TimeoutError:
                    raise RequestError(
                        "first-byte-timeout", self._no_stream(key, timeout)
                    ) from None
                continue
            return None

    def _no_stream(self, key: ConnectionKey, timeout: float) -> str:
        refusing = self._life.shared.accepts_none(key)
        if refusing:
            return refusing[0].no_stream(timeout) + (
                f" on all {len(refusing)} of its connections" if len(refusing) > 1 else ""
            )
        return (
            f"no free stream on {key} within {timeout:g} s: its connections were at the "
            "server's stream limit (strict max streams)"
        )

    # -- dialling --------------------------------------------------------------------

    def _start_dial(
        self, key: ConnectionKey, index: int, fut: asyncio.Future[Got], why: dict[str, Any]
    ) -> bool:
        if fut.done():
            return False  # got a connection another way while it waited for a dial slot
        task = asyncio.get_running_loop().create_task(self._dial_for(key, index, fut, why))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return True

    async def _dial_for(
        self, key: ConnectionKey, index: int, fut: asyncio.Future[Got], why: dict[str, Any]
    ) -> None:
        conn_id = self._next_id
        self._next_id += 1
        try:
            dialed = await dialing.dial(
                key,
                conn_id,
                index,
                self.tracer,
                self.options.timeouts,
                self._tls,
                self._life.sessions.offer(key),
                why,
                self.options.routing,
            )
        except RequestError as exc:
            self._dial_failed(key, fut, exc)
            return
        except Exception as exc:  # whatever broke the dial, its request hears it now
            what = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            self._dial_failed(key, fut, RequestError("connect", f"dialling {key} failed: {what}"))
            return
        except BaseException:  # cancelled: the pool is closing
            ended = RequestError("cancelled", "the pool closed before the connection was ready")
            self._dial_failed(key, fut, ended)
            raise
        conn = self._connection(conn_id, key, dialed)
        self._life.shared.dial_finished(key)
        if conn is None:
            self._h2_refused(key, conn_id, index, dialed, fut)
            return
        self._life.add(conn)
        if self.closed:
            self._life.close(conn, None, "client", "end-of-run")
        elif not fut.done():
            conn.reserve()
            fut.set_result(Got(conn, False, 0.0))
        elif isinstance(conn, HTTP1Connection):
            # The request got another connection first; keep this one (Go does too).
            self._life.put_idle(conn, None)

    def _dial_failed(
        self, key: ConnectionKey, fut: asyncio.Future[Got], error: RequestError | None
    ) -> None:
        self._dials.release(key)
        self._life.shared.dial_finished(key)
        if error is not None and not fut.done():
            fut.set_exception(error)

    def _connection(self, conn_id: int, key: ConnectionKey, dialed: dialing.Dialed) -> Conn | None:
        """HTTP/2 when ALPN chose it (or h2c), else HTTP/1.1; None when h2 was required."""
        o = self.options
        alpn = dialed.tls.alpn if dialed.tls is not None else None
        if not key.forward and (alpn == "h2" or (key.scheme == "http" and o.http == "h2c")):
            return HTTP2Connection(conn_id, key, dialed, self.tracer, o.timeouts)
        if key.scheme == "https" and o.http == "2":
            return None
        return HTTP1Connection(conn_id, key, dialed, self.tracer, o.timeouts)

    def _h2_refused(
        self,
        key: ConnectionKey,
        conn_id: int,
        index: int,
        dialed: dialing.Dialed,
        fut: asyncio.Future[Got],
    ) -> None:
        """--http2 and the server chose something else: close it, fail the request."""
        self._dials.release(key)
        alpn = dialed.tls.alpn if dialed.tls else None
        self.tracer.emit(
            "conn_closed",
            index,
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

    # -- the end of the run --------------------------------------------------------

    async def close(self) -> None:
        """Close everything; connections still pinned by an unread body say so."""
        self.closed = True
        for task in list(self._tasks):
            task.cancel()
        self._life.close_all()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        # Let the transports run connection_lost so no socket outlives the pool.
        for _ in range(3):
            await asyncio.sleep(0)

    # -- introspection for tests and reports -----------------------------------------

    def idle_count(self, key: ConnectionKey | None = None) -> int:
        idle = self._life.idle
        return len(idle) if key is None else idle.count(key)

    @property
    def open_connections(self) -> list[Conn]:
        return list(self._life.open.values())

    @property
    def next_conn_id(self) -> int:
        """The id the next dialled connection gets."""
        return self._next_id
