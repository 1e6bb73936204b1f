"""Scenario files -> plans, the messages for mistakes, ${VAR}, and the expect checks.

No network here: a loaded scenario is a value, and checks read an Analysis.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import trustme

from reusecheck.analysis import (
    Analysis,
    ExpectationResult,
    RequestRow,
    RunError,
    ServerFacts,
    Summary,
    Timings,
    Verdict,
)
from reusecheck.pool import PoolOptions
from reusecheck.scenarios import ScenarioError, StepExpect, apply_checks, from_document
from reusecheck.scenarios.builtin import other_origin, race_margin, race_steps
from reusecheck.scenarios.checks import EXPECT_KEYS
from reusecheck.scenarios.loader import load_file
from reusecheck.scenarios.model import PoolStep, RequestStep, SleepStep
from reusecheck.scenarios.variables import VariableError, expand

ENV = {"HOST": "127.0.0.1:8080", "TOKEN": "t0k", "EMPTY": ""}


def load(doc: dict[str, Any], url: str | None = None) -> Any:
    return from_document(doc, source="s.toml", url=url, env=ENV)


def error(doc: dict[str, Any], url: str | None = None) -> str:
    with pytest.raises(ScenarioError) as info:
        load(doc, url)
    return str(info.value)


# --- loading ----------------------------------------------------------------------------


def test_a_step_becomes_pool_then_sleep_then_request_with_inherited_defaults() -> None:
    s = load(
        {
            "defaults": {
                "url": "http://${HOST}/api/",
                "headers": {"Authorization": "Bearer ${TOKEN}", "X-A": "1"},
                "timeout": 2,
                "first_byte_timeout": 5,
            },
            "pool": {"max_idle_per_host": 2, "http": 1.1},
            "step": [
                {
                    "name": "go",
                    "pool": {"max_idle_per_host": 10},
                    "sleep": 0.5,
                    "path": "v1/items?x=1",
                    "headers": {"x-a": "2"},
                    "method": "post",
                    "body_bytes": 3,
                    "count": 2,
                    "concurrency": 3,
                    "response_body": "partial:10",
                }
            ],
        }
    )
    pool, sleep, req = s.plan.steps
    assert s.plan.pool.max_idle_per_host == 2 and s.plan.pool.http == "1.1"
    assert s.plan.pool.timeouts.connect == 2 and s.plan.pool.timeouts.first_byte == 5
    assert isinstance(pool, PoolStep) and pool.options.max_idle_per_host == 10
    assert pool.options.http == "1.1" and pool.options.timeouts.first_byte == 5
    assert sleep == SleepStep("go", 0.5)
    assert req == RequestStep(
        "go",
        "http://127.0.0.1:8080/api/v1/items?x=1",
        "POST",
        (("Authorization", "Bearer t0k"), ("x-a", "2")),
        b"xxx",
        2,
        3,
        "partial:10",
    )
    assert s.plan.target == "http://127.0.0.1:8080/api/"
    assert s.name == "s" and s.intro is None and s.plan.wait_s == 0.5


def test_the_command_lines_url_wins_and_the_files_is_not_even_expanded() -> None:
    s = load({"defaults": {"url": "${UNSET}"}, "step": [{"path": "/x"}, {"count": 2}]}, "http://h/")
    assert [st.url for st in s.plan.steps] == ["http://h/x", "http://h/"]


def test_path_resolves_like_a_link_and_url_is_another_origin() -> None:
    s = load(
        {
            "defaults": {"url": "http://a/base/"},
            "step": [{"path": "/abs"}, {"path": "rel"}, {"url": "https://b:8443/"}],
        }
    )
    assert [st.url for st in s.plan.steps] == [
        "http://a/abs",
        "http://a/base/rel",
        "https://b:8443/",
    ]


def test_no_expect_blocks_means_report_only_and_checks_are_scoped() -> None:
    assert [e.name for e in load({"step": [{"url": "http://h/"}]}).expectations] == ["none"]
    s = load(
        {
            "step": [
                {"name": "a", "url": "http://h/"},
                {"name": "pause", "sleep": 0.1},
                {"name": "b", "url": "http://h/", "expect": {"reused": True}},
                {"expect": [{"step": "a", "new_connections": 1, "protocol": "h2"}]},
            ]
        }
    )
    assert s.expectations == ()
    assert s.checks == (
        StepExpect("reused", True, ("a", "b"), "steps 1-3"),
        StepExpect("new_connections", 1, ("a",), 'step "a"'),
        StepExpect("protocol", "h2", ("a",), 'step "a"'),
    )


def test_description_and_deadline() -> None:
    s = load(
        {
            "name": "n",
            "description": "what it does",
            "defaults": {"deadline": 5},
            "step": [{"url": "http://h/"}],
        }
    )
    assert (s.name, s.intro, s.run_deadline) == ("n", "what it does", 5.0)
    assert load({"step": [{"url": "http://h/"}, {"sleep": 2}]}).run_deadline == 62.0


U = {"url": "http://h/"}
A = 's.toml: step 1 "a": '


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"stpe": []}, "s.toml: stpe: unknown key (did you mean step?)"),
        ({}, "s.toml: step: no steps: add at least one [[step]] table"),
        (
            {"step": {"url": "http://h/"}},
            "s.toml: step: must be an array of tables: write [[step]], not [step]",
        ),
        (
            {"step": [{"sleep": 1}]},
            "s.toml: step: no step sends a request: give a step a path or url",
        ),
        (
            {"step": [{"name": "a"}]},
            A + "does nothing: give it a path or url (requests), sleep, pool or expect",
        ),
        (
            {"step": [{"name": "a", "count": -1, **U}]},
            A + "count: must be at least 1, not -1",
        ),
        (
            {"step": [{"name": "a", "count": 2.0, **U}]},
            A + "count: must be an integer, not a float",
        ),
        (
            {"step": [{"name": "a", "count": True, **U}]},
            A + "count: must be an integer, not a boolean",
        ),
        (
            {"step": [{"name": "a", "sleep": float("nan")}, U]},
            A + "sleep: must be a finite number, not nan",
        ),
        (
            {"step": [{"name": "a", "sleep": -1}, U]},
            A + "sleep: must be at least 0, not -1",
        ),
        (
            {"step": [{"name": "a", "busy": True, **U}]},
            A + "busy: needs a sleep to be busy for",
        ),
        (
            {"step": [{"name": "a", "sleep": 61, "busy": True}, U]},
            A + "sleep: must be at most 60, not 61",
        ),
        (
            {"step": [{"name": "a", "path": "/"}]},
            A + "path: needs a base URL: set [defaults] url or give URL on the command line",
        ),
        (
            {"step": [{"name": "a", "count": 2}]},
            A + "url: missing: set url or path, [defaults] url, or give URL on the command line",
        ),
        (
            {"step": [{"name": "a", "url": "ftp://h/"}]},
            A + "url: unsupported scheme 'ftp' in 'ftp://h/': use http:// or https://",
        ),
        (
            {"step": [{"name": "a", "url": "http://h/a b"}]},
            A + "url: URL 'http://h/a b' has a space or a control character: percent-encode "
            "it (%20)",
        ),
        (
            {"step": [{"name": "a", "url": "http://h/", "path": "/"}]},
            A + "path: give either url or path, not both",
        ),
        (
            {"step": [{"name": "a", "url": "http://h/${NOPE}"}]},
            A + "url: ${NOPE} is not set in the environment",
        ),
        (
            {"step": [{"name": "a", "url": "http://h/${NOPE"}]},
            A + "url: '${' at character 10 has no closing '}'",
        ),
        (
            {"step": [{"name": "a", "headers": {"Bad Name": "x"}, **U}]},
            A + "headers.Bad Name: is not a valid header name",
        ),
        (
            {"step": [{"name": "a", "headers": {"Content-Length": "1"}, **U}]},
            A + "headers.Content-Length: is set from body / body_bytes; leave it out",
        ),
        (
            {"step": [{"name": "a", "headers": {"X": "a\nb"}, **U}]},
            A + "headers.X: the value has a line break or NUL",
        ),
        (
            {"step": [{"name": "a", "method": "CONNECT", **U}]},
            A + "method: CONNECT opens a tunnel: there is no connection reuse to measure",
        ),
        (
            {"step": [{"name": "a", "response_body": "partial", **U}]},
            A + "response_body: must be drain, ignore, close-early or partial:N, not 'partial'",
        ),
        (
            {"step": [{"name": "a", **U}, {"name": "a", **U}]},
            's.toml: step 2 "a": name: step 1 already has this name',
        ),
        ({"step": [{"name": "", **U}]}, "s.toml: step 1: name: must not be empty"),
        (
            {"step": [{"name": "a\nb", **U}]},
            "s.toml: step 1: name: must be one line without control characters: 'a\\\\nb'",
        ),
        (
            {"step": [{"name": "a", "body": "x", "body_bytes": 1, **U}]},
            A + "body_bytes: give either body or body_bytes, not both",
        ),
        (
            {"pool": {"http": "3"}, "step": [U]},
            "s.toml: [pool]: http: must be one of auto, 1.1, 2, h2c, not '3'",
        ),
        (
            {"pool": {"cacert": "nope.pem"}, "step": [U]},
            "s.toml: [pool]: cacert: 'nope.pem' is not a readable file",
        ),
        (
            {"defaults": {"timeout": 0}, "step": [U]},
            "s.toml: [defaults]: timeout: must be at least 0.001, not 0",
        ),
        (
            {"step": [{"name": "a", "pool": {"max_idel": 1}, **U}]},
            A + "pool.max_idel: unknown key (did you mean max_idle?)",
        ),
        (
            {"step": [{"name": "a", "expect": {"reused": 1}}, U]},
            A + "expect: no step at or before this one sends a request",
        ),
        (
            {
                "step": [
                    {"name": "a", **U, "expect": {"step": "b", "reused": 1}},
                    {"name": "b", **U},
                ]
            },
            A + "expect.step: no step named 'b' at or before this one",
        ),
        (
            {
                "step": [
                    {"name": "p", "sleep": 0},
                    {"name": "a", **U, "expect": {"step": "p", "reused": 1}},
                ]
            },
            's.toml: step 2 "a": expect.step: step 1 sends no requests to check',
        ),
        (
            {"step": [{"name": "a", **U, "expect": {"step": "a"}}]},
            A + "expect: nothing to check: give one of " + ", ".join(EXPECT_KEYS),
        ),
        (
            {"step": [{"name": "a", **U, "expect": [{"reused": "yes"}]}]},
            A + "expect[1].reused: must be true (all), false (none) or a count, not a string",
        ),
        (
            {"step": [{"name": "a", **U, "expect": {"protocol": "h3"}}]},
            A + 'expect.protocol: must be "http/1.1" or "h2", not \'h3\'',
        ),
        (
            {"step": [{"name": "a", **U, "expect": {"reuse_ratio_min": 1.5}}]},
            A + "expect.reuse_ratio_min: must be at most 1, not 1.5",
        ),
        (
            {"step": [{"name": "a", **U, "expect": {"max_connections": 0}}]},
            A + "expect.max_connections: must be at least 1, not 0",
        ),
    ],
)
def test_mistakes_name_the_file_the_step_and_the_key(doc: dict[str, Any], message: str) -> None:
    assert error(doc) == message


def test_a_secret_in_a_bad_url_is_not_repeated(tmp_path: Path) -> None:
    message = error({"step": [{"url": "ftp://h/?token=${TOKEN}"}]})
    assert "t0k" not in message and "[redacted]" in message


def test_file_level_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "x.toml"
    path.write_bytes(b"\xef\xbb\xbf[[step]]\nurl = 'http://h/'\n")  # a BOM is fine
    assert load_file(str(path)).name == "x"
    path.write_bytes(b"a = [" * 2000)
    with pytest.raises(ScenarioError, match=r"x\.toml: not valid TOML"):
        load_file(str(path))

    def refuse(self: Path) -> bytes:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "read_bytes", refuse)
    with pytest.raises(ScenarioError, match=r"x\.toml: cannot read: Permission denied"):
        load_file(str(path))


def test_cacert_is_relative_to_the_scenario_file(tmp_path: Path) -> None:
    trustme.CA().cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    path = tmp_path / "x.toml"
    path.write_text('[pool]\ncacert = "ca.pem"\n[[step]]\nurl = "https://h/"\n')
    assert load_file(str(path)).plan.pool.tls.cacert == str(tmp_path / "ca.pem")


def test_a_cacert_that_holds_no_certificate_is_refused_when_loading(tmp_path: Path) -> None:
    trustme.CA().private_key_pem.write_to_path(str(tmp_path / "ca.pem"))  # a key, not a cert
    path = tmp_path / "x.toml"
    path.write_text('[pool]\ncacert = "ca.pem"\n[[step]]\nurl = "https://h/"\n')
    with pytest.raises(ScenarioError, match=r"\[pool\]: cacert: .* holds no PEM certificate"):
        load_file(str(path))


# --- ${VAR} -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "out"),
    [
        ("http://${HOST}/", "http://127.0.0.1:8080/"),
        ("${EMPTY:-d}/${NOPE:-x y}", "d/x y"),
        ("$$${TOKEN}$", "$t0k$"),
        ("a$b", "a$b"),
        ("${EMPTY}", ""),
    ],
)
def test_expand(text: str, out: str) -> None:
    assert expand(text, ENV) == out


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("${NOPE}", "${NOPE} is not set in the environment"),
        ("${1A}", "'${1A}' is not a variable name"),
        ("${A\nB}", "'${A\\nB}' is not a variable name"),
    ],
)
def test_expand_errors(text: str, message: str) -> None:
    with pytest.raises(VariableError) as info:
        expand(text, ENV)
    assert str(info.value).startswith(message)


# --- checks over an analysis ------------------------------------------------------------


def row(i: int, phase: str, conn: int | None, reused: bool, **kw: Any) -> RequestRow:
    base: dict[str, Any] = {
        "index": i,
        "phase": phase,
        "method": "GET",
        "url": "http://h/",
        "status": 200,
        "protocol": "http/1.1",
        "conn_id": conn,
        "stream_id": None,
        "reused": reused,
        "was_idle": reused,
        "idle_time_s": 0.0,
        "retried": False,
        "timings_s": Timings(),
        "response_connection": None,
        "keep_alive": None,
        "error": None,
    }
    base.update(kw)
    return RequestRow(**base)


ROWS = (
    row(0, "a", 1, False),
    row(1, "a", 1, True),
    row(2, "a", 1, True),
    row(3, "b", 2, False, retried=True),
    row(4, "b", None, False, error=RunError("server-closed", "x"), protocol=None),
)


def analysis(rows: tuple[RequestRow, ...] = ROWS, ok: bool = True) -> Analysis:
    return Analysis(
        target="http://h/",
        protocol="http/1.1",
        requests=rows,
        connections=(),
        server=ServerFacts(),
        findings=(),
        summary=Summary(len(rows), 2, 2, 0.4),
        verdict=Verdict(ok, "yes", (ExpectationResult("none", True, "-"),)),
        error=None,
    )


@pytest.mark.parametrize(
    ("key", "value", "phases", "ok", "detail"),
    [
        ("reused", 2, ("a",), True, "2 of 3 requests reused a connection (expected 2)"),
        ("reused", True, ("a",), False, "2 of 3 requests reused a connection, expected all"),
        ("reused", False, ("b",), True, "0 of 2 requests reused a connection (expected none)"),
        ("new_connections", 1, ("a",), True, "1 new connection for 3 requests (expected 1)"),
        ("new_connections", 1, ("a", "b"), False, "2 new connections for 5 requests, expected 1"),
        (
            "max_connections",
            1,
            ("a", "b"),
            False,
            "5 requests on 2 connections, expected at most 1",
        ),
        ("protocol", "http/1.1", ("a",), True, "all 3 requests used http/1.1"),
        ("protocol", "h2", ("a", "b"), False, "5 of 5 requests used http/1.1, none, not h2"),
        ("reuse_ratio_min", 0.5, ("a",), True, "reuse ratio 0.67 >= 0.5 over 3 requests"),
        ("retried", 1, ("b",), True, "1 of 2 requests retried (expected 1)"),
        ("failed", False, ("a", "b"), False, "1 of 5 requests failed, expected none"),
        ("reused", 0, ("zzz",), False, "no request ran in scope"),
    ],
)
def test_step_expect(key: str, value: Any, phases: tuple[str, ...], ok: bool, detail: str) -> None:
    r = StepExpect(key, value, phases, "scope").evaluate(analysis())
    assert (r.name, r.ok, r.detail) == (f"scope: {key}", ok, detail)


def test_apply_checks_appends_to_the_verdict_and_fails_it() -> None:
    a = analysis()
    passed = apply_checks(a, (StepExpect("reused", 2, ("a",), "s"),))
    assert passed.verdict.ok and [e.name for e in passed.verdict.expectations] == [
        "none",
        "s: reused",
    ]
    failed = apply_checks(a, (StepExpect("reused", 3, ("a",), "s"),))
    assert not failed.verdict.ok and a.verdict.ok
    assert apply_checks(a, ()) is a


# --- built-in helpers -------------------------------------------------------------------


def test_other_origin() -> None:
    assert other_origin("http://127.0.0.1:8080/x?y=1") == "http://localhost:8080/x?y=1"
    assert other_origin("https://localhost:8443/") == "https://127.0.0.1:8443/"
    assert other_origin("https://api.example/v1") == "http://api.example/v1"
    assert other_origin("http://[2001:db8::1]/") == "https://[2001:db8::1]/"
    with pytest.raises(ValueError, match="give --set other=URL"):
        other_origin("http://api.example:8080/")


def test_race_pacing_brackets_the_servers_timeout() -> None:
    assert race_margin(0.2) == pytest.approx(0.1)
    assert race_margin(5.0) == pytest.approx(1.0)
    assert race_margin(75.0) == 1.0
    steps = race_steps("http://h/", 5.0, PoolOptions(http="1.1"))
    sleeps = [s for s in steps if isinstance(s, SleepStep)]
    assert [(s.name, s.seconds, s.busy) for s in sleeps] == [
        ("race", 4.0, False),
        ("race", 2.0, True),
        ("fixed", 4.0, False),
        ("fixed", 2.0, True),
    ]
    pools = [s.options.idle_timeout for s in steps if isinstance(s, PoolStep)]
    assert pools == [90.0, 2.5]  # longer than the server's, then half of it
