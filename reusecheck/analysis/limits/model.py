"""What a discover run found: one result per measurement, and the report built from them.

Plain frozen data, no I/O: the measurements derive these from the event record, and the
terminal and JSON renderers only read them.  Field names are the JSON names.

Every result has a ``status`` from one vocabulary:

    measured        the server's limit was seen (a close, a GOAWAY, a resumed handshake)
    at-least        the limit was not reached within ours (--max-wait, --max-requests)
    no-keepalive    the server ended each connection right after its response, so there
                    was no idle time or request count to measure
    not-applicable  the measurement does not apply (h2 not negotiated, TLS on http://)
    failed          a request failed before anything could be measured (``error`` says how)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from reusecheck.analysis.findings.catalogue import Finding
from reusecheck.analysis.model import H2Connection, KeepAliveHint, RunError, ServerFacts

Status = Literal["measured", "at-least", "no-keepalive", "not-applicable", "failed"]

# How the server ended the counted connection (MaxRequestsResult.signal):
# 'Connection: close' on the last response; an HTTP/1.0 response without keep-alive;
# an HTTP/2 GOAWAY; EOF or RST right after the last response, nothing said; closed while
# idle between paced requests (not a request limit).
Signal = Literal["connection-close-header", "http10", "goaway", "silent-close", "idle-timeout"]


@dataclass(frozen=True, slots=True)
class IdleSample:
    """One watched connection: its idle time at the server's close, or how long it was
    watched without a close (``at_least_s``)."""

    request: int
    conn_id: int | None
    idle_time_s: float | None = None
    at_least_s: float | None = None
    reason: str | None = None  # idle_closed reason (eof, reset, goaway) or close reason
    # Closed within CLOSE_AFTER_RESPONSE_S of the response: keep-alive off, not a timeout.
    after_response: bool = False
    error: RunError | None = None
    idle_at_s: float | None = None  # when it went idle (put_idle), on the run's clock
    closed_at_s: float | None = None  # when the server's close reached the client


@dataclass(frozen=True, slots=True)
class IdleTimeoutResult:
    """``timeout_s`` is the number to stay below: the median when the server closed
    every sample at one idle time (a timer per connection), the window's minimum when
    the closes spread over a window (``periodic``: a reaper on a tick closes a connection
    anywhere from its timeout to the timeout plus the tick)."""

    status: Status
    samples: tuple[IdleSample, ...]
    max_wait_s: float
    protocol: str | None = None
    median_s: float | None = None
    min_s: float | None = None
    max_s: float | None = None
    at_least_s: float | None = None  # status at-least: watched this long, still open
    hint_s: float | None = None  # Keep-Alive: timeout=N
    hint_delta_s: float | None = None  # hint - measured (timeout_s)
    error: RunError | None = None
    # The closes spread over PERIODIC_SPREAD_S or more: min_s-max_s is a window.
    periodic: bool = False
    timeout_s: float | None = None  # status measured: median_s, or min_s when periodic
    stagger_s: float | None = None  # the samples went idle over this span (the phases seen)


@dataclass(frozen=True, slots=True)
class MaxRequestsResult:
    status: Status
    limit: int  # --max-requests
    rate: float | None  # --rate
    protocol: str | None = None
    conn_id: int | None = None
    count: int | None = None  # status measured: requests answered before the server ended it
    at_least: int | None = None  # status at-least: answered without the server ending it
    signal: Signal | None = None
    requests_sent: int = 0
    duration_s: float | None = None
    idle_before_close_s: float | None = None  # signal idle-timeout: how long it sat idle
    hint_max: int | None = None  # Keep-Alive: max=M on the first response
    hint_delta: int | None = None  # hint - measured
    error: RunError | None = None


@dataclass(frozen=True, slots=True)
class H2Result:
    """What the server advertises (``advertised``, its SETTINGS) beside what it does: the
    streams open together (``achieved``, the client's side) and the streams it works on
    at once (``at_once``, judged by the waves its responses arrive in)."""

    status: Status
    protocol: str | None = None  # what the connection spoke
    alpn: str | None = None
    conn_id: int | None = None
    settings: H2Connection | None = None  # the server's SETTINGS (and GOAWAY, if any)
    requested: int = 0  # streams opened at once
    achieved: int = 0  # most streams answered while open together on one connection
    answered: int = 0
    refused: int = 0  # RST_STREAM REFUSED_STREAM (each retried by the pool)
    failed: int = 0
    connections: int = 0  # connections the streams ended up on
    goaway: str | None = None  # error code of a GOAWAY during the burst
    duration_s: float | None = None
    note: str | None = None  # status not-applicable: why
    error: RunError | None = None
    advertised: int | None = None  # SETTINGS_MAX_CONCURRENT_STREAMS; None: not sent
    # The streams the server worked on at once: the largest wave of responses (their
    # first bytes without a pause of wave_pause_s between them); None: under 2 answered.
    at_once: int | None = None
    wave_sizes: tuple[int, ...] = ()  # responses per wave, in arrival order
    wave_pause_s: float | None = None  # the pause that ended a wave (the resolution)
    # The lone first request's time to its first byte, less a round trip: the server's
    # work on one request.  Under WAVE_PAUSE_S no queue can be seen: one wave.
    service_s: float | None = None
    # The responses came in waves of fewer streams than were opened together: the
    # server queued the rest (at_once is below what it advertised, or than requested).
    queued: bool = False


@dataclass(frozen=True, slots=True)
class TlsHandshake:
    conn_id: int
    offered: bool  # the client offered an earlier connection's session
    resumed: bool
    handshake_s: float | None  # tls_start -> tls_done
    version: str | None = None


@dataclass(frozen=True, slots=True)
class TlsResult:
    status: Status
    version: str | None = None
    resumed: bool | None = None  # None: no session was offered
    full_handshake_s: float | None = None
    resumed_handshake_s: float | None = None  # median of the resumed ones
    handshakes: tuple[TlsHandshake, ...] = ()
    note: str | None = None  # status not-applicable: why
    error: RunError | None = None


@dataclass(frozen=True, slots=True)
class DiscoverReport:
    target: str
    protocol: str | None
    server: ServerFacts
    findings: tuple[Finding, ...]
    idle_timeout: IdleTimeoutResult | None  # None: not chosen (--only)
    max_requests: MaxRequestsResult | None
    h2: H2Result | None
    tls: TlsResult | None
    duration_s: float
    error: RunError | None = None  # the run stopped (exit 3)
    tls_resumption: bool | None = None
    hint: KeepAliveHint | None = None
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Trail:
    """A measurement's own requests (in order) and what stopped or skipped it; the
    results are derived from these and the shared record."""

    name: str
    requests: list[int] = field(default_factory=list)
    roles: dict[int, str] = field(default_factory=dict)  # request index -> role
    error: RunError | None = None
    skipped: str | None = None  # why it does not apply (status not-applicable)
