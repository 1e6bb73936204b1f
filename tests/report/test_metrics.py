"""The --metrics file (reusecheck/report/metrics.py): Prometheus' text format, read back
by a parser written to the format's grammar, counters labelled with the redacted
target, every dial reason and error kind present from the start."""

from __future__ import annotations

import re
from collections import Counter

from reusecheck.report.metrics import escape, render
from reusecheck.report.window import Counters
from reusecheck.trace.vocab import DIAL_REASONS, ERROR_KINDS

TARGET = "http://127.0.0.1:8080/"

_SAMPLE = re.compile(
    r'([a-zA-Z_:][a-zA-Z0-9_:]*)\{((?:[a-zA-Z_]\w*="(?:[^"\\\n]|\\.)*",?)*)\} (\S+)'
)
_LABEL = re.compile(r'([a-zA-Z_]\w*)="((?:[^"\\\n]|\\.)*)"')


def _unescape(value: str) -> str:
    return re.sub(r"\\(.)", lambda m: {"n": "\n"}.get(m[1], m[1]), value)


def parse(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """family -> [(labels, value)]; fails on any line the format does not allow, and on
    a sample whose family's HELP and TYPE did not come first."""
    assert text.endswith("\n")
    families: dict[str, list[tuple[dict[str, str], float]]] = {}
    described: dict[str, set[str]] = {}
    for line in text.splitlines():
        if line.startswith("# "):
            kind, name, rest = line[2:].split(" ", 2)
            assert kind in ("HELP", "TYPE") and rest
            if kind == "TYPE":
                assert rest == "counter" and name.endswith("_total")
            described.setdefault(name, set()).add(kind)
            continue
        m = _SAMPLE.fullmatch(line)
        assert m is not None, line
        name, labels, value = m[1], m[2], m[3]
        assert described.get(name) == {"HELP", "TYPE"}, f"{name}: no HELP/TYPE before it"
        parsed = {k: _unescape(v) for k, v in _LABEL.findall(labels)}
        families.setdefault(name, []).append((parsed, float(value)))
    return families


def _counters() -> Counters:
    return Counters(
        windows=3,
        requests=30,
        reused=27,
        retried=1,
        failed=2,
        dials=Counter({"first": 1, "server-closed": 2}),
        closed=Counter({("server", "idle-timeout"): 2, ("client", "end-of-run"): 1}),
        errors=Counter({"server-closed": 2}),
    )


def test_every_counter_with_help_type_and_the_target() -> None:
    families = parse(render(_counters(), TARGET))
    assert list(families) == [
        "reusecheck_windows_total",
        "reusecheck_requests_total",
        "reusecheck_reused_requests_total",
        "reusecheck_connections_opened_total",
        "reusecheck_connections_closed_total",
        "reusecheck_retries_total",
        "reusecheck_errors_total",
    ]
    for samples in families.values():
        assert all(labels["target"] == TARGET for labels, _ in samples)
    assert families["reusecheck_requests_total"] == [({"target": TARGET}, 30.0)]
    assert families["reusecheck_reused_requests_total"] == [({"target": TARGET}, 27.0)]
    assert families["reusecheck_retries_total"] == [({"target": TARGET}, 1.0)]
    opened = {labels["cause"]: v for labels, v in families["reusecheck_connections_opened_total"]}
    assert list(opened) == list(DIAL_REASONS)  # every cause, at 0 until it happens
    assert opened["first"] == 1 and opened["server-closed"] == 2 and opened["retry"] == 0
    closed = {
        (labels["by"], labels["reason"]): v
        for labels, v in families["reusecheck_connections_closed_total"]
    }
    assert closed == {("client", "end-of-run"): 1, ("server", "idle-timeout"): 2}
    errors = {labels["kind"]: v for labels, v in families["reusecheck_errors_total"]}
    assert list(errors) == list(ERROR_KINDS) and errors["server-closed"] == 2


def test_a_family_without_a_sample_is_left_out() -> None:
    families = parse(render(Counters(), TARGET))
    assert "reusecheck_connections_closed_total" not in families
    assert families["reusecheck_windows_total"] == [({"target": TARGET}, 0.0)]


def test_the_target_is_redacted_and_escaped() -> None:
    text = render(_counters(), 'http://u:pw@h/"x\\y?token=s3cr3t')
    assert "s3cr3t" not in text and ":pw@" not in text
    (labels, _), *_ = parse(text)["reusecheck_requests_total"]
    assert '"x\\y' in labels["target"]
    assert escape('a"b\\c\nd') == 'a\\"b\\\\c\\nd'


def test_counters_only_grow_as_windows_add_up() -> None:
    c = _counters()
    before = parse(render(c, TARGET))
    c.requests += 5
    c.dials["retry"] += 1
    after = parse(render(c, TARGET))
    for name, samples in before.items():
        now = dict((tuple(sorted(labels.items())), v) for labels, v in after[name])
        for labels, value in samples:
            assert now[tuple(sorted(labels.items()))] >= value
