"""What a findings detector reads (``Context``), and the phrasing detectors share.

Messages carry the measured numbers in a fixed style: '3 connections', '4.0 s',
'Connection: close x2, EOF x1'.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from reusecheck.analysis.connections import was_opened
from reusecheck.analysis.events import EventIndex
from reusecheck.analysis.model import ConnectionRow, RequestRow, RunError, ServerFacts
from reusecheck.analysis.pools import PoolScopes


@dataclass(frozen=True, slots=True)
class Context:
    index: EventIndex
    rows: tuple[RequestRow, ...]
    conns: tuple[ConnectionRow, ...]
    server: ServerFacts
    options: Mapping[str, Any]
    peak: int
    found: frozenset[str]  # codes detected (warning or error) before this detector ran
    error: RunError | None = None  # the run stopped (exit 3)
    scopes: PoolScopes = field(default_factory=PoolScopes)  # keys and pool epochs


def plural(n: int, word: str, many: str | None = None) -> str:
    return f"{n} {word if n == 1 else (many or word + 's')}"


def secs(value: float) -> str:
    return f"{value:.1f} s"


def tally(reasons: Iterable[str]) -> str:
    """'Connection: close' or 'Connection: close x2, EOF x1' for mixed causes."""
    counts = Counter(reasons)
    if len(counts) == 1:
        return next(iter(counts))
    return ", ".join(f"{r} x{n}" for r, n in counts.most_common())


def listed(items: Sequence[object], most: int = 8) -> str:
    """'0, 1, 2' or '0, 1, ..., 7, ...' for long lists."""
    return ", ".join(str(x) for x in items[:most]) + (", ..." if len(items) > most else "")


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
