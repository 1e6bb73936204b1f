"""The connection budget, checked on a JSON report: the counts add up, every avoidable
connection has one cause, every cause is named by a finding with its fix, ``reuse:
yes`` exactly when nothing was avoidable, and every FAIL carries a finding.

``tests/schema_check.check_report`` calls ``check_budget`` on every report it validates,
so every report the test suite produces is checked.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any, Final

NEEDED: Final = frozenset({"first", "all-busy", "h2-stream-limit"})
SERVER_SIDE: Final = frozenset(
    {
        "no-keepalive",
        "http10-server",
        "max-requests-per-conn",
        "server-idle-timeout",
        "h2-goaway",
        "unsolicited-response",
        "error-responses",
        "connection-error",
    }
)
# The findings that name each cause (one of them must be in the report).
NAMED_BY: Final[dict[str, frozenset[str]]] = {
    "server-closed": SERVER_SIDE,
    "client-idle-timeout": frozenset({"client-idle-timeout"}),
    "server-idle-limit": frozenset({"server-idle-timeout"}),
    "client-pool-full": frozenset({"pool-churn"}),
    "keepalives-disabled": frozenset({"keepalive-disabled"}),
    "body-not-drained": frozenset({"body-not-drained"}),
    "connection-error": frozenset({"connection-error"}),
    "retry": frozenset({"stale-conn-retry", "h2-goaway", "h2-stream-refused", "connection-error"}),
}


def problems(doc: dict[str, Any]) -> list[str]:
    """What is wrong with the report's budget (empty: it adds up and explains itself)."""
    found: list[str] = []
    summary, verdict = doc.get("summary", {}), doc.get("verdict", {})
    budget = summary.get("budget")
    if budget is None or "connections" not in doc:
        return found  # not a probe-shaped report (discover's)
    avoidable: dict[str, int] = budget["avoidable"]
    if summary["connections_opened"] != budget["needed"] + sum(avoidable.values()):
        found.append(
            f"connections_opened {summary['connections_opened']} != needed {budget['needed']} "
            f"+ avoidable {avoidable}"
        )
    opened = [c for c in doc["connections"] if c["error"] is None and c["local"] is not None]
    by_reason = Counter(c["dial_reason"] for c in opened if c["dial_reason"] not in NEEDED)
    if dict(by_reason) != avoidable:
        found.append(f"connections' dial reasons {dict(by_reason)} != budget {avoidable}")
    codes = {f["code"] for f in doc["findings"]}
    for cause in avoidable:
        if not NAMED_BY.get(cause, frozenset()) & codes:
            found.append(f"cause {cause!r} is named by no finding (findings: {sorted(codes)})")
    if "client-idle-timeout" in avoidable or "keepalives-disabled" in avoidable:
        client_only = set(avoidable) <= {"client-idle-timeout", "keepalives-disabled"}
        if client_only and codes & {"no-keepalive", "server-idle-timeout"}:
            found.append("the client's own closes are blamed on the server")
    judged = verdict["detail"] != "no request got a connection" and not doc.get("error")
    if judged and (verdict["reuse"] == "yes") != (sum(avoidable.values()) == 0):
        found.append(f"reuse {verdict['reuse']!r} with avoidable {avoidable}")
    line = re.search(r"(\d+) connections? = (\d+) needed", verdict["detail"])
    if line is not None:
        said = int(line[2]) + sum(
            int(n) for n in re.findall(r" \+ (\d+) because ", verdict["detail"])
        )
        if int(line[1]) != summary["connections_opened"] or said != int(line[1]):
            found.append(f"the reuse line does not add up: {verdict['detail']!r}")
    elif judged and summary["connections_opened"]:
        found.append(f"the reuse line is not the budget: {verdict['detail']!r}")
    if not verdict["ok"] and doc.get("error") is None and not doc["findings"]:
        found.append("a FAIL without any finding")
    return found


def check_budget(doc: dict[str, Any]) -> dict[str, Any]:
    wrong = problems(doc)
    if wrong:
        raise AssertionError(
            f"the budget of {doc.get('target')!r} does not explain itself:\n  " + "\n  ".join(wrong)
        )
    return doc
