"""``probe --discover``: fold the discover measurements into a probe's analysis.

What discover measured replaces what the probe inferred (a probe sees an idle timeout
only if its idle gap happened to be longer; discover watches for it), field by field:
a fact discover did not measure keeps the probe's value.  Discover's findings replace
the probe's of the same code, so each code is reported once, with the measured numbers.
"""

from __future__ import annotations

from dataclasses import fields, replace
from typing import Final

from reusecheck.analysis.limits.model import DiscoverReport
from reusecheck.analysis.model import Analysis, ServerFacts

_RANK: Final = {"error": 0, "warning": 1, "info": 2}


def merge_server(probe: ServerFacts, measured: ServerFacts) -> ServerFacts:
    changes = {}
    for f in fields(ServerFacts):
        value = getattr(measured, f.name)
        if value is not None and value != ():
            changes[f.name] = value
    return replace(probe, **changes)


def fold_into(analysis: Analysis, report: DiscoverReport) -> Analysis:
    codes = {f.code for f in report.findings}
    found = [f for f in analysis.findings if f.code not in codes] + list(report.findings)
    return replace(
        analysis,
        server=merge_server(analysis.server, report.server),
        findings=tuple(sorted(found, key=lambda f: _RANK[f.severity])),
    )
