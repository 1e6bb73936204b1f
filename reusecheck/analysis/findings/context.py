"""What a findings detector reads (``Context``), and the evidence detectors share."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from reusecheck.analysis.connections import was_opened
from reusecheck.analysis.events import EventIndex
from reusecheck.analysis.fold.facts import RunFacts
from reusecheck.analysis.model import ConnectionRow, RunError, ServerFacts
from reusecheck.analysis.pools import PoolScopes


@dataclass(frozen=True, slots=True)
class Context:
    index: EventIndex  # the events the fold kept: per connection, or rare
    facts: RunFacts  # what the requests left: counts, firsts, peaks
    conns: tuple[ConnectionRow, ...]
    server: ServerFacts
    options: Mapping[str, Any]
    peak: int
    found: frozenset[str]  # codes detected (warning or error) before this detector ran
    error: RunError | None = None  # the run stopped (exit 3)
    scopes: PoolScopes = field(default_factory=PoolScopes)  # keys and pool epochs


def opened(ctx: Context) -> list[ConnectionRow]:
    return [c for c in ctx.conns if was_opened(c)]


def evidence(conns: Sequence[ConnectionRow], **extra: Any) -> dict[str, Any]:
    requests = sorted({r for c in conns for r in c.request_indexes})
    return {
        "connections": [c.id for c in conns],
        "requests": requests,
        "times_s": [round(c.closed_at_s, 6) for c in conns if c.closed_at_s is not None],
        **extra,
    }
