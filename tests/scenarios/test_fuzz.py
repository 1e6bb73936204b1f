"""The loader under random and mutated documents: it loads, or it fails with one line.

Whatever a scenario file holds, ``reusecheck run`` must answer with a Scenario or a
ScenarioError whose message is one line that starts with the file's name (and, for a
mistake inside a step, names the step by index and name) — never any other exception.
"""

from __future__ import annotations

import datetime
import math
import string
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reusecheck.scenarios import ScenarioError, from_document, load_file
from reusecheck.scenarios.checks import EXPECT_KEYS
from reusecheck.scenarios.loader import DEFAULT_KEYS, POOL_KEYS, STEP_KEYS
from reusecheck.scenarios.model import RequestStep, Scenario

SOURCE = "fuzz.toml"
ENV = {"TARGET": "http://127.0.0.1:8080", "TOKEN": "s3cr3t", "EMPTY": ""}
FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def toml_value(v: Any) -> str:
    """A value as TOML (inline form), enough for what the strategies below produce."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return (
            '"'
            + "".join(c if c.isprintable() and c not in '"\\' else f"\\u{ord(c):04x}" for c in v)
            + '"'
        )
    if isinstance(v, datetime.date):
        return v.isoformat()
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return (
            "{" + ", ".join(f"{toml_value(str(k))} = {toml_value(x)}" for k, x in v.items()) + "}"
        )
    raise TypeError(type(v))


def toml_document(doc: dict[str, Any]) -> str:
    lines = []
    for key, value in doc.items():
        if key == "step" and isinstance(value, list) and all(isinstance(s, dict) for s in value):
            continue
        lines.append(f"{toml_value(key)} = {toml_value(value)}")
    for step in doc.get("step", []) if isinstance(doc.get("step"), list) else []:
        if not isinstance(step, dict):
            continue
        lines.append("[[step]]")
        lines.extend(f"{toml_value(k)} = {toml_value(v)}" for k, v in step.items())
    return "\n".join(lines) + "\n"


scalars = st.one_of(
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.integers(min_value=-3, max_value=12),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(
        [
            "/",
            "/bytes/10",
            "http://127.0.0.1:8080/",
            "https://[::1]:8443/x",
            "${TARGET}/a",
            "${NOPE}",
            "${TOKEN",
            "${1X}",
            "${EMPTY:-/d}",
            "ftp://x/",
            "http:///p",
            "http://[bad/",
            "drain",
            "ignore",
            "close-early",
            "partial:3",
            "partial:x",
            "h2",
            "http/1.1",
            "auto",
            "1.1",
            "h2c",
            "GET",
            "POST",
            "CONNECT",
            "a b",
            "Bearer ${TOKEN}",
        ]
    ),
    st.dates(),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)


def keyed(keys: tuple[str, ...]) -> st.SearchStrategy[dict[str, Any]]:
    return st.dictionaries(st.sampled_from(keys) | st.text(max_size=6), values, max_size=5)


expect_block = keyed(("step", *EXPECT_KEYS))
step = st.dictionaries(
    st.sampled_from(STEP_KEYS) | st.text(max_size=6),
    values
    | expect_block
    | st.lists(expect_block, max_size=2)
    | keyed(POOL_KEYS)
    | st.dictionaries(
        st.sampled_from(["Authorization", "X-A", "Bad Name", "Content-Length"]), scalars
    ),
    max_size=6,
)
document = st.fixed_dictionaries(
    {},
    optional={
        "name": values,
        "description": values,
        "pool": keyed(POOL_KEYS) | values,
        "defaults": keyed(DEFAULT_KEYS) | values,
        "step": st.lists(step | values, max_size=4) | values,
    },
)


def loads_or_names_the_place(doc: dict[str, Any], url: str | None = None) -> None:
    try:
        scenario = from_document(doc, source=SOURCE, url=url, env=ENV)
    except ScenarioError as exc:
        message = str(exc)
        assert message.startswith(f"{SOURCE}: "), message
        assert "\n" not in message and "\r" not in message, message
        assert "s3cr3t" not in message, message
        return
    assert isinstance(scenario, Scenario)
    assert any(isinstance(s, RequestStep) for s in scenario.plan.steps)


@FUZZ
@given(document)
def test_random_documents_load_or_fail_with_one_line(doc: dict[str, Any]) -> None:
    loads_or_names_the_place(doc)
    loads_or_names_the_place(doc, url="http://127.0.0.1:9/base/")


VALID = {
    "name": "valid",
    "defaults": {"url": "${TARGET}/", "headers": {"Authorization": "Bearer ${TOKEN}"}},
    "pool": {"max_idle_per_host": 2, "http": "1.1"},
    "step": [
        {"name": "warm", "path": "/", "count": 3},
        {"name": "burst", "path": "/bytes/10", "concurrency": 4, "response_body": "partial:3"},
        {"name": "gap", "sleep": 0.1},
        {"name": "fresh", "pool": {"max_idle_per_host": 10}, "path": "/"},
        {"name": "check", "expect": [{"step": "warm", "reused": 2}, {"new_connections": 1}]},
    ],
}


def test_the_valid_base_document_loads() -> None:
    scenario = from_document(VALID, source=SOURCE, env=ENV)
    assert [c.name for c in scenario.checks] == [  # type: ignore[attr-defined]
        'step "warm": reused',
        "steps 1-5: new_connections",
    ]


def _mutations(doc: dict[str, Any]) -> list[tuple[str, ...]]:
    """Paths to every value in the document (tables and arrays included)."""
    paths: list[tuple[str, ...]] = []

    def walk(node: Any, path: tuple[str, ...]) -> None:
        paths.append(path)
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, (*path, k))
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, (*path, str(i)))

    walk(doc, ())
    return paths[1:]


def _replace(doc: Any, path: tuple[str, ...], value: Any) -> Any:
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(doc, list):
        copy = list(doc)
        copy[int(head)] = _replace(copy[int(head)], rest, value)
        return copy
    copy_d = dict(doc)
    copy_d[head] = _replace(copy_d[head], rest, value)
    return copy_d


def _delete(doc: Any, path: tuple[str, ...]) -> Any:
    head, rest = path[0], path[1:]
    if isinstance(doc, list):
        copy = list(doc)
        if rest:
            copy[int(head)] = _delete(copy[int(head)], rest)
        else:
            del copy[int(head)]
        return copy
    copy_d = dict(doc)
    if rest:
        copy_d[head] = _delete(copy_d[head], rest)
    else:
        del copy_d[head]
    return copy_d


@FUZZ
@given(st.data())
def test_mutated_valid_documents_load_or_fail_with_one_line(data: st.DataObject) -> None:
    doc: Any = VALID
    for _ in range(data.draw(st.integers(1, 3))):
        paths = _mutations(doc) if isinstance(doc, dict) else []
        if not paths:
            break
        path = data.draw(st.sampled_from(paths))
        if data.draw(st.booleans()):
            doc = _replace(doc, path, data.draw(values))
        else:
            doc = _delete(doc, path)
    if isinstance(doc, dict):
        loads_or_names_the_place(doc)


@FUZZ
@given(data=st.data())
def test_mutated_file_text_loads_or_fails_with_one_line(
    data: st.DataObject, tmp_path_factory: Any
) -> None:
    text = toml_document(VALID).encode()
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(text)))
        how = data.draw(st.sampled_from(["insert", "delete", "flip"]))
        if how == "insert":
            text = (
                text[:at]
                + data.draw(
                    st.binary(min_size=1, max_size=4)
                    | st.sampled_from([b"[", b"]", b"=", b'"', b"\n", b"{", b"${"])
                )
                + text[at:]
            )
        elif how == "delete":
            text = text[:at] + text[at + data.draw(st.integers(1, 8)) :]
        elif at < len(text):
            text = text[:at] + bytes([text[at] ^ data.draw(st.integers(1, 255))]) + text[at + 1 :]
    path = tmp_path_factory.mktemp("fuzz") / SOURCE
    path.write_bytes(text)
    try:
        load_file(str(path), env=ENV)
    except ScenarioError as exc:
        message = str(exc)
        assert message.startswith(f"{path}: "), message
        assert "\n" not in message, message


def test_the_text_writer_round_trips_the_base_document(tmp_path: Path) -> None:
    path = tmp_path / SOURCE
    path.write_text(toml_document(VALID))
    assert load_file(str(path), env=ENV).name == "valid"
    assert string.printable  # keeps the import honest for the writer's escapes
