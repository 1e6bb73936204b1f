"""What happens to a connection once it exists: back to idle, handed over, watched, closed.

The half of Go's ``http.Transport`` that runs after a response: ``tryPutIdleConn``
(a waiting request first, then the idle list within ``max_idle_per_host`` and
``max_idle``), the idle timer, and the close of a connection with who closed it and
why.  Idle connections are watched through their sockets: the moment a server closes
one, ``idle_closed`` records how long it had been idle, which is how the server's
keep-alive timeout is measured without guessing.

``Pool`` owns one ``Lifecycle`` and adds the request path (getting and dialling
connections); this module knows nothing of it.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict, deque
from collections.abc import Callable
from typing import Any, Final, NamedTuple

from reusecheck.net.dial import ConnectionKey
from reusecheck.net.errors import RequestError
from reusecheck.net.http1 import HTTP1Connection
from reusecheck.net.http2 import HTTP2Connection
from reusecheck.net.response import Response
from reusecheck.pool.h2share import SharedConns
from reusecheck.pool.idle import IdleLimits, IdleList
from reusecheck.pool.options import PoolOptions
from reusecheck.pool.reasons import DialReasons, Loss, hint_timeout
from reusecheck.pool.sessions import SESSION_CHECKS, SessionCache
from reusecheck.trace import Tracer
from reusecheck.trace.vocab import SERVER_CLOSE_REASONS, ClosedBy, CloseReason, RetryReason

Conn = HTTP1Connection | HTTP2Connection


# A server close this long after the connection went idle is its idle timeout; a
# quicker one is a close after the response (the analysis reads it the same way).
SERVER_IDLE_MIN_S: Final = 0.1


class Got(NamedTuple):
    """What ``got_conn`` reports: the connection and Go's ``GotConnInfo`` facts."""

    conn: Conn
    was_idle: bool
    idle_time: float


def server_said(conn: Conn) -> str:
    """The first line of what the server sent unasked (``server_said``)."""
    return conn.unsolicited.split(b"\r\n", 1)[0].decode("latin-1")


