"""What happens to a connection once it exists: back to idle, handed over, watched, closed.

The half of Go's ``http.Transport`` that runs after a response: ``tryPutIdleConn``
(a waiting request first, then the idle list within ``max_idle_per_host`` and
``max_idle``), the idle timer, and the close of a connection with who closed it and
why.  Idle connections are watched through their sockets: the moment a server closes
one, ``idle_closed`` records how long it had been idle, which is how the server's
keep-alive timeout is measured without guessing.  ``Pool`` adds the request path.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import defaultdict, deque
from typing import TYPE_CHECKING, Any

from reusecheck.h2share import SharedConns
from reusecheck.idle import IdleLimits, IdleList
from reusecheck.net.dial import ConnectionKey
from reusecheck.net.errors import RequestError
from reusecheck.net.http1 import HTTP1Connection
from reusecheck.net.http2 import HTTP2Connection
from reusecheck.net.response import Response
from reusecheck.trace import Tracer

if TYPE_CHECKING:
    from reusecheck.pool import PoolOptions

Conn = HTTP1Connection | HTTP2Connection
Got = tuple[Conn, bool, float]  # connection, was_idle, idle_time

# Responses after which a connection's TLS session is read for the next dial, at most
# (TLS 1.3 tickets arrive after the handshake; a server may send a later one).
_SESSION_CHECKS = 3

# close reasons that mean the server ended the connection
SERVER_REASONS = frozenset(
    {"connection-close-header", "http10", "idle-timeout", "max-requests", "goaway", "eof", "reset"}
)


class ConnectionBook:
    def __init__(self, tracer: Tracer, options: PoolOptions) -> None:
        self.tracer = tracer
        self.options = options
        o = options
        self._idle: IdleList[HTTP1Connection] = IdleList(
            IdleLimits(o.max_idle, o.max_idle_per_host, o.idle_timeout)
        )
        self._open: dict[int, Conn] = {}
        self._waiters: dict[ConnectionKey, deque[asyncio.Future[Got]]] = defaultdict(deque)
        self._timers: dict[int, asyncio.TimerHandle] = {}
        self._pending: dict[int, Response] = {}  # request index -> response not finished
        self._shared: SharedConns[HTTP2Connection] = SharedConns()
        self._sessions: dict[ConnectionKey, ssl.SSLSession] = {}

    def _slot_freed(self, key: ConnectionKey) -> None:
        """A connection of ``key`` is gone (the Pool lets a waiting dial go ahead)."""

    def _session_for(self, key: ConnectionKey) -> ssl.SSLSession | None:
        return self._sessions.get(key) if self.options.tls_resume else None

    def _remember_session(self, conn: Conn) -> None:
        """Keep the connection's TLS session for the next dial to the key.

        Taken after a response was read, not after the handshake: TLS 1.3 servers send
        their session tickets after the handshake, so only then does the session hold one.
        Reading ``SSLObject.session`` copies the session (CPython serialises and parses
        it, certificates included: ~0.1 ms), so it is read after a connection's first
        responses only, not after every one; a session with a ticket ends the checks.
        """
        sslobj = conn.channel.ssl_object
        if sslobj is not None and self.options.tls_resume:
            session = sslobj.session
            conn.session_checks += 1
            if session is not None:
                self._sessions[conn.key] = session
                if session.has_ticket:
                    conn.session_checks = _SESSION_CHECKS

    def _response_done(self, resp: Response, error: RequestError | None) -> None:
        conn = resp.conn
        if error is None and conn.tls is not None and conn.session_checks < _SESSION_CHECKS:
            self._remember_session(conn)
        self._pending.pop(resp.request, None)
        request = resp.request
        if isinstance(conn, HTTP2Connection):
            self._stream_done(conn, resp, error)
            return
        if error is not None:
            if error.kind == "cancelled":
                # Closed before the body was read: Go closes such a connection too.
                self.tracer.emit(
                    "put_idle",
                    request,
                    conn.id,
                    ok=False,
                    reason="body-not-drained",
                    idle_conns=self._idle.count(conn.key),
                )
                self._close(conn, request, "client", "body-not-drained")
            else:
                self._failed(conn, request, error)
            return
        reason = conn.finish_cycle()
        if reason is None and self.options.disable_keepalives:
            reason = "connection-close-header"
            by = "client"
        else:
            by = "server" if reason in SERVER_REASONS else "client"
        if reason is not None:
            self.tracer.emit(
                "put_idle",
                request,
                conn.id,
                ok=False,
                reason=reason,
                idle_conns=self._idle.count(conn.key),
            )
            self._close(conn, request, by, reason)
            return
        self._put_idle(conn, request)

    def _stream_done(
        self, conn: HTTP2Connection, resp: Response, error: RequestError | None
    ) -> None:
        """A stream ended; the connection stays unless it is going away or gone."""
        complete = error is None
        if error is not None and error.kind not in ("cancelled", "stream-reset"):
            self._failed(conn, resp.request, error, stream_id=resp.stream_id)
            return
        reason = conn.finish_stream(resp, complete)
        self.tracer.emit(
            "put_idle",
            resp.request,
            conn.id,
            ok=reason is None and conn.is_usable(),
            reason=reason,
            streams_active=conn.active,
        )
        self._after_stream(conn, resp.request, reason)

    def _after_stream(self, conn: HTTP2Connection, request: int | None, reason: str | None) -> None:
        if reason is not None:
            self._close(conn, request, "server", reason)
            return
        self._shared.slot_freed(conn.key)
        if conn.active == 0:
            self._arm_idle_timer(conn)

    def _put_idle(self, conn: HTTP1Connection, request: int | None) -> None:
        tracer = self.tracer
        now = tracer.now()
        conn.idle_since = now
        waiters = self._waiters.get(conn.key)
        while waiters:
            w = waiters.popleft()
            if not w.done():
                tracer.emit(
                    "put_idle",
                    request,
                    conn.id,
                    ok=True,
                    reason=None,
                    handed_off=True,
                    idle_conns=self._idle.count(conn.key),
                )
                w.set_result((conn, False, 0.0))
                return
        accepted, evicted = self._idle.put(conn, now)
        if not accepted:
            tracer.emit(
                "put_idle",
                request,
                conn.id,
                ok=False,
                reason="pool-full",
                idle_conns=self._idle.count(conn.key),
            )
            self._close(conn, request, "client", "pool-full")
            return
        tracer.emit(
            "put_idle",
            request,
            conn.id,
            ok=True,
            reason=None,
            idle_conns=self._idle.count(conn.key),
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
            self._close(old, None, "client", "pool-full")
        self._arm_idle_timer(conn)

    def _arm_idle_timer(self, conn: Conn) -> None:
        timeout = self.options.idle_timeout
        if timeout and conn.id not in self._timers:
            loop = asyncio.get_running_loop()
            self._timers[conn.id] = loop.call_later(timeout, self._idle_timer, conn)

    def _idle_since(self, conn: Conn) -> float | None:
        """When ``conn`` went idle, or None if it is busy or not ours any more."""
        if isinstance(conn, HTTP2Connection):
            if conn.active == 0 and conn.is_usable() and conn.id in self._open:
                return conn.last_active
            return None
        return self._idle.idle_since(conn) if conn in self._idle else None

    def _idle_timer(self, conn: Conn) -> None:
        """Go's idleTimer; one pending timer per connection, re-armed lazily."""
        self._timers.pop(conn.id, None)
        since = self._idle_since(conn)
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
        self._close(conn, None, "client", "client-idle-timeout")

    def _idle_event(self, conn: Conn) -> None:
        """The server closed (or wrote to, or sent GOAWAY on) a connection while idle."""
        since = (
            self._idle_since(conn)
            if isinstance(conn, HTTP1Connection)
            else (conn.last_active if conn.active == 0 and conn.id in self._open else None)
        )
        if since is None:
            return
        now = self.tracer.now()
        if isinstance(conn, HTTP1Connection):
            self._idle.remove(conn)
        fields: dict[str, Any] = {
            "idle_time_s": round(now - since, 6),
            "reason": "goaway"
            if isinstance(conn, HTTP2Connection) and conn.goaway is not None
            else conn.remote_closed or "unsolicited-response",
            "closed_by": "server",
        }
        if conn.unsolicited:
            fields["server_said"] = conn.unsolicited.split(b"\r\n", 1)[0].decode("latin-1")
        self.tracer.emit("idle_closed", None, conn.id, **fields)
        reason = "goaway" if fields["reason"] == "goaway" else "idle-timeout"
        self._close(conn, None, "server", reason)

    def _close_stale(self, conn: Conn) -> None:
        if conn.remote_closed or conn.unsolicited:
            self._close(conn, None, "server", "idle-timeout")
        else:
            self._close(conn, None, "client", "client-idle-timeout")

    def _failed(
        self, conn: Conn, request: int, exc: RequestError, stream_id: int | None = None
    ) -> None:
        if isinstance(conn, HTTP2Connection):
            # One stream failed; the connection goes only if it is gone or going away.
            conn.drop_stream(stream_id)
            reason = conn.release()
            if exc.kind == "protocol" or conn.closed:
                self._close(conn, request, "client", "error", exc.message)
            elif reason is not None:
                self._close(conn, request, "server", reason, exc.message)
            else:
                self._shared.slot_freed(conn.key)
            return
        if exc.kind == "server-closed":
            self._close(conn, request, "server", conn.remote_closed or "eof", exc.message)
        else:
            self._close(conn, request, "client", "error", exc.message)

    def _close(
        self,
        conn: Conn,
        request: int | None,
        closed_by: str,
        reason: str,
        error: str | None = None,
    ) -> None:
        if conn.id not in self._open:
            return
        del self._open[conn.id]
        if isinstance(conn, HTTP1Connection):
            self._idle.remove(conn)
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
        if isinstance(conn, HTTP2Connection):
            self._shared.remove(conn.key, conn)
            if conn.goaway is not None:
                fields["error_code"] = conn.goaway[0]
        self.tracer.emit("conn_closed", request, conn.id, **fields)
        conn.close()
        self._slot_freed(conn.key)
