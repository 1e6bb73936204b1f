"""Whether a response keeps its connection open, and what its headers say about that.

Sans-IO: the decision depends on the configuration, the request's position on the
connection and what the client asked for, never on a socket.  The reasons are the server's
side of the close-reason vocabulary in ``records``.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Literal

import h11

from reusecheck.server.config import DEFAULT_MAX_STREAMS, ServerConfig

Header = tuple[bytes, bytes]
_CLOSE: tuple[Header, ...] = ((b"connection", b"close"),)


@dataclass(frozen=True, slots=True)
class Decision:
    """``close_reason`` None keeps the connection; ``headers`` go on the response."""

    close_reason: str | None
    headers: tuple[Header, ...] = ()


def client_wants_close(request: h11.Request) -> bool:
    """RFC 9112 9.3: an HTTP/1.0 request (h11 does no 1.0 keep-alive) or Connection: close."""
    if request.http_version < b"1.1":
        return True
    return any(
        name == b"connection" and b"close" in value.lower().replace(b" ", b"").split(b",")
        for name, value in request.headers
    )


def keepalive_value(config: ServerConfig) -> bytes | None:
    """The Keep-Alive header value to send on keep-alive responses, if any.

    ``max`` is the configured limit as is (Apache sends the requests remaining instead);
    a parameter the server does not enforce is left out.
    """
    if config.keepalive_hint_override is not None:
        return config.keepalive_hint_override.encode("ascii")
    if not config.keepalive_hint:
        return None
    params = []
    if config.idle_timeout is not None:
        params.append(f"timeout={config.idle_timeout:g}")
    if config.max_requests is not None:
        params.append(f"max={config.max_requests}")
    return ", ".join(params).encode("ascii") if params else None


def decide(config: ServerConfig, nth: int, client_close: bool) -> Decision:
    """The policy for the ``nth`` response (1-based) on a connection.

    Precedence follows ServerConfig: http10, close_always, max_requests, then the client's
    own Connection: close (which h11 also enforces; naming it keeps the reason honest).
    An HTTP/1.0 response signals the close by its version alone, as 1.0 servers did.
    """
    if config.http10:
        return Decision("http10")
    if config.close_always:
        return Decision("close-always", _CLOSE)
    if config.max_requests is not None and nth >= config.max_requests:
        return Decision("max-requests", _CLOSE)
    if client_close:
        return Decision("client-close", _CLOSE)
    hint = keepalive_value(config)
    return Decision(None, ((b"keep-alive", hint),) if hint is not None else ())


# What happens to a new HTTP/2 stream (StreamGate.admit).
Admission = Literal["serve", "refuse", "ignore", "drop"]


@dataclass(slots=True)
class StreamGate:
    """Which new HTTP/2 streams a connection serves: the HTTP/2 side of the policy.

    Over ``max_streams`` open streams: refuse (RST_STREAM REFUSED_STREAM, RFC 9113 5.1.2).
    Above the last stream a GOAWAY named: ignore (6.8).  Once ``drop_after`` were served:
    drop the connection.  The stream that reaches the limit (``max_requests``, or one for
    ``close_always``) starts the drain: ``last_stream`` names it, ``drain_reason`` says why.
    ``http10`` and the Keep-Alive hint have no HTTP/2 meaning (8.2.2 forbids
    connection-specific headers), so they are left out.
    """

    max_streams: int
    limit: tuple[int, str] | None = None
    drop_after: int | None = None
    served: int = 0
    highest: int = 0  # the highest stream served
    last_stream: int | None = None
    drain_reason: str | None = None

    @classmethod
    def for_config(cls, config: ServerConfig) -> StreamGate:
        limit = None
        if config.close_always:
            limit = (1, "close-always")
        elif config.max_requests is not None:
            limit = (config.max_requests, "max-requests")
        max_streams = config.max_streams or DEFAULT_MAX_STREAMS
        return cls(max_streams, limit, config.drop_after)

    def admit(self, stream_id: int, open_streams: int) -> Admission:
        if self.last_stream is not None and stream_id > self.last_stream:
            return "ignore"
        if open_streams >= self.max_streams:
            return "refuse"
        if self.drop_after is not None and self.served >= self.drop_after:
            return "drop"
        self.served += 1
        self.highest = stream_id
        if self.limit is not None and self.served >= self.limit[0]:
            self.last_stream, self.drain_reason = stream_id, self.limit[1]
        return "serve"

    def close_at(self) -> int:
        """A GOAWAY's last_stream_id, now or at the drain; later streams are ignored."""
        if self.last_stream is None:
            self.last_stream = self.highest
        return self.last_stream


@dataclass(slots=True)
class StreamQueue:
    """Which HTTP/2 streams are worked on, and which wait their turn
    (``ServerConfig.h2_streams_at_once``, a worker pool behind the front end).

    A stream whose request has ended ``arrive``s: worked on at once while fewer than
    ``limit`` are, else queued, first come first served.  When one ``leave``s (its
    response ended, or it was reset), the waiting ones move up; ``next_turn`` hands them
    out, each counted as worked on from then.
    """

    limit: int | None
    working: set[int] = field(default_factory=set)
    waiting: deque[int] = field(default_factory=deque)
    turns: deque[int] = field(default_factory=deque)

    def _room(self) -> bool:
        return self.limit is None or len(self.working) < self.limit

    def arrive(self, stream_id: int) -> bool:
        """True: work on it now; False: it waits its turn."""
        if not self._room():
            self.waiting.append(stream_id)
            return False
        self.working.add(stream_id)
        return True

    def leave(self, stream_id: int) -> None:
        self.working.discard(stream_id)
        if stream_id in self.waiting:
            self.waiting.remove(stream_id)
        while self.waiting and self._room():
            turn = self.waiting.popleft()
            self.working.add(turn)
            self.turns.append(turn)

    def next_turn(self) -> int | None:
        return self.turns.popleft() if self.turns else None