class Lifecycle:
    def __init__(
        self, tracer: Tracer, options: PoolOptions, on_gone: Callable[[ConnectionKey], None]
    ) -> None:
        """``on_gone(key)``: a connection of ``key`` closed (a waiting dial may start)."""
        self.tracer = tracer
        self.options = options
        o = options
        self.idle: IdleList[HTTP1Connection] = IdleList(
            IdleLimits(o.max_idle, o.max_idle_per_host, o.idle_timeout)
        )
        self.shared: SharedConns[HTTP2Connection] = SharedConns()
        self.sessions = SessionCache(o.tls_resume)
        self.open: dict[int, Conn] = {}
        # Requests waiting for a connection of their key: a released one is handed over.
        self.waiters: dict[ConnectionKey, deque[asyncio.Future[Got]]] = defaultdict(deque)
        self.pending: dict[int, Response] = {}  # request index -> response not finished
        self.reasons = DialReasons()  # why each dial happens (the connection budget)
        self._timers: dict[int, asyncio.TimerHandle] = {}
        self._on_gone = on_gone

    def add(self, conn: Conn) -> None:
        conn.on_idle_event = self._idle_event
        if isinstance(conn, HTTP2Connection):
            conn.on_stream_slot = self._stream_slot
            self.shared.add(conn.key, conn)
        else:
            self.shared.http1_keys.add(conn.key)
        self.open[conn.id] = conn

    # -- after a response -----------------------------------------------------------

    def response_done(self, resp: Response, error: RequestError | None) -> None:
        conn: Conn = resp.conn
        if error is None and conn.tls is not None and conn.session_checks < SESSION_CHECKS:
            self.sessions.after_response(conn)
        index = resp.index
        self.pending.pop(index, None)
        if isinstance(conn, HTTP2Connection):
            self._stream_done(conn, resp, error)
            return
        if error is not None:
            if error.kind == "cancelled":
                # Closed before the body was read: Go closes such a connection too.
                self.refuse_put(conn, index, "client", "body-not-drained")
            else:
                self.failed(conn, index, error)
            return
        reason = conn.finish_cycle()
        if self.options.disable_keepalives and not conn.remote_closed:
            # We asked for the close (Go's DisableKeepAlives): the client's doing, even
            # when the server echoes Connection: close.
            self.refuse_put(conn, index, "client", "connection-close-header")
        elif reason is not None:
            by: ClosedBy = "server" if reason in SERVER_CLOSE_REASONS else "client"
            self.refuse_put(conn, index, by, reason)
        else:
            self.put_idle(conn, index)

    def refuse_put(self, conn: Conn, index: int | None, by: ClosedBy, reason: CloseReason) -> None:
        """The connection cannot go back idle: say why (put_idle), then close it."""
        self.tracer.emit(
            "put_idle",
            index,
            conn.id,
            ok=False,
            reason=reason,
            idle_conns=self.idle.count(conn.key),
        )
        self.close(conn, index, by, reason)

    def _stream_done(
        self, conn: HTTP2Connection, resp: Response, error: RequestError | None
    ) -> None:
        """A stream ended; the connection stays unless it is going away or gone."""
        if error is not None and error.kind not in ("cancelled", "stream-reset"):
            self.failed(conn, resp.index, error, stream_id=resp.stream_id)
            return
        reason = conn.finish_stream(resp, error is None)
        self.tracer.emit(
            "put_idle",
            resp.index,
            conn.id,
            ok=reason is None and conn.is_usable(),
            reason=reason,
            streams_active=conn.active,
        )
        if reason is not None:
            self.close(conn, resp.index, "server", reason)
            return
        self.shared.slot_freed(conn.key)
        if conn.active == 0:
            self._arm_idle_timer(conn)

    def _stream_slot(self, conn: HTTP2Connection) -> None:
        self.shared.slot_freed(conn.key)

    def put_idle(self, conn: HTTP1Connection, index: int | None) -> None:
        """Go's ``tryPutIdleConn``: a waiting request first, else the idle list."""
        tracer = self.tracer
        now = tracer.now()
        conn.idle_since = now
        waiters = self.waiters.get(conn.key)
        while waiters:
            w = waiters.popleft()
            if not w.done():
                tracer.emit(
                    "put_idle",
                    index,
                    conn.id,
                    ok=True,
                    reason=None,
                    handed_off=True,
                    idle_conns=self.idle.count(conn.key),
                )
                w.set_result(Got(conn, False, 0.0))
                return
        accepted, evicted = self.idle.put(conn, now)
        if not accepted:
            self.refuse_put(conn, index, "client", "pool-full")
            return
        tracer.emit(
            "put_idle", index, conn.id, ok=True, reason=None, idle_conns=self.idle.count(conn.key)
        )
        for old in evicted:
            tracer.emit(
                "idle_closed",
                None,
                old.id,
                idle_time_s=round(now - old.idle_since, 6),
                reason="pool-full",
                closed_by="client",
            )
            self.close(old, None, "client", "pool-full")
        self._arm_idle_timer(conn)

    # -- idle connections -----------------------------------------------------------

    def _arm_idle_timer(self, conn: Conn) -> None:
        timeout = self.options.idle_timeout
        if timeout and conn.id not in self._timers:
            loop = asyncio.get_running_loop()
            self._timers[conn.id] = loop.call_later(timeout, self._idle_timer, conn)

    def _idle_since(self, conn: Conn) -> float | None:
        """When ``conn`` went idle, or None if it is busy, ended or not ours any more."""
        if conn.id not in self.open:
            return None
        if isinstance(conn, HTTP2Connection):
            return conn.last_active if conn.active == 0 else None
        return self.idle.idle_since(conn) if conn in self.idle else None

    def _idle_timer(self, conn: Conn) -> None:
        """Go's idleTimer; one pending timer per connection, re-armed lazily."""
        self._timers.pop(conn.id, None)
        since = self._idle_since(conn) if conn.is_usable() else None
        if since is None:
            return
        timeout = self.options.idle_timeout or 0.0
        now = self.tracer.now()
        idle_for = now - since
        if idle_for + 0.001 < timeout:
            loop = asyncio.get_running_loop()
            self._timers[conn.id] = loop.call_later(timeout - idle_for, self._idle_timer, conn)
            return
        self.tracer.emit(
            "idle_closed",
            None,
            conn.id,
            idle_time_s=round(idle_for, 6),
            reason="client-idle-timeout",
            closed_by="client",
        )
        self.close(conn, None, "client", "client-idle-timeout", idle_since=since)

    def _idle_event(self, conn: Conn) -> None:
        """The server closed (or wrote to, or sent GOAWAY on) a connection while idle."""
        since = self._idle_since(conn)
        if since is None:
            return
        if isinstance(conn, HTTP2Connection) and conn.fatal is not None:
            # A connection error with no stream open (a flood it stopped reading): ours.
            self.close(conn, None, "client", "error", conn.fatal)
            return
        reason = conn.idle_close_reason()
        # Bytes that answer no request and are not a 408 (the server's idle close, as
        # Go reads it): the client ends the connection, as Go's Transport does; the
        # server's idle timeout it is not.
        stray = isinstance(conn, HTTP1Connection) and conn.stray_response()
        by: ClosedBy = "client" if stray else "server"
        fields: dict[str, Any] = {
            "idle_time_s": round(self.tracer.now() - since, 6),
            "reason": reason,
            "closed_by": by,
        }
        if conn.unsolicited:
            fields["server_said"] = server_said(conn)
        self.tracer.emit("idle_closed", None, conn.id, **fields)
        close: CloseReason = "goaway" if reason == "goaway" else "idle-timeout"
        if by == "server" and fields["idle_time_s"] >= SERVER_IDLE_MIN_S:
            self.reasons.server_idle(conn.key, fields["idle_time_s"])
        self.close(conn, None, by, "unsolicited-response" if stray else close)

    def close_stale(self, conn: Conn) -> None:
        """An idle connection found unusable or too old when a request wanted it."""
        if isinstance(conn, HTTP1Connection) and conn.stray_response():
            self.close(conn, None, "client", "unsolicited-response")
        elif conn.remote_closed or conn.unsolicited:
            self.close(conn, None, "server", "idle-timeout")
        else:
            since = self._idle_since(conn)
            self.close(conn, None, "client", "client-idle-timeout", idle_since=since)

    # -- failures and closes ----------------------------------------------------------

    def failed(
        self, conn: Conn, index: int, exc: RequestError, stream_id: int | None = None
    ) -> None:
        if isinstance(conn, HTTP2Connection):
            # One stream failed; the connection goes only if it is gone or going away.
            conn.drop_stream(stream_id)
            reason = conn.release()
            if exc.kind == "protocol" or conn.closed:
                self.close(conn, index, "client", "error", exc.message)
            elif reason is not None:
                self.close(conn, index, "server", reason, exc.message)
            else:
                self.shared.slot_freed(conn.key)
            return
        if exc.kind == "server-closed":
            self.close(conn, index, "server", conn.remote_closed or "eof", exc.message)
        else:
            self.close(conn, index, "client", "error", exc.message)

    def close(
        self,
        conn: Conn,
        index: int | None,
        closed_by: ClosedBy,
        reason: CloseReason,
        error: str | None = None,
        idle_since: float | None = None,
    ) -> None:
        """``idle_since``: a client idle-timeout close says since when it was idle."""
        if conn.id not in self.open:
            return
        del self.open[conn.id]
        if isinstance(conn, HTTP1Connection):
            self.idle.remove(conn)
        else:
            self.shared.remove(conn.key, conn)
        timer = self._timers.pop(conn.id, None)
        if timer is not None:
            timer.cancel()
        fields: dict[str, Any] = {
            "closed_by": closed_by,
            "reason": reason,
            "requests": conn.requests,
        }
        if error is not None:
            fields["error"] = error
        if conn.goaway is not None:
            fields["error_code"] = conn.goaway[0]
        if reason == "unsolicited-response" and conn.unsolicited:
            fields["server_said"] = server_said(conn)
        if isinstance(conn, HTTP2Connection) and conn.settings_repeated:
            fields["settings_repeated"] = conn.settings_repeated
        self.tracer.emit("conn_closed", index, conn.id, **fields)
        conn.close()
        # A connection an unread body pinned is the client's loss, whoever ends it.
        pinned = any(r.abandoned and r.conn is conn for r in self.pending.values())
        hint = hint_timeout(conn.keep_alive) if isinstance(conn, HTTP1Connection) else None
        self.reasons.lost(
            conn.key,
            conn.id,
            conn.requests,
            closed_by,
            reason,
            pinned=pinned,
            idle_since=idle_since,
            server_idle_s=hint,
        )
        self._on_gone(conn.key)

    def dial_fields(
        self, key: ConnectionKey, retry: tuple[RetryReason, int] | None
    ) -> dict[str, Any]:
        """Why a dial of ``key`` happens now (``connect_start.dial_reason`` and its
        details), from what the pool holds at this instant."""
        held = {
            r.conn.id
            for r in self.pending.values()
            if r.abandoned and r.conn.key == key and not r.conn.multiplexed
        }
        # A pinned connection the server is ending was lost to its unread body first.
        draining = [
            Loss(
                c.id,
                "server-closed",
                "goaway" if c.goaway is not None else c.remote_closed or "eof",
                c.requests,
            )
            for c in self.open.values()
            if c.key == key
            and (c.goaway is not None or c.remote_closed)
            and not c.closed
            and c.id not in held
        ]
        # The latest pinned: the one that would have come back to the idle list last.
        pinned = max(held, default=None)
        return self.reasons.why(
            key,
            retry=retry,
            draining=draining,
            pinned=pinned,
            at_stream_limit=self.shared.at_limit(key),
            now=self.tracer.now(),
        )

    def close_all(self) -> None:
        """The end of the pool: connections still pinned by an unread body say so."""
        # A body nobody started reading pins its connection (the classic leak); a read
        # cut short by the deadline or a stopped run is just the end of the run.
        pinned = {
            r.conn.id: r for r in self.pending.values() if not r.conn.multiplexed and not r.reading
        }
        self.pending.clear()
        for conn in list(self.open.values()):
            resp = pinned.get(conn.id)
            if resp is not None:
                self.refuse_put(conn, resp.index, "client", "body-not-drained")
            else:
                self.close(conn, None, "client", "end-of-run")
