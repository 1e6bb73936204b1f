"""JUnit XML (``--junit``): CI systems show a failed reuse expectation as a failed test.

One ``<testsuite>`` per target, one ``<testcase>`` per expectation (``--expect`` and a
scenario's checks alike), wrapped in ``<testsuites>``.  The shape is the common one that
Jenkins (xunit's junit-10.xsd), GitLab and the GitHub test-report actions read:

- ``<failure message="the expectation's detail" type="expectation">`` for an expectation
  that did not hold (exit 1);
- ``<error message="kind: message" type="kind">`` on every expectation when the run
  could not complete (exit 3): nothing was checked, which is an error, not a failure;
- suite attributes ``tests``, ``failures``, ``errors``, ``skipped``, ``time`` (seconds,
  ``1.234``), and ``timestamp`` when the start is given; the run's facts as
  ``<properties>``, the verdict and findings in ``<system-out>`` for people.

ElementTree escapes markup; characters XML 1.0 cannot hold at all (control characters a
server may send back, quoted in an error) are replaced, or the file would not parse.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from datetime import datetime
from typing import Final
from urllib.parse import urlsplit

from reusecheck.analysis.model import Analysis, ExpectationResult
from reusecheck.trace.redact import redact_url

# XML 1.0 section 2.2 "Char": no C0 controls but tab, LF, CR; no surrogates, no FFFE/FFFF.
_NOT_XML: Final = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_safe(value: str) -> str:
    return _NOT_XML.sub("\ufffd", value)


def xml_seconds(value: float) -> str:
    return f"{max(0.0, value):.3f}"


def classname(target: str) -> str:
    """``reusecheck.<host>``: the test class a CI system groups the target's checks under."""
    try:
        host = urlsplit(target).hostname
    except ValueError:
        host = None
    return f"reusecheck.{host or target}"


def to_junit(
    results: Sequence[tuple[str, Analysis]],
    *,
    timestamp: datetime | None = None,
    reveal: bool = False,
) -> str:
    """The JUnit XML document (UTF-8 text with its declaration) for ``(target, analysis)``
    pairs in the order given.  ``timestamp`` is the run's start (local time is fine);
    target URLs are redacted unless ``reveal``."""
    root = ET.Element("testsuites", name="reusecheck")
    totals = {"tests": 0, "failures": 0, "errors": 0}
    time = 0.0
    for number, (target, analysis) in enumerate(results):
        suite = _suite(target, redact_url(target, reveal), analysis, number, timestamp)
        root.append(suite)
        for key in totals:
            totals[key] += int(suite.get(key, "0"))
        time += analysis.summary.duration_s
    for key, value in totals.items():
        root.set(key, str(value))
    root.set("time", xml_seconds(time))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _suite(
    target: str, shown: str, analysis: Analysis, number: int, timestamp: datetime | None
) -> ET.Element:
    """``target`` as given (its host names the class), ``shown`` redacted."""
    a = analysis
    expectations: Sequence[ExpectationResult] = a.verdict.expectations
    if not expectations:
        # A suite with no test case reads as "no tests ran" in most CI systems.
        expectations = (ExpectationResult("run", a.error is None, a.verdict.detail),)
    suite = ET.Element("testsuite", name=xml_safe(shown))
    suite.set("id", str(number))
    suite.set("package", "reusecheck")
    if timestamp is not None:
        suite.set("timestamp", timestamp.replace(microsecond=0, tzinfo=None).isoformat())
    suite.append(_properties(a))
    failures = errors = 0
    group = xml_safe(classname(target))
    for e in expectations:
        case = ET.SubElement(
            suite, "testcase", classname=group, name=xml_safe(e.name), time="0.000"
        )
        if a.error is not None:
            errors += 1
            problem = ET.SubElement(case, "error", type=a.error.kind)
            problem.set("message", xml_safe(f"{a.error.kind}: {a.error.message}"))
            problem.text = xml_safe(f"the run could not complete, so {e.name!r} was not checked")
        elif not e.ok:
            failures += 1
            problem = ET.SubElement(case, "failure", type="expectation")
            problem.set("message", xml_safe(e.detail))
            verdict = f"reuse {a.verdict.reuse}: {a.verdict.detail}"
            problem.text = xml_safe(e.detail if e.detail == verdict else f"{e.detail}\n{verdict}")
    ET.SubElement(suite, "system-out").text = xml_safe(_story(shown, a))
    suite.set("tests", str(len(expectations)))
    suite.set("failures", str(failures))
    suite.set("errors", str(errors))
    suite.set("skipped", "0")
    suite.set("time", xml_seconds(a.summary.duration_s))
    return suite


def _properties(a: Analysis) -> ET.Element:
    s = a.summary
    props = ET.Element("properties")
    for name, value in (
        ("protocol", a.protocol or ""),
        ("reuse", a.verdict.reuse),
        ("reuse_ratio", f"{s.reuse_ratio:.2f}"),
        ("requests", str(s.requests)),
        ("connections_opened", str(s.connections_opened)),
        ("findings", ",".join(f.code for f in a.findings)),
    ):
        ET.SubElement(props, "property", name=name, value=xml_safe(value))
    return props


def _story(target: str, a: Analysis) -> str:
    """What a person reads under the suite: the verdict line and the findings."""
    s = a.summary
    state = "OK" if a.verdict.ok else ("ERROR" if a.error is not None else "FAILED")
    lines = [
        f"target {target}",
        f"verdict: {state} · reuse {a.verdict.reuse} · {s.reused}/{s.requests} reused · "
        f"{s.connections_opened} connection{'' if s.connections_opened == 1 else 's'} opened",
        f"reuse {a.verdict.reuse}: {a.verdict.detail}",
    ]
    if a.error is not None:
        lines.append(f"error: {a.error.kind}: {a.error.message}")
    lines.extend(f"{f.code} ({f.severity}): {f.message}" for f in a.findings)
    return "\n".join(lines)
