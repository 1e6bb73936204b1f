"""``watch --metrics FILE``: the run's counters in Prometheus' text format (0.0.4), for
node_exporter's textfile collector or anything that scrapes such a file.

Counters only, cumulative over the run (they never go down, so ``rate()`` and
``increase()`` work across scrapes), each labelled with the target, its URL redacted
as everywhere else.  The dial reasons and error kinds are the vocabularies', every one
present from the first window on (at 0 until it happens), so an alert on
``increase(reusecheck_connections_opened_total{cause="server-closed"}[10m]) > 0`` has
its series from the start; closes appear as they happen (most pairs of who closed and
why never do).  Pure: ``render`` returns the file's text, the command writes it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Final

from reusecheck.report.window import Counters
from reusecheck.trace.redact import redact_url
from reusecheck.trace.vocab import DIAL_REASONS, ERROR_KINDS

PREFIX: Final = "reusecheck_"

# name -> help text, in the order the file lists them.
HELP: Final = {
    "windows_total": "Windows (cycles) reusecheck watch has completed.",
    "requests_total": "Requests sent (a retried request counts once).",
    "reused_requests_total": "Requests sent on a connection that had already carried one.",
    "connections_opened_total": "Connections dialled, by dial reason: first, all-busy and "
    "h2-stream-limit were needed; every other cause was avoidable.",
    "connections_closed_total": "Connections closed, by who closed them and why.",
    "retries_total": "Requests retried on a new connection after theirs failed.",
    "errors_total": "Requests that failed, by error kind.",
}

Labels = tuple[tuple[str, str], ...]


def escape(value: str) -> str:
    """A label value as the text format writes it: backslash, quote, newline escaped."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _sample(name: str, labels: Labels, value: int) -> str:
    inner = ",".join(f'{k}="{escape(v)}"' for k, v in labels)
    return f"{PREFIX}{name}{{{inner}}} {value}"


def _family(name: str, samples: Iterable[tuple[Labels, int]]) -> list[str]:
    lines = [_sample(name, labels, value) for labels, value in samples]
    if not lines:
        return []  # no sample yet: a family without one says nothing
    return [f"# HELP {PREFIX}{name} {HELP[name]}", f"# TYPE {PREFIX}{name} counter", *lines]


def _all(vocabulary: Iterable[str], counts: Mapping[str, int]) -> list[tuple[str, int]]:
    """Every word of the vocabulary (0 when not seen), then any other word seen."""
    words = list(vocabulary)
    return [(w, counts.get(w, 0)) for w in words] + sorted(
        (w, n) for w, n in counts.items() if w not in words
    )


def render(counters: Counters, target: str, *, reveal: bool = False) -> str:
    """The whole file: HELP and TYPE for each family, one sample per label set."""
    c = counters
    t = ("target", redact_url(target, reveal))
    lines: list[str] = []
    lines += _family("windows_total", [((t,), c.windows)])
    lines += _family("requests_total", [((t,), c.requests)])
    lines += _family("reused_requests_total", [((t,), c.reused)])
    lines += _family(
        "connections_opened_total",
        [((t, ("cause", cause)), n) for cause, n in _all(DIAL_REASONS, c.dials)],
    )
    lines += _family(
        "connections_closed_total",
        [((t, ("by", by), ("reason", why)), n) for (by, why), n in sorted(c.closed.items())],
    )
    lines += _family("retries_total", [((t,), c.retried)])
    lines += _family(
        "errors_total", [((t, ("kind", kind)), n) for kind, n in _all(ERROR_KINDS, c.errors)]
    )
    return "\n".join(lines) + "\n"
