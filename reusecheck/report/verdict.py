"""The verdict line, the last line of the terminal report, as words and their styles.

Plain data (no rich), so ``--json`` can print the same line on stderr without paying
for rich at start-up; ``terminal.verdict_line`` styles the same parts.
"""

from __future__ import annotations

from reusecheck.analysis.model import Analysis
from reusecheck.analysis.text import plural

Part = tuple[str, str]  # (text, rich style; "" for none)

REUSE_STYLE = {"yes": "green", "partial": "yellow", "no": "red"}


def verdict_parts(analysis: Analysis) -> list[Part]:
    a = analysis
    v, s = a.verdict, a.summary
    parts: list[Part] = [("verdict: ", "bold")]
    ran = f"{s.reused}/{s.requests} reused · {plural(s.connections_opened, 'connection')}"
    if a.error is not None and a.error.kind == "cancelled":
        # Interrupted (Ctrl-C, SIGTERM): what is above is what ran until then.
        parts.append(("INTERRUPTED", "bold red"))
        if s.requests == 0 and not a.connections:
            parts.append((" · nothing ran", ""))
        else:
            parts.append((f" · partial report: {ran}", ""))
        return parts
    if a.error is not None:
        parts.append(("ERROR", "bold red"))
        parts.append((f" · the run could not complete ({a.error.kind})", ""))
        return parts
    parts.append(("OK" if v.ok else "FAIL", "bold green" if v.ok else "bold red"))
    parts.append((" · reuse ", ""))
    parts.append((v.reuse, REUSE_STYLE[v.reuse]))
    parts.append((f" · {ran}", ""))
    if a.proxy is not None:
        parts.append((f" · via proxy {a.proxy}", ""))
    return parts


def verdict_text(analysis: Analysis) -> str:
    """The verdict line without styles."""
    return "".join(text for text, _ in verdict_parts(analysis))
