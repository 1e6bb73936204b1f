"""What the target server does with connections, declared once and frozen.

Each knob reproduces one real-world way a server ends (or refuses) connection reuse, so a
probe against ``reusecheck serve`` can be checked against a known answer: nginx's
``keepalive_timeout`` and ``keepalive_requests``, a server that always says
``Connection: close``, an HTTP/1.0 server, Apache's ``Keep-Alive`` hint, and the race where
an idle connection is closed just as the client reuses it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

# SETTINGS_MAX_CONCURRENT_STREAMS when max_streams is unset: h2's own default, in the range
# servers advertise (nginx 128, Go's net/http 250).
DEFAULT_MAX_STREAMS: Final = 100


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """The target's behaviour.

    When several close rules apply to one response, the first of ``http10``,
    ``close_always``, ``max_requests`` wins (it names the reason recorded).

    ``h2`` adds HTTP/2 on the same port: chosen by ALPN with ``tls``, else h2c with prior
    knowledge beside HTTP/1.1.  On HTTP/2 connections the close rules become GOAWAY
    (``idle_timeout``, ``max_requests`` counting streams, ``close_always`` as one stream
    per connection), ``http10`` and the Keep-Alive hint do not apply, and ``max_streams``
    is SETTINGS_MAX_CONCURRENT_STREAMS (DEFAULT_MAX_STREAMS when unset).
    """

    host: str = "127.0.0.1"
    port: int = 0  # 0: the OS picks a free port
    # Seconds a keep-alive connection may sit idle (no request in progress, last response
    # written) before the server closes it; None: never.
    idle_timeout: float | None = None
    # Tests only.  Seconds between the ticks of a periodic idle reaper: instead of a timer
    # per connection (nginx), one task wakes every interval and closes the connections
    # idle for at least ``idle_timeout``, so a close lands anywhere from idle_timeout to
    # idle_timeout + interval after the connection went idle (servers that check idle
    # connections on a tick behave so).  None: a timer per connection.
    idle_reap_interval: float | None = None
    # The Nth request on a connection is answered with Connection: close, then closed.
    max_requests: int | None = None
    close_always: bool = False
    http10: bool = False
    # Send "Keep-Alive: timeout=T, max=M" on keep-alive responses, as Apache does.
    keepalive_hint: bool = False
    # Sent verbatim as the Keep-Alive value instead (it may lie, to test clients that trust it).
    keepalive_hint_override: str | None = None
    # After N answered requests, close without answering when request N+1 arrives.
    drop_after: int | None = None
    tls: bool = False
    # False: the server never resumes a TLS session.  It sends no TLS 1.3 session tickets
    # (num_tickets 0) and speaks TLS 1.3 only, because Python's ssl cannot turn off the
    # TLS 1.2 session-ID cache (OP_NO_TICKET alone still resumes, statefully, in both).
    tls_resumption: bool = True
    cert_names: tuple[str, ...] = ("localhost", "127.0.0.1", "::1")
    # Tests only.  A CA (PEM) the TLS server verifies client certificates against, and
    # requires one (CERT_REQUIRED): a client without one is refused with a TLS alert
    # (handshake_failure in TLS 1.2; certificate_required after the handshake in 1.3).
    client_ca_pem: bytes | None = None
    # Tests only.  The newest TLS version the server speaks: "1.2" or "1.3".
    tls_max: str = "1.3"
    h2: bool = False
    # False (tests only): the TLS server selects no ALPN protocol at all, as TLS stacks
    # and proxies without ALPN support do.
    alpn: bool = True
    max_streams: int | None = None
    # Tests only.  HTTP/2 streams worked on at once: the others wait in a queue (first
    # come, first served) until one of those has sent its response, while SETTINGS still
    # advertise ``max_streams``, as a worker pool or an upstream connection limit behind
    # an HTTP/2 front end does.  None: every admitted stream is worked on at once.
    h2_streams_at_once: int | None = None
    # Bound on every wait inside a request: the rest of a request once its first byte
    # arrived, the TLS handshake, a client that stops reading a response.
    request_timeout: float = 30.0

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be 0-65535, not {self.port}")
        if self.idle_timeout is not None and self.idle_timeout < 0:
            raise ValueError("idle_timeout must not be negative")
        if self.max_requests is not None and self.max_requests < 1:
            raise ValueError("max_requests must be at least 1")
        if self.drop_after is not None and self.drop_after < 0:
            raise ValueError("drop_after must not be negative")
        if self.max_streams is not None and self.max_streams < 1:
            raise ValueError("max_streams must be at least 1")
        if self.h2_streams_at_once is not None and self.h2_streams_at_once < 1:
            raise ValueError("h2_streams_at_once must be at least 1")
        if self.idle_reap_interval is not None:
            if not self.idle_reap_interval > 0:
                raise ValueError("idle_reap_interval must be positive")
            if self.idle_timeout is None:
                raise ValueError("idle_reap_interval needs an idle_timeout to reap by")
        if self.request_timeout <= 0:
            raise ValueError("request_timeout must be positive")
        hint = self.keepalive_hint_override
        # A header value with CR/LF would be response splitting, and h11 refuses it mid-response.
        if hint is not None and ("\r" in hint or "\n" in hint or not hint.isascii()):
            raise ValueError("keepalive_hint_override must be one line of ASCII")
        if self.tls and not self.cert_names:
            raise ValueError("tls needs at least one name in cert_names")
        if self.tls_max not in ("1.2", "1.3"):
            raise ValueError('tls_max must be "1.2" or "1.3"')

    def describe(self) -> str:
        """One line saying how the server treats connections, for the `serve` banner."""
        if self.http10:
            parts = ["HTTP/1.0, no keep-alive"]
        elif self.close_always:
            parts = ["Connection: close on every response"]
        else:
            parts = ["keep-alive"]
            if self.idle_timeout is not None:
                tick = self.idle_reap_interval
                every = f" (checked every {tick:g} s)" if tick is not None else ""
                parts.append(f"idle timeout {self.idle_timeout:g} s{every}")
            if self.max_requests is not None:
                parts.append(f"max {self.max_requests} requests per connection")
            if self.keepalive_hint_override is not None:
                parts.append(f"Keep-Alive: {self.keepalive_hint_override}")
            elif self.keepalive_hint:
                parts.append("Keep-Alive hint")
            if self.drop_after is not None:
                parts.append(f"drops request {self.drop_after + 1} unanswered")
        if self.tls and not self.tls_resumption:
            parts.append("TLS 1.3 without session resumption")
        if self.tls and self.client_ca_pem is not None:
            parts.append("client certificate required")
        if self.h2:
            how = "h2 by ALPN or http/1.1" if self.tls else "h2c (prior knowledge) or HTTP/1.1"
            streams = self.max_streams if self.max_streams is not None else DEFAULT_MAX_STREAMS
            parts.append(f"{how}, max {streams} concurrent streams")
            if self.h2_streams_at_once is not None:
                parts.append(f"{self.h2_streams_at_once} worked on at once, the rest queued")
        return ", ".join(parts)
