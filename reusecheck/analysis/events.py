"""The record indexed once: events by request, by connection, and each request's attempts.

Events are in emission order.  A request normally runs get_conn ... request_done; a
request retried after a stale connection failed has its events repeat from get_conn,
with a ``retry`` event between the attempts, all under one request index.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

from reusecheck.trace import Event


@dataclass
class Attempt:
    """One try of a request: from get_conn to a ``retry`` (ended here) or the end."""

    events: list[Event] = field(default_factory=list)
    retry: Event | None = None

    def first(self, name: str) -> Event | None:
        for e in self.events:
            if e.event == name:
                return e
        return None

    def last(self, name: str) -> Event | None:
        for e in reversed(self.events):
            if e.event == name:
                return e
        return None


def split_attempts(events: Sequence[Event]) -> list[Attempt]:
    attempts = [Attempt()]
    for e in events:
        if e.event == "retry":
            attempts[-1].retry = e
            attempts.append(Attempt())
        else:
            attempts[-1].events.append(e)
    return attempts


class EventIndex:
    def __init__(self, events: Sequence[Event]) -> None:
        self.events = list(events)
        self.by_request: dict[int, list[Event]] = {}
        self.by_conn: dict[int, list[Event]] = {}
        for e in self.events:
            if e.request is not None:
                self.by_request.setdefault(e.request, []).append(e)
            if e.conn is not None:
                self.by_conn.setdefault(e.conn, []).append(e)
        self.attempts: dict[int, list[Attempt]] = {
            r: split_attempts(evs) for r, evs in self.by_request.items()
        }
        self.end_s = max((e.t for e in self.events), default=0.0)

    def named(self, *names: str) -> list[Event]:
        return [e for e in self.events if e.event in names]

    def retry_dials(self) -> dict[int, str]:
        """Connection id -> the retry reason, for connections dialled to retry a request
        (the pool retries on a new connection: a stale one, after GOAWAY, a refused stream)."""
        dials: dict[int, str] = {}
        for attempts in self.attempts.values():
            for before, attempt in pairwise(attempts):
                reason = str(get(before.retry, "reason"))
                for e in attempt.events:
                    if e.event == "connect_start" and e.conn is not None:
                        dials[e.conn] = reason
        return dials

    def conn_event(self, conn: int, name: str, last: bool = False) -> Event | None:
        evs = self.by_conn.get(conn, [])
        for e in reversed(evs) if last else evs:
            if e.event == name:
                return e
        return None


def get(e: Event | None, name: str, default: Any = None) -> Any:
    """A field of an event, or ``default`` when the event is absent or the field is one
    the event carries only sometimes (``error``, ``stream_id``)."""
    if e is None:
        return default
    return e.fields.get(name, default)


def as_float(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def as_int(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value


def as_str(value: Any) -> str | None:
    return value if isinstance(value, str) else None
