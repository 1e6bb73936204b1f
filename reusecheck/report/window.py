"""One window of ``reusecheck watch``: what a cycle did, as a record, and the run's
counters (docs/watch.md).  Pure: an analysis in, a record and its JSON line out.

``watch`` keeps one pool for the whole run and repeats its cycle; the run is cut into
windows, one per cycle (the cycle and the pause after it, up to the next cycle).  Each
window's events are analysed on their own (``analyze``) while the pool's state carries
over: a connection dialled in an earlier window and used in this one carries requests
that are *reused* here, and its dial belongs to the window that made it.  The analysis
sees such a connection without its dial and takes it for a needed first connection, so
the record counts only the connections dialled in the window (``carried`` are the ones
dialled before it): ``connections_opened`` and the budget's ``needed`` leave them out.
Avoidable causes are never theirs: a cause is a dial reason, and their dial is not here.

What one window cannot judge is how a connection that lived across windows ended: the
window saw only its last requests.  ``no-keepalive`` and ``max-requests-per-conn``
count requests per connection, so they are kept only when every connection they name
was dialled in the window (``judged``); the whole run judges the rest.  So is
``expectation-unmet``: the expectations are the whole run's.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from reusecheck.analysis import Analysis, Budget, ConnectionRow, Finding, ReuseLevel, RunError
from reusecheck.report.json import SCHEMA
from reusecheck.trace.redact import redact_url
from reusecheck.trace.vocab import DIAL_REASONS, NEEDED_DIALS

# Findings about a connection's whole life: a window that saw only its end cannot judge.
LIFE_CODES: Final = frozenset({"no-keepalive", "max-requests-per-conn"})
# Judged over the whole run, never per window.
RUN_CODES: Final = frozenset({"expectation-unmet"})

Counts = tuple[tuple[str, int], ...]


@dataclass(frozen=True, slots=True)
class WindowRecord:
    """One window: the summary fields of the probe report, for this window alone."""

    target: str
    window: int  # 1, 2, ...
    start_s: float  # seconds since the run started (the events' clock)
    end_s: float
    requests: int
    reused: int
    reuse_ratio: float
    connections_opened: int
    budget: Budget
    dials: Counts  # connections dialled in the window by dial reason, needed ones too
    causes: tuple[tuple[str, str | None, int], ...]  # avoidable: (reason, how, connections)
    # server-closed dials: (how the server ended the one replaced, the requests it had
    # carried in its whole life, dials), as the pool recorded at the dial
    replaced: tuple[tuple[str, int, int], ...]
    closed: tuple[tuple[str, str, int], ...]  # (closed_by, close_reason, connections)
    retried: int
    failed: int
    errors: Counts  # failed requests by error kind
    status_classes: Counts
    peak_concurrency: int
    reuse: ReuseLevel
    findings: tuple[Finding, ...]  # every finding the window could judge
    new: frozenset[str] = frozenset()  # their codes not seen in an earlier window
    error: RunError | None = None  # the cycle stopped early


def was_opened(c: ConnectionRow) -> bool:
    """The analysis' rule (a connection that exists: dialled and handshaken)."""
    return c.error is None and (c.local is not None or c.requests > 0)


def _how(c: ConnectionRow) -> str | None:
    d = c.dial
    if d is None:
        return None
    return d.retry_reason if d.reason == "retry" else d.replaced_reason


def judged(analysis: Analysis, carried: frozenset[int]) -> tuple[Finding, ...]:
    """The window's findings, less the ones it cannot judge (see the module's doc)."""
    kept = []
    for f in analysis.findings:
        if f.code in RUN_CODES:
            continue
        named = f.evidence.get("connections", ())
        ids = set(named) if isinstance(named, Iterable) and not isinstance(named, str) else set()
        if f.code in LIFE_CODES and carried & ids:
            continue
        kept.append(f)
    return tuple(kept)


def window_record(
    analysis: Analysis,
    *,
    window: int,
    start_s: float,
    end_s: float,
    carried: frozenset[int] = frozenset(),
    seen: frozenset[str] = frozenset(),
) -> WindowRecord:
    """The record of a window whose events made ``analysis``.  ``carried``: the
    connections dialled in earlier windows; ``seen``: finding codes reported before."""
    a, s = analysis, analysis.summary
    dialled = [c for c in a.connections if c.id not in carried and was_opened(c)]
    reasons = Counter(c.dial.reason if c.dial is not None else "first" for c in dialled)
    order: dict[str, int] = {r: i for i, r in enumerate(DIAL_REASONS)}
    dials = tuple(sorted(reasons.items(), key=lambda kv: order.get(kv[0], len(order))))
    avoidable = tuple((r, n) for r, n in dials if r not in NEEDED_DIALS)
    causes = Counter(
        (c.dial.reason, _how(c))
        for c in dialled
        if c.dial is not None and c.dial.reason not in NEEDED_DIALS
    )
    replaced = Counter(
        (c.dial.replaced_reason, c.dial.replaced_requests)
        for c in dialled
        if c.dial is not None
        and c.dial.reason == "server-closed"
        and c.dial.replaced_reason is not None
        and c.dial.replaced_requests is not None
    )
    closed = Counter(
        (c.closed_by, c.close_reason or "error")
        for c in a.connections
        if c.closed_at_s is not None and c.closed_by is not None
    )
    errors = Counter(r.error.kind for r in a.requests if r.error is not None)
    findings = judged(a, carried)
    return WindowRecord(
        target=a.target,
        window=window,
        start_s=start_s,
        end_s=end_s,
        requests=s.requests,
        reused=s.reused,
        reuse_ratio=s.reuse_ratio,
        connections_opened=len(dialled),
        budget=Budget(len(dialled) - sum(n for _, n in avoidable), avoidable),
        dials=dials,
        causes=tuple((r, how, n) for (r, how), n in causes.items()),
        replaced=tuple((how, life, n) for (how, life), n in sorted(replaced.items())),
        closed=tuple((by, why, n) for (by, why), n in sorted(closed.items())),
        retried=s.retried,
        failed=s.failed,
        errors=tuple(sorted(errors.items())),
        status_classes=s.status_classes,
        peak_concurrency=s.peak_concurrency,
        reuse=a.verdict.reuse,
        findings=findings,
        new=frozenset(f.code for f in findings) - seen,
        error=a.error,
    )


