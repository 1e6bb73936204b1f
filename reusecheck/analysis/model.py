"""What the analysis reads (``RunRecord``) and the tree it produces (``Analysis``).

The output tree maps 1:1 to the JSON report, schema 1 (docs/design.md): field names are
the JSON names, so a renderer converts and never renames or computes.  Fields beyond
the schema's list are additions the schema allows ("add fields freely").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal, Protocol

from reusecheck.analysis.findings.catalogue import Finding
from reusecheck.trace import Event

ReuseLevel = Literal["yes", "partial", "no"]
MaxRequestsEvidence = Literal["repeated", "announced", "once"]

# --expect names; the two that compare against a number need ``value``.
EXPECTATION_NAMES: Final = (
    "reuse",
    "none",
    "min-reuse-ratio",
    "max-connections",
    "h2",
    "multiplex",
    "status",
)
_NEEDS_VALUE: Final = frozenset({"min-reuse-ratio", "max-connections"})


class ErrorLike(Protocol):
    """Anything with an error kind and a one-line message (the runner's RunError is one)."""

    @property
    def kind(self) -> str: ...

    @property
    def message(self) -> str: ...


@dataclass(frozen=True, slots=True)
class RunError:
    """An error: ``kind`` from the error-kind vocabulary, ``message`` one line for people."""

    kind: str
    message: str


@dataclass(frozen=True, slots=True)
class Expectation:
    name: str
    value: float | None = None

    def __post_init__(self) -> None:
        if self.name not in EXPECTATION_NAMES:
            raise ValueError(
                f"unknown expectation {self.name!r}; known: {', '.join(EXPECTATION_NAMES)}"
            )
        if self.name in _NEEDS_VALUE and self.value is None:
            raise ValueError(f"expectation {self.name!r} needs a value")


@dataclass
class RunRecord:
    """One run as the analysis sees it: the target, every event, what the user expects."""

    target: str
    events: Sequence[Event]
    expectations: Sequence[Expectation] = ()
    error: ErrorLike | None = None  # the run could not complete (exit 3)
    options: Mapping[str, Any] = field(default_factory=dict)  # pool options used


# --- the analysis -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Timings:
    """Seconds per phase of one request; ``None`` where the phase did not happen for it."""

    dns: float | None = None
    connect: float | None = None
    tls: float | None = None
    wait: float | None = None  # request written -> first response byte
    total: float | None = None  # first get_conn -> request_done, retries included
    # The proxy hop of its dial: TLS to an https:// proxy and the CONNECT exchange
    # (proxy_tls and proxy_connect spans); None without a proxy or a dial of its own.
    proxy: float | None = None


@dataclass(frozen=True, slots=True)
class KeepAliveHint:
    """A response's ``Keep-Alive: timeout=N, max=M`` header, parsed."""

    timeout_s: float | None
    max: int | None


@dataclass(frozen=True, slots=True)
class RequestRow:
    index: int
    phase: str | None
    method: str | None
    url: str | None
    status: int | None
    protocol: str | None
    conn_id: int | None
    stream_id: int | None
    reused: bool
    was_idle: bool
    idle_time_s: float
    retried: bool
    timings_s: Timings
    response_connection: str | None
    keep_alive: KeepAliveHint | None
    error: RunError | None
    # additions
    http_version: str | None = None
    started_at_s: float = 0.0
    ended_at_s: float | None = None
    # On its connection (HTTP/2: its stream) from got_conn until the connection was free
    # of it again (put_idle, a close, or request_done): the interval that tells streams
    # sharing a connection at the same time from requests handed one to the next.  An
    # HTTP/1.1 body never read holds the connection past request_done, until the pool
    # closes it (put_idle refused, ``body-not-drained``).
    got_conn_at_s: float | None = None
    released_at_s: float | None = None
    # An error response's first words (body_done.body_head): what the server said.
    body_head: str | None = None
    # Why a failure Go's Transport retries (a stale reused connection) was not retried
    # for this request (request_done.not_retried: "non-idempotent"), or None.
    not_retried: str | None = None
    # Following redirects: the request whose 3xx response this one follows, or None.
    redirected_from: int | None = None


@dataclass(frozen=True, slots=True)
class FailedAttempt:
    """One address a dial tried without connecting (``connect_done`` with an error)."""

    addr: str
    error: str


@dataclass(frozen=True, slots=True)
class TlsInfo:
    version: str | None
    cipher: str | None
    alpn: str | None
    resumed: bool | None
    # addition
    alpn_offered: tuple[str, ...] = ()
    # A client certificate was configured (tls_start.client_cert); the server asked for
    # one in the handshake (tls_done.client_cert_requested; None: not known).
    client_cert: bool = False
    client_cert_requested: bool | None = None


@dataclass(frozen=True, slots=True)
class GoAway:
    """The server's GOAWAY (RFC 9113 section 6.8): streams above ``last_stream_id`` were
    not processed; ``unprocessed`` are the request indexes the client had on them."""

    error_code: str | None
    last_stream_id: int | None
    additional_data: str | None = None
    unprocessed: tuple[int, ...] = ()
    at_s: float = 0.0


@dataclass(frozen=True, slots=True)
class H2Connection:
    """An HTTP/2 connection's server SETTINGS (RFC 9113 section 6.5.2), as in force at
    the end: later SETTINGS frames override earlier ones, a setting never sent is
    ``None`` (its RFC default applies: no stream limit, 65535, 16384, none, 4096)."""

    max_concurrent_streams: int | None = None
    initial_window_size: int | None = None
    max_frame_size: int | None = None
    max_header_list_size: int | None = None
    header_table_size: int | None = None
    goaway: GoAway | None = None


@dataclass(frozen=True, slots=True)
class Dial:
    """Why the pool dialled a connection, as it knew then (``connect_start``): the
    reason, and the connection it replaced when one was lost (closed by the server or
    the client, or pinned) or the retry that needed it."""

    reason: str
    retry_reason: str | None = None
    replaces: int | None = None  # the connection that would have carried the request
    replaced_reason: str | None = None  # how that one ended (a close reason)
    replaced_requests: int | None = None  # what it had carried
    server_idle_s: float | None = None  # server-idle-limit: what the server keeps idle


@dataclass(frozen=True, slots=True)
class ConnectionRow:
    id: int
    protocol: str | None
    local: str | None
    remote: str | None
    tls: TlsInfo | None
    requests: int
    opened_at_s: float
    closed_at_s: float | None
    closed_by: str | None
    close_reason: str | None
    # additions
    # Sorted; an array of 8-byte integers from the fold (a connection may carry millions).
    request_indexes: Sequence[int] = ()
    idle_time_at_close_s: float | None = None  # set when the server closed it while idle
    error: str | None = None  # the dial or handshake failed
    peak_streams: int = 0  # most requests on it at the same time (HTTP/1.1: at most 1)
    h2: H2Connection | None = None  # HTTP/2 connections only
    dial: Dial | None = None  # why it was dialled (None: a record without the reason)
    # Through a proxy: the proxy (its URL, password redacted; ``remote`` is its address)
    # and, for an https:// target, the host:port its CONNECT tunnel reached.
    proxy: str | None = None
    tunnel: str | None = None
    # Addresses tried before (or raced beside) the one reached, each with its error:
    # a dial goes through a name's addresses in order, as Go's net.Dialer does.
    failed_attempts: tuple[FailedAttempt, ...] = ()
    # The proxy's answer to the tunnel's CONNECT (2xx opened it), None without one.
    tunnel_status: int | None = None


@dataclass(frozen=True, slots=True)
class ServerFacts:
    """What this run measured about the server; ``None`` = not measured."""

    keepalive: bool | None = None
    idle_timeout_s: float | None = None
    max_requests_per_conn: int | None = None
    keepalive_hint: KeepAliveHint | None = None
    h2_max_concurrent_streams: int | None = None
    # additions
    software: str | None = None  # the Server header
    idle_timeout_hint_delta_s: float | None = None  # hint timeout - measured
    max_requests_hint_delta: int | None = None  # hint max - measured
    # Every distinct SETTINGS_MAX_CONCURRENT_STREAMS the connections ended with, sorted;
    # ``h2_max_concurrent_streams`` is the smallest.  More than one: they differed.
    h2_max_concurrent_streams_announced: tuple[int, ...] = ()
    # How sure max_requests_per_conn is: seen on two connections or more ("repeated"),
    # once with a Keep-Alive max that agrees ("announced"), or once ("once": likely).
    max_requests_evidence: MaxRequestsEvidence | None = None


@dataclass(frozen=True, slots=True)
class Budget:
    """The connection budget: connections_opened = needed + the sum of avoidable."""

    needed: int
    avoidable: tuple[tuple[str, int], ...] = ()  # (dial reason, connections), ordered

    @property
    def avoidable_total(self) -> int:
        return sum(n for _, n in self.avoidable)


@dataclass(frozen=True, slots=True)
class Summary:
    requests: int
    connections_opened: int
    reused: int
    reuse_ratio: float
    # additions
    peak_concurrency: int = 0
    retried: int = 0
    failed: int = 0
    duration_s: float = 0.0
    budget: Budget = field(default_factory=lambda: Budget(0))
    status_classes: tuple[tuple[str, int], ...] = ()  # ("2xx", 12), ("5xx", 2)


@dataclass(frozen=True, slots=True)
class ExpectationResult:
    name: str
    ok: bool
    detail: str
    value: float | None = None


@dataclass(frozen=True, slots=True)
class Verdict:
    ok: bool
    reuse: ReuseLevel
    expectations: tuple[ExpectationResult, ...]
    # additions
    detail: str = ""
    redialled_connections: tuple[int, ...] = ()  # dialled after an older one closed


@dataclass(frozen=True, slots=True)
class Analysis:
    target: str
    protocol: str | None
    # In index order; a tuple, or rows a run wrote to disk as they finished.
    requests: Sequence[RequestRow]
    connections: tuple[ConnectionRow, ...]
    server: ServerFacts
    findings: tuple[Finding, ...]
    summary: Summary
    verdict: Verdict
    error: RunError | None
    options: Mapping[str, Any] = field(default_factory=dict)
    # The proxy the run's connections went through (the first one's; its URL, password
    # redacted), or None: reuse was then measured between the client and the proxy.
    proxy: str | None = None
