"""How numbers read in messages, one style everywhere: '3 connections', '4.0 s', '12.5 ms',
'Connection: close x2, EOF x1'.  Used by the findings, the verdict and the renderers."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Final


def plural(n: int, word: str, many: str | None = None) -> str:
    return f"{n} {word if n == 1 else (many or word + 's')}"


def secs(value: float) -> str:
    return f"{value:.1f} s"


def seconds(value: float) -> str:
    """3.0 -> '3', 2.5 -> '2.5', 4.951 -> '4.95': how people write a timeout in config."""
    return f"{round(value, 2):g}"


def ms(value: float | None) -> str:
    """Seconds as milliseconds, '-' when not measured."""
    return "-" if value is None else f"{value * 1000:.1f} ms"


def tally(reasons: Iterable[str]) -> str:
    """'Connection: close' or 'Connection: close x2, EOF x1' for mixed causes."""
    counts = Counter(reasons)
    if len(counts) == 1:
        return next(iter(counts))
    return ", ".join(f"{r} x{n}" for r, n in counts.most_common())


def listed(items: Sequence[object], most: int = 8) -> str:
    """'0, 1, 2' or '0, 1, ..., 7, ...' for long lists."""
    return ", ".join(str(x) for x in items[:most]) + (", ..." if len(items) > most else "")


# How discover's signals and idle closes read in a message.
SAID: Final = {
    "connection-close-header": "Connection: close",
    "http10": "an HTTP/1.0 response",
    "goaway": "GOAWAY",
    "silent-close": "a close without a word",
    "idle-timeout": "the idle timeout",
    "eof": "EOF",
    "reset": "reset",
}


def said(reason: str | None) -> str:
    return SAID.get(reason or "", reason or "closed")
