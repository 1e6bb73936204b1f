"""Exit codes, decided here and nowhere else (docs/design.md, "Command line").

0 every expectation held; 1 an expectation failed; 2 bad input (a usage error, a file
that cannot be read or written); 3 the target could not be reached or the run could not
complete.  Several targets exit with the worst of theirs.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:  # the CLI imports this module at start-up: keep it light
    from reusecheck.analysis import Analysis
    from reusecheck.analysis.limits.model import DiscoverReport

EXIT_OK: Final = 0
EXIT_EXPECTATION_FAILED: Final = 1
EXIT_USAGE: Final = 2
EXIT_UNREACHABLE: Final = 3


class BadInput(Exception):
    """Input a command cannot work with; exit 2 with this one line.  ``option`` names the
    option at fault (``'--cacert'``), when one is."""

    def __init__(self, message: str, option: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.option = option


def for_analysis(analysis: Analysis) -> int:
    if analysis.error is not None:
        return EXIT_UNREACHABLE
    return EXIT_OK if analysis.verdict.ok else EXIT_EXPECTATION_FAILED


def for_discover(report: DiscoverReport) -> int:
    """discover reports and does not judge: 0 unless the run could not complete."""
    return EXIT_UNREACHABLE if report.error is not None else EXIT_OK


def worst(codes: Iterable[int]) -> int:
    """Several targets: 3 over 1 over 0 (2 never reaches here: it stops before a run)."""
    return max(codes, default=EXIT_OK)
