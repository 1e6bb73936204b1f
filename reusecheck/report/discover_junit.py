"""JUnit XML of a ``discover`` run (``discover --junit``), in the shape ``--junit`` gives
a probe (report/junit.py): one ``<testsuite>`` for the target, one ``<testcase>`` per
measurement chosen with ``--only``.

discover reports and does not judge (it exits 0 whatever the limits are), so a case
never fails: it passes with what was measured in its ``<system-out>``, is
``<skipped>`` when the measurement does not apply (h2 not negotiated, TLS on http://),
and is an ``<error>`` when it could not measure (status ``failed``) or the run could
not complete (exit 3, an interruption included), as a probe's run errors are.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import datetime

from rich.text import Text

from reusecheck.analysis.limits.model import DiscoverReport
from reusecheck.analysis.model import RunError
from reusecheck.report import discover_terminal as words
from reusecheck.report.junit import classname, xml_safe, xml_seconds
from reusecheck.trace.redact import redact_url

Result = object  # one of the four measurement results (analysis.limits.model)


def _measurements(report: DiscoverReport) -> list[tuple[str, Result, Text]]:
    r = report
    found: list[tuple[str, Result, Text]] = []
    if r.idle_timeout is not None:
        found.append(("idle-timeout", r.idle_timeout, words.idle_text(r.idle_timeout)))
    if r.max_requests is not None:
        found.append(("max-requests", r.max_requests, words.count_text(r.max_requests)))
    if r.h2 is not None:
        found.append(("h2", r.h2, words.h2_text(r.h2)))
    if r.tls is not None:
        found.append(("tls", r.tls, words.tls_text(r.tls)))
    return found


def to_junit(report: DiscoverReport, *, timestamp: datetime | None = None) -> str:
    """The JUnit XML document (UTF-8 text with its declaration)."""
    root = ET.Element("testsuites", name="reusecheck discover")
    shown = redact_url(report.target)
    suite = ET.SubElement(root, "testsuite", name=xml_safe(f"discover {shown}"))
    suite.set("id", "0")
    suite.set("package", "reusecheck")
    if timestamp is not None:
        suite.set("timestamp", timestamp.replace(microsecond=0, tzinfo=None).isoformat())
    props = ET.SubElement(suite, "properties")
    for name, value in (
        ("protocol", report.protocol or ""),
        ("findings", ",".join(f.code for f in report.findings)),
    ):
        ET.SubElement(props, "property", name=name, value=xml_safe(value))
    group = xml_safe(classname(report.target))
    errors = skipped = 0
    measured = _measurements(report)
    for name, result, text in measured:
        case = ET.SubElement(suite, "testcase", classname=group, name=name)
        case.set("time", xml_seconds(getattr(result, "duration_s", None) or 0.0))
        status = getattr(result, "status", "")
        own: RunError | None = getattr(result, "error", None)
        problem = report.error or (own if status == "failed" else None)
        if problem is not None:
            errors += 1
            error = ET.SubElement(case, "error", type=problem.kind)
            error.set("message", xml_safe(f"{problem.kind}: {problem.message}"))
            error.text = xml_safe(text.plain)
        elif status == "not-applicable":
            skipped += 1
            ET.SubElement(case, "skipped", message=xml_safe(text.plain))
        ET.SubElement(case, "system-out").text = xml_safe(text.plain)
    story = [f"target {shown}", f"took {report.duration_s:.2f} s"]
    if report.error is not None:
        story.append(f"error: {report.error.kind}: {report.error.message}")
    story.extend(f"{f.code} ({f.severity}): {f.message}" for f in report.findings)
    ET.SubElement(suite, "system-out").text = xml_safe("\n".join(story))
    for key, count in (
        ("tests", len(measured)),
        ("failures", 0),
        ("errors", errors),
        ("skipped", skipped),
    ):
        suite.set(key, str(count))
        root.set(key, str(count))
    suite.set("time", xml_seconds(report.duration_s))
    root.set("time", xml_seconds(report.duration_s))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
