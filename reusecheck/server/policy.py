"""Whether a response keeps its connection open, and what its headers say about that.

Sans-IO: the decision depends on the configuration, the request's position on the
connection and what the client asked for, never on a socket.  The reasons are the server's
side of the close-reason vocabulary in ``records``.
"""

from __future__ import annotations

from dataclasses import dataclass

import h11

from reusecheck.server.config import ServerConfig

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
