"""Exit codes, decided here and nowhere else (docs/design.md, "Command line").

0 every expectation held; 1 an expectation failed; 2 bad input (a usage error, an
output path that cannot be written, found before anything is sent); 3 the target could
not be reached or the run could not complete (an output that failed while it was being
written included); 130 and 143 the run was interrupted by SIGINT (Ctrl-C) or SIGTERM, as
curl's and Go's users expect (128 + the signal's number).  Several targets exit with the
worst of theirs; a signal overrides every other code.
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
EXIT_SIGINT: Final = 130  # 128 + SIGINT (2)
EXIT_SIGTERM: Final = 143  # 128 + SIGTERM (15)
_SIGNAL_CODES: Final = {2: EXIT_SIGINT, 15: EXIT_SIGTERM}


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


def for_outputs(code: int, failed: bool) -> int:
    """An output that could not be written means the run could not complete: 3, unless
    the run's own code is already the worst."""
    return worst((code, EXIT_UNREACHABLE)) if failed else code


def for_signal(signum: int) -> int:
    """The shell's convention: 128 + the signal's number (130 SIGINT, 143 SIGTERM)."""
    return _SIGNAL_CODES.get(signum, 128 + signum)


def final(code: int, signum: int | None) -> int:
    """A signal received during the command decides its exit code, whatever the run
    found: the user (or the CI runner) asked it to stop."""
    return code if signum is None else for_signal(signum)
