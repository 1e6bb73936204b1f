"""What one observation does, decided once by the command and frozen."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from reusecheck.net.route import Routing
from reusecheck.server.config import ServerConfig

# The built-in answer's default body: larger than what the common clients pull into
# their own buffers (Go's bufio 4 KiB, Python's 8 KiB), so a client that closes a
# response early leaves bytes in its kernel's receive buffer and its close is a TCP
# reset; and small enough to fit the loopback socket buffers, so a client that reads
# it costs no wait.  Override per request with ?size=N.
DEFAULT_BODY_SIZE: Final = 64 * 1024
MAX_REQUEST_BODY: Final = 16 * 1024 * 1024  # buffered before forwarding; past it: 413
LINGER_S: Final = 1.0  # after --requests N: wait this long for the client's closes


@dataclass(frozen=True, slots=True)
class ObserveConfig:
    """The listener, the answer (built-in or upstream) and when to stop."""

    host: str = "127.0.0.1"
    port: int = 8080
    upstream: str | None = None  # base URL; None: answer like `reusecheck serve`
    tls: bool = False
    tls_cert: str | None = None  # PEM files; None with tls: a certificate made at start
    tls_key: str | None = None
    ca_out: str | None = None  # where to write the made CA certificate
    duration: float | None = None
    requests: int | None = None
    # The client-facing behaviour (both modes) and the built-in answer's routes.
    server: ServerConfig = field(default_factory=ServerConfig)
    body_size: int = DEFAULT_BODY_SIZE
    max_request_body: int = MAX_REQUEST_BODY
    linger: float = LINGER_S
    # The upstream leg (the pool's TLS verification).
    upstream_cacert: str | None = None
    upstream_insecure: bool = False
    upstream_timeout: float = 30.0
    # How the upstream is reached: the proxy environment or --proxy, --resolve,
    # --connect-to, -4/-6, as every command that sends requests reads them.
    upstream_routing: Routing = field(default_factory=Routing)

    @property
    def scheme(self) -> str:
        return "https" if self.tls else "http"
