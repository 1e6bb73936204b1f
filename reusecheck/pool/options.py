"""What a pool may do: Go's ``http.Transport`` knobs, with reusecheck's defaults."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from reusecheck.net.dial import Timeouts
from reusecheck.net.route import DIRECT, Routing
from reusecheck.net.tls import TLSOptions

HTTP_MODES: Final = ("auto", "1.1", "2", "h2c")
# ALPN offered per mode (https); "2" offers both so a server that picks HTTP/1.1 can be
# told apart from one that cannot negotiate at all.
ALPN: Final[dict[str, tuple[str, ...]]] = {
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
    # How targets are reached: proxies (Go's Transport.Proxy), --resolve, --connect-to,
    # -4/-6.  The default goes direct; the command line reads the environment's proxies.
    routing: Routing = DIRECT

    def to_record(self) -> dict[str, object]:
        """The options as the JSON report's ``options`` shows them."""
        return {
            "max_idle": self.max_idle,
            "max_idle_per_host": self.max_idle_per_host,
            "max_conns_per_host": self.max_conns_per_host,
            "idle_timeout_s": self.idle_timeout,
            "disable_keepalives": self.disable_keepalives,
            "http": self.http,
            "strict_max_streams": self.strict_max_streams,
            "tls_resume": self.tls_resume,
            **self.routing.to_record(),
        }
