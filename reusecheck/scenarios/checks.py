"""A scenario's ``expect`` blocks, judged over the analysis after the run.

Each check covers a set of phases (one named step, or every request step up to where
the block stands) and counts the requests of those phases as the report shows them:
``reused`` and ``protocol`` from the request's final attempt, ``conn_id`` for which
connection carried it.  The results join the verdict's expectations, so exit code 1,
the JSON ``verdict.expectations`` and the terminal's ``expect`` lines all carry them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Final

from reusecheck.analysis import Analysis, ExpectationResult, RequestRow
from reusecheck.analysis.findings.budget import expectation_unmet
from reusecheck.analysis.findings.detect import rank
from reusecheck.analysis.text import plural
from reusecheck.scenarios.model import Check

# The keys an expect block may hold besides ``step``, in the order they are reported.
EXPECT_KEYS: Final = (
    "reused",
    "new_connections",
    "max_connections",
    "protocol",
    "reuse_ratio_min",
    "retried",
    "failed",
)
# Keys that take true (every request), false (none) or a count.
COUNTED: Final = frozenset({"reused", "retried", "failed"})
PROTOCOLS: Final = ("http/1.1", "h2")

_WHAT = {
    "reused": "reused a connection",
    "retried": "retried",
    "failed": "failed",
}


@dataclass(frozen=True, slots=True)
class StepExpect:
    """One key of an expect block: ``key`` must hold ``value`` over ``phases``.

    ``scope`` names the phases for people ('step "warm"', 'steps 1-3').
    """

    key: str
    value: bool | int | float | str
    phases: tuple[str, ...]
    scope: str

    @property
    def name(self) -> str:
        return f"{self.scope}: {self.key}"

    def evaluate(self, analysis: Analysis) -> ExpectationResult:
        wanted = set(self.phases)
        rows = [r for r in analysis.requests if r.phase in wanted]
        if not rows:
            return self._result(False, f"no request ran in {self.scope}")
        if self.key in COUNTED:
            return self._counted(rows)
        n = len(rows)
        served = [r for r in rows if r.conn_id is not None]
        if self.key == "new_connections":
            want = int(self.value)
            new = sum(1 for r in served if not r.reused)
            said = f"{plural(new, 'new connection')} for {plural(n, 'request')}"
            return self._judge(new == want, said, f"expected {want}")
        if self.key == "max_connections":
            most = int(self.value)
            used = len({r.conn_id for r in served})
            said = f"{plural(n, 'request')} on {plural(used, 'connection')}"
            if used <= most:
                return self._result(True, f"{said} (at most {most})", most)
            return self._result(False, f"{said}, expected at most {most}", most)
        if self.key == "protocol":
            want_p = str(self.value)
            other = sorted({r.protocol or "none" for r in rows} - {want_p})
            if not other:
                return self._result(True, f"all {plural(n, 'request')} used {want_p}")
            used_p = ", ".join(other)
            k = sum(1 for r in rows if r.protocol != want_p)
            return self._result(False, f"{k} of {plural(n, 'request')} used {used_p}, not {want_p}")
        # reuse_ratio_min
        least = float(self.value)
        ratio = sum(1 for r in rows if r.reused) / n
        ok = ratio >= least
        return self._result(
            ok,
            f"reuse ratio {ratio:.2f} {'>=' if ok else '<'} {least:g} over {plural(n, 'request')}",
            least,
        )

    def _counted(self, rows: Sequence[RequestRow]) -> ExpectationResult:
        n = len(rows)
        if self.key == "reused":
            k = sum(1 for r in rows if r.reused)
        elif self.key == "retried":
            k = sum(1 for r in rows if r.retried)
        else:
            k = sum(1 for r in rows if r.error is not None)
        said = f"{k} of {plural(n, 'request')} {_WHAT[self.key]}"
        if self.value is True:
            return self._judge(k == n, said, "expected all")
        if self.value is False:
            return self._judge(k == 0, said, "expected none")
        want = int(self.value)
        return self._judge(k == want, said, f"expected {want}", want)

    def _judge(
        self, ok: bool, said: str, wanted: str, value: float | None = None
    ) -> ExpectationResult:
        detail = f"{said} ({wanted})" if ok else f"{said}, {wanted}"
        return self._result(ok, detail, value)

    def _result(self, ok: bool, detail: str, value: float | None = None) -> ExpectationResult:
        return ExpectationResult(self.name, ok, detail, value)


def apply_checks(analysis: Analysis, checks: Sequence[Check]) -> Analysis:
    """A new Analysis whose verdict also holds the checks' results; any failure fails it."""
    if not checks:
        return analysis
    results = tuple(c.evaluate(analysis) for c in checks)
    v = analysis.verdict
    verdict = replace(
        v,
        ok=v.ok and all(r.ok for r in results),
        expectations=v.expectations + results,
    )
    # Every FAIL carries a finding: a failed check nothing else explains gets one.
    findings = analysis.findings
    if not any(f.code == "expectation-unmet" for f in findings):
        unmet = expectation_unmet(verdict, findings, analysis.connections, analysis.server)
        if unmet is not None:
            findings = rank((*findings, unmet))
    return replace(analysis, verdict=verdict, findings=findings)
