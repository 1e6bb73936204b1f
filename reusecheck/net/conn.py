"""What every pooled connection carries, whatever its protocol, and where it is in its life."""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Callable
from typing import Any

from reusecheck.net import client_certs
from reusecheck.net.dial import ConnectionKey, Dialed, Timeouts
from reusecheck.net.errors import RequestError
from reusecheck.trace import Tracer
from reusecheck.trace.vocab import CloseReason, IdleCloseReason


class ConnState(enum.Enum):
    """Where a connection is in its life: httpcore's HTTPConnectionState, plus DRAINING.

    ``IDLE`` and ``ACTIVE`` alternate while the connection is reused (HTTP/2: ACTIVE while
    any stream is open).  The server ending it (EOF, a reset, unsolicited bytes, a GOAWAY)
    makes it ``DRAINING``: what is in flight may still finish, nothing new may start.
    ``CLOSED`` once the pool closed it; nothing leaves CLOSED.
    """

    IDLE = "idle"
    ACTIVE = "active"
    DRAINING = "draining"
    CLOSED = "closed"


# The members as module names: ``ACTIVE`` is a class-attribute lookup (~50 ns),
# and the states are read on every chunk a connection receives.
IDLE, ACTIVE, DRAINING, CLOSED = ConnState


class PooledConnection:
    """The pool's view of a connection: identity, addresses, TLS, state, how it ended.

    HTTP1Connection and HTTP2Connection add their protocol; the pool reads this interface
    and branches on ``multiplexed`` only where HTTP/2's sharing differs from HTTP/1.1's
    one-request-at-a-time.
    """

    protocol = ""
    multiplexed = False

    def __init__(
        self, conn_id: int, key: ConnectionKey, dialed: Dialed, tracer: Tracer, timeouts: Timeouts
    ) -> None:
        self.id = conn_id
        self.key = key
        self.channel = dialed.channel
        self.local = dialed.local
        self.remote = dialed.remote
        self.tls = dialed.tls
        self.session_checks = 0  # times the pool read its TLS session (pool/sessions.py)
        self.tracer = tracer
        self.timeouts = timeouts
        self.requests = 0  # requests (streams) sent; reused == requests > 0 at got_conn
        self.state = IDLE
        self.remote_closed: CloseReason | None = None  # "eof" / "reset" (h2: "error")
        self.unsolicited = b""  # what the server sent while nobody asked (e.g. a 408)
        # HTTP/2's GOAWAY (error code name, last stream id); never set on HTTP/1.1.
        self.goaway: tuple[str, int] | None = None
        self.on_idle_event: Callable[[Any], None] | None = None
        # A TLS alert that refused the client's certificate after the handshake.
        self.tls_refused: str | None = None
        self._loop = asyncio.get_running_loop()
        # One timer per connection for every wait on it, armed for the earliest deadline
        # and re-armed lazily by on_timer: a wait costs a future, not a TimerHandle.
        self._timer: asyncio.TimerHandle | None = None

    @property
    def closed(self) -> bool:
        return self.state is CLOSED

    def is_usable(self) -> bool:
        """Open and not ended by the server (HTTP/2: it may be at its stream limit)."""
        return self.state is IDLE or self.state is ACTIVE

    def reserve(self) -> None:
        """The pool picked it for a request.  HTTP/1.1's ``send`` takes it then; HTTP/2
        counts the stream at once, so the next pick sees it."""

    def _drain(self) -> None:
        """The server ended the connection: no new request may start on it."""
        if self.state is not CLOSED:
            self.state = DRAINING

    def idle_close_reason(self) -> IdleCloseReason:
        """How the server ended it while idle (``idle_closed.reason``)."""
        if self.goaway is not None:
            return "goaway"
        if self.remote_closed in ("eof", "reset"):
            return self.remote_closed
        return "unsolicited-response"

    def refused_by_tls(self, exc: BaseException | None) -> str | None:
        """A TLS alert about the client's certificate that ended the connection after the
        handshake (a TLS 1.3 server sends ``certificate_required`` at the first read),
        as one line; kept, so the request it fails reports it (kind ``tls``)."""
        ssl_object = self.channel.ssl_object
        if exc is None or ssl_object is None:
            return None
        sent = self.tls.client_cert if self.tls is not None else False
        found = client_certs.refusal(exc, client_certs.requested(ssl_object), sent)
        if found is not None and self.tls_refused is None:
            self.tls_refused = found
        return found

    def refused_silently(self) -> bool:
        """The server asked for a client certificate, none was sent, and it ended the
        connection before answering its first request: a refusal without an alert."""
        tls = self.tls
        return (
            tls is not None
            and tls.client_cert_requested is True
            and not tls.client_cert
            and self.requests <= 1
        )

    def server_closed(self, message: str, before_response: bool = False) -> RequestError:
        """The request's error when the server ended the connection: ``server-closed``,
        or ``tls`` when it refused the client for want of a certificate."""
        if self.tls_refused is not None:
            return RequestError("tls", self.tls_refused)
        if before_response and self.refused_silently():
            return RequestError("tls", client_certs.CLOSED_WITHOUT_ONE)
        return RequestError("server-closed", message, before_response=before_response)

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    def arm_timer(self, deadline: float) -> None:
        """Make sure the connection's timer fires no later than ``deadline``."""
        timer = self._timer
        if timer is None or timer.when() > deadline:
            if timer is not None:
                timer.cancel()
            self._timer = self._loop.call_at(deadline, self.on_timer)

    def on_timer(self) -> None:
        raise NotImplementedError
