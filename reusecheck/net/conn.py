"""What every pooled connection carries, whatever its protocol."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from reusecheck.net.dial import ConnectionKey, Dialed, Timeouts
from reusecheck.trace import Tracer


class PooledConnection:
    """The pool's view of a connection: identity, addresses, TLS, and how it ended.

    HTTP1Connection and HTTP2Connection add their protocol; the pool reads only this.
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
        self.tls_session = dialed.session
        self.session_checks = 0  # times the pool read its TLS session (lifecycle.py)
        self.tracer = tracer
        self.timeouts = timeouts
        self.requests = 0  # requests (streams) sent; reused == requests > 0 at got_conn
        self.closed = False
        self.remote_closed: str | None = None  # "eof" / "reset" (h2: "goaway") once ended
        self.unsolicited = b""  # what the server sent while nobody asked (e.g. a 408)
        self.on_idle_event: Callable[[Any], None] | None = None
        self._loop = asyncio.get_running_loop()
        # One timer per connection for every wait on it, armed for the earliest deadline
        # and re-armed lazily by _on_timer: a wait costs a future, not a TimerHandle.
        self._timer: asyncio.TimerHandle | None = None

    def _arm_timer(self, deadline: float) -> None:
        """Make sure the connection's timer fires no later than ``deadline``."""
        timer = self._timer
        if timer is None or timer.when() > deadline:
            if timer is not None:
                timer.cancel()
            self._timer = self._loop.call_at(deadline, self._on_timer)

    def _on_timer(self) -> None:
        raise NotImplementedError