# --- the JSON line ---------------------------------------------------------------------


def _t(value: float) -> float | None:
    return round(value, 6) if math.isfinite(value) else None


def to_document(r: WindowRecord, *, reveal: bool = False) -> dict[str, Any]:
    """The window's JSON Lines object (``{"type": "window", ...}``, docs/watch.md)."""
    return {
        "type": "window",
        "schema": SCHEMA,
        "target": redact_url(r.target, reveal),
        "window": r.window,
        "start_s": _t(r.start_s),
        "end_s": _t(r.end_s),
        "requests": r.requests,
        "reused": r.reused,
        "reuse_ratio": r.reuse_ratio if math.isfinite(r.reuse_ratio) else None,
        "connections_opened": r.connections_opened,
        "budget": {"needed": r.budget.needed, "avoidable": dict(r.budget.avoidable)},
        "closed": {f"{by}/{why}": n for by, why, n in r.closed},
        "retried": r.retried,
        "failed": r.failed,
        "errors": dict(r.errors),
        "status_classes": dict(r.status_classes),
        "peak_concurrency": r.peak_concurrency,
        "reuse": r.reuse,
        "findings": [
            {"code": f.code, "severity": f.severity, "message": f.message}
            for f in r.findings
            if f.code in r.new
        ],
        "finding_codes": [f.code for f in r.findings],
        "error": None if r.error is None else {"kind": r.error.kind, "message": r.error.message},
    }


def dumps(r: WindowRecord, *, reveal: bool = False) -> str:
    """One line of JSON (no newline); no NaN or infinity ever (``allow_nan=False``)."""
    return json.dumps(to_document(r, reveal=reveal), ensure_ascii=False, allow_nan=False)


def summary_line(r: WindowRecord) -> str:
    """The window in one line, for a log: 'window 3 · 20.0-30.0 s · 7 requests, ...'."""
    parts = [
        f"window {r.window}",
        f"{r.start_s:.1f}-{r.end_s:.1f} s",
        f"{r.requests} requests, {r.reused} reused ({r.reuse_ratio:.2f})",
        f"{r.connections_opened} opened"
        + "".join(f", {reason} {n}" for reason, n in r.budget.avoidable),
    ]
    if r.closed:
        parts.append("closed " + ", ".join(f"{by}/{why} {n}" for by, why, n in r.closed))
    if r.errors:
        parts.append("errors " + ", ".join(f"{kind} {n}" for kind, n in r.errors))
    parts.append(f"reuse {r.reuse}")
    line = " · ".join(parts)
    if r.error is not None:
        line += f" · stopped: {r.error.kind}: {r.error.message}"
    return line


# --- the run so far --------------------------------------------------------------------


@dataclass
class Counters:
    """The run's counts so far, summed over its windows (what --metrics exports)."""

    windows: int = 0
    requests: int = 0
    reused: int = 0
    retried: int = 0
    failed: int = 0
    dials: Counter[str] = field(default_factory=Counter)
    closed: Counter[tuple[str, str]] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)

    def add(self, r: WindowRecord) -> None:
        self.windows += 1
        self.requests += r.requests
        self.reused += r.reused
        self.retried += r.retried
        self.failed += r.failed
        self.dials.update(dict(r.dials))
        self.closed.update({(by, why): n for by, why, n in r.closed})
        self.errors.update(dict(r.errors))

    @property
    def connections_opened(self) -> int:
        return sum(self.dials.values())

    @property
    def needed(self) -> int:
        return sum(n for r, n in self.dials.items() if r in NEEDED_DIALS)

    @property
    def avoidable(self) -> Mapping[str, int]:
        return {r: n for r, n in self.dials.items() if r not in NEEDED_DIALS and n}

    @property
    def reuse_ratio(self) -> float:
        return round(self.reused / self.requests, 4) if self.requests else 0.0


def sorted_counts(counts: Mapping[str, int], order: Sequence[str]) -> Counts:
    """``counts`` in the vocabulary's order (unknown words last, by name)."""
    rank = {w: i for i, w in enumerate(order)}
    return tuple(sorted(counts.items(), key=lambda kv: (rank.get(kv[0], len(rank)), kv[0])))
