"""The catalogue's entry type, apart from the entries so both halves can use it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

Severity = Literal["info", "warning", "error"]


SEVERITIES: Final[tuple[Severity, ...]] = ("info", "warning", "error")


@dataclass(frozen=True, slots=True)
class CatalogueEntry:
    code: str
    title: str
    severity: Severity
    explanation: str
    remedy: str
