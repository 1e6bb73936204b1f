"""What the fold keeps of the requests once their rows are gone: counts, firsts, peaks
and the few rows a finding names.  Everything the findings and the verdict read of the
requests is here; nothing here grows with the number of requests but the index lists
a finding's evidence names (``array``s of 8-byte integers)."""

from __future__ import annotations

from array import array
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from reusecheck.analysis.model import ConnectionRow
from reusecheck.analysis.status import Cause, is_error
from reusecheck.trace import Event

K = TypeVar("K")


@dataclass(frozen=True, slots=True)
class Spread:
    """Requests in flight together at one moment, and the connections they were on."""

    requests: tuple[int, ...]
    conns: tuple[int, ...]

    @property
    def peak(self) -> int:
        return len(self.requests)


@dataclass(slots=True)
class ConnFacts:
    """One connection, as its requests left it."""

    carried: array[int] = field(default_factory=lambda: array("q"))
    shuffled: bool = False  # carried came out of index order (sorted at the end)
    answered: int = 0  # carried requests that got a response
    last: int = -1  # the highest request index it carried
    last_connection: str | None = None  # that request's response Connection header
    last_status_at: int = -1  # the highest carried index with a status, and the status
    last_status: int | None = None
    hint_max: int | None = None  # the largest Keep-Alive max= its responses announced
    said_close: bool = False  # its last response (in time) said Connection: close
    h2_first: int = -1  # the lowest h2 request index it served, and that one's phase
    h2_phase: str | None = None
    peak_streams: int = 0


@dataclass(slots=True)
class Counted:
    """A value seen on some requests: how often, and the lowest index it was seen at
    (ties in a most-common list go to the value seen first, as over sorted rows)."""

    count: int = 0
    first: int = -1

    def add(self, index: int) -> None:
        self.count += 1
        if self.first < 0 or index < self.first:
            self.first = index


def most_common(counts: Mapping[K, Counted]) -> list[tuple[K, int]]:
    """(value, count), most frequent first, ties by first index."""
    return [
        (k, c.count) for k, c in sorted(counts.items(), key=lambda kv: (-kv[1].count, kv[1].first))
    ]


@dataclass(frozen=True, slots=True)
class NotRetried:
    """A request that failed on a stale reused connection and was not retried (Go's
    rule for a request that is not replayable): the finding names each."""

    index: int
    method: str | None
    conn: int | None
    idle_s: float  # how long the connection had been idle when it was taken
    error: str


@dataclass(slots=True)
class RunFacts:
    requests: int = 0
    served: int = 0  # requests with a connection
    served_reused: bool = False  # one of those reused its connection
    reused: int = 0
    retried: int = 0
    failed: int = 0
    peak: int = 0  # most requests in flight at once
    end_s: float = 0.0
    protocols: dict[str, Counted] = field(default_factory=dict)
    status_classes: dict[str, int] = field(default_factory=dict)
    answered: int = 0
    errors: dict[int, Counted] = field(default_factory=dict)  # status >= 400
    error_indexes: array[int] = field(default_factory=lambda: array("q"))
    causes: dict[str, tuple[Cause, int]] = field(default_factory=dict)  # first index each
    quote: tuple[int, str] | None = None  # the lowest-index error page worth quoting
    hint_timeout: tuple[int, float] | None = None  # lowest index with timeout=
    hint_max: int | None = None
    software: str | None = None
    no_streams: list[int] = field(default_factory=list)  # waited on SETTINGS ... 0
    scope_peaks: dict[tuple[int, str | None], int] = field(default_factory=dict)
    epoch_peaks: dict[int, int] = field(default_factory=dict)  # per pool, every origin
    h2_spread: Spread | None = None  # the busiest moment of the h2 requests
    phase_spread: dict[str | None, Spread] = field(default_factory=dict)  # per phase
    # (phase, conn) -> the phase's h2 requests in flight when that connection was dialled
    phase_at: dict[tuple[str | None, int], Spread] = field(default_factory=dict)
    # conn -> {older conn -> its streams in use} at the dial (HTTP/2-capable dials)
    shared_at: dict[int, dict[int, int]] = field(default_factory=dict)
    conns: dict[int, ConnFacts] = field(default_factory=dict)
    # (retry event, streams open on its connection counting its own) per REFUSED_STREAM
    refused: list[tuple[Event, int]] = field(default_factory=list)
    not_retried: list[NotRetried] = field(default_factory=list)  # stale, not replayable


def last_status(conn: ConnectionRow, facts: RunFacts) -> int | None:
    """The status of the last response the connection carried."""
    cf = facts.conns.get(conn.id)
    return cf.last_status if cf is not None else None


def closed_after_error(conn: ConnectionRow, facts: RunFacts) -> bool:
    """The server ended the connection after an error response: that says the request
    failed, not that the server has no keep-alive."""
    return conn.closed_by == "server" and is_error(last_status(conn, facts))
