"""``reusecheck run`` as users and CI meet it: scenario files, the built-ins, exit codes.

The examples in docs/scenarios.md and examples/ run here against the built-in server, so
the documentation cannot drift from the code.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from reusecheck.cli import main
from reusecheck.scenarios import BUILTINS
from reusecheck.server import ServerConfig, ServerThread

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "scenarios.md"
EXAMPLES = sorted((ROOT / "examples").glob("*.toml"))
SECRET = "s3cr3t-t0ken"


def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, ["run", *args], env={"COLUMNS": "100", **(env or {})})


def doc_json(r: Result) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(r.stdout)
    return doc


def codes(doc: dict[str, Any]) -> list[str]:
    return [f["code"] for f in doc["findings"]]


@pytest.fixture(scope="module")
def healthy() -> Iterator[ServerThread]:
    with ServerThread(ServerConfig()) as srv:
        yield srv


@pytest.fixture(scope="module")
def second() -> Iterator[ServerThread]:
    with ServerThread(ServerConfig()) as srv:
        yield srv


@pytest.fixture(scope="module")
def h2c() -> Iterator[ServerThread]:
    with ServerThread(ServerConfig(h2=True)) as srv:
        yield srv


# --- the documentation and the examples -----------------------------------------------------


def _doc_blocks() -> list[tuple[str, list[str]]]:
    """Each ```toml block of the page with the ```text lines shown after it."""
    blocks: list[tuple[str, list[str]]] = []
    for lang, body in re.findall(r"```(\w+)\n(.*?)```", DOC.read_text(), re.S):
        if lang == "toml":
            blocks.append((body, []))
        elif lang == "text" and blocks:
            blocks[-1][1].extend(ln for ln in body.splitlines() if ln.strip())
    return blocks


def _exit_wanted(text: str) -> int:
    m = re.search(r"^# exits (\d)", text, re.M)
    return int(m.group(1)) if m else 0


DOC_BLOCKS = _doc_blocks()


def test_the_page_has_examples_to_run() -> None:
    assert len(DOC_BLOCKS) >= 5 and len(EXAMPLES) >= 4


@pytest.mark.parametrize(
    ("toml", "shown"), DOC_BLOCKS, ids=[f"doc-{i}" for i in range(len(DOC_BLOCKS))]
)
def test_doc_examples_run_as_documented(
    toml: str,
    shown: list[str],
    healthy: ServerThread,
    second: ServerThread,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("scenario.toml").write_text(toml)
    r = invoke("scenario.toml", healthy.url, env={"OTHER": second.url, "TOKEN": SECRET})
    assert r.exit_code == _exit_wanted(toml), r.output
    assert "Traceback" not in r.output
    for line in shown:
        assert line in r.output, f"{line!r} not in:\n{r.output}"


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_examples_run_against_the_built_in_server(
    path: Path, healthy: ServerThread, second: ServerThread, h2c: ServerThread
) -> None:
    target = h2c if "h2c" in path.name else healthy
    env = {"OTHER": second.url, "API_TOKEN": SECRET}
    r = invoke(str(path), target.url, "--json", env=env)
    assert r.exit_code == _exit_wanted(path.read_text()), r.output
    doc = doc_json(r)
    assert doc["verdict"]["expectations"] and all(e["ok"] for e in doc["verdict"]["expectations"])
    assert SECRET not in r.output


def test_example_findings(healthy: ServerThread) -> None:
    leaky = doc_json(invoke(str(ROOT / "examples/leaky-body.toml"), healthy.url, "--json"))
    assert "body-not-drained" in codes(leaky)
    churn = doc_json(invoke(str(ROOT / "examples/go-default-pool.toml"), healthy.url, "--json"))
    assert "pool-churn" in codes(churn)


# --- the built-ins ----------------------------------------------------------------------


def test_list_names_every_builtin_with_its_parameters() -> None:
    r = invoke("--list")
    assert r.exit_code == 0
    for b in BUILTINS.values():
        assert b.name in r.output
        for p in b.params:
            assert f"--set {p.name}=" in r.output
    assert set(BUILTINS) == {"probe", "leaky-body", "go-default-pool", "idle-race", "cross-host"}


def _phases(doc: dict[str, Any]) -> list[str]:
    return [q["phase"] for q in doc["requests"]]


def test_builtin_probe_is_the_probe(healthy: ServerThread) -> None:
    r = invoke("builtin:probe", healthy.url, "--set", "idle=0", "--json")
    assert r.exit_code == 0
    doc = doc_json(r)
    probe = json.loads(
        CliRunner().invoke(main, ["probe", healthy.url, "--idle", "0", "--json"]).stdout
    )
    assert _phases(doc) == _phases(probe) == ["sequential"] * 5 + ["burst-1"] * 4 + ["burst-2"] * 4
    assert [e["name"] for e in doc["verdict"]["expectations"]] == ["reuse"]
    assert doc["options"]["scenario"] == {"name": "probe", "source": "builtin:probe"}
    assert "scenario" not in probe["options"]  # the probe command's report is unchanged
    text = invoke("builtin:probe", healthy.url, "--set", "idle=0")
    assert text.stdout.startswith("probe: 5 sequential requests")
    assert (
        not CliRunner()
        .invoke(main, ["probe", healthy.url, "--idle", "0"])
        .stdout.startswith("probe:")
    )


def test_leaky_body_shows_body_not_drained_then_reuse(healthy: ServerThread) -> None:
    r = invoke("builtin:leaky-body", healthy.url)
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith("leaky-body: 5 responses are never read")
    assert "body-not-drained" in r.stdout
    doc = doc_json(invoke("builtin:leaky-body", healthy.url, "--json"))
    assert "body-not-drained" in codes(doc)
    assert _phases(doc) == ["leaky"] * 5 + ["drained"] * 5
    leaky = {q["conn_id"] for q in doc["requests"] if q["phase"] == "leaky"}
    drained = {q["conn_id"] for q in doc["requests"] if q["phase"] == "drained"}
    assert len(leaky) == 5 and len(drained) == 1 and not leaky & drained
    assert [p["from_step"] for p in doc["options"]["pools"]] == [None, "drained"]


def test_go_default_pool_shows_pool_churn_then_not(healthy: ServerThread) -> None:
    r = invoke("builtin:go-default-pool", healthy.url, "--set", "rounds=2", "--json")
    assert r.exit_code == 0, r.output
    doc = doc_json(r)
    churn = next(f for f in doc["findings"] if f["code"] == "pool-churn")
    assert "max_idle_per_host=2" in churn["message"]
    go = [q for q in doc["requests"] if q["phase"] == "go-default"]
    fixed = [q for q in doc["requests"] if q["phase"] == "idle-10"]
    assert len(go) == len(fixed) == 20
    # Go's limits: the second burst finds 2 kept connections and dials again for the rest
    # (or waits for one of the 2 to come back, for a fast path); with 10 kept, all reuse.
    assert sum(q["reused"] for q in go[10:]) < 10
    assert sum(q["reused"] for q in fixed[10:]) == 10
    assert doc["options"]["max_idle_per_host"] == 2
    assert doc["options"]["pools"][1]["max_idle_per_host"] == 10


def test_idle_race_shows_stale_conn_retry_and_the_fix() -> None:
    with ServerThread(ServerConfig(idle_timeout=0.2)) as srv:
        r = invoke("builtin:idle-race", srv.url, "--json")
        text = invoke("builtin:idle-race", srv.url, "--set", "server_idle_timeout=0.2")
    assert r.exit_code == 0, r.output
    doc = doc_json(r)
    assert "stale-conn-retry" in codes(doc)
    race = [q for q in doc["requests"] if q["phase"] == "race"]
    fixed = [q for q in doc["requests"] if q["phase"] == "fixed"]
    assert [q["retried"] for q in race] == [True] and [q["retried"] for q in fixed] == [False]
    assert doc["server"]["idle_timeout_s"] == pytest.approx(0.2, abs=0.05)
    names = [e["name"] for e in doc["verdict"]["expectations"]]
    assert names == ["server-idle-timeout", 'step "race": retried', 'step "fixed": retried']
    assert text.exit_code == 0 and "stale-conn-retry" in text.stdout
    assert text.stdout.startswith("idle-race: the server closes idle connections after 0.2 s")


def test_idle_race_against_a_server_without_idle_timeout_fails_saying_why(
    healthy: ServerThread,
) -> None:
    r = invoke("builtin:idle-race", healthy.url, "--set", "max_wait=0.2", "--json")
    assert r.exit_code == 1
    first = doc_json(r)["verdict"]["expectations"][0]
    assert first["name"] == "server-idle-timeout" and not first["ok"]
    assert "kept the idle connection open for 0.2 s: nothing to race" in first["detail"]


def test_cross_host_reuses_only_within_an_origin(
    healthy: ServerThread, second: ServerThread
) -> None:
    r = invoke("builtin:cross-host", healthy.url, "--set", f"other={second.url}", "--json")
    assert r.exit_code == 0, r.output
    doc = doc_json(r)
    by_phase: dict[str, set[int]] = {}
    for q in doc["requests"]:
        by_phase.setdefault(q["phase"], set()).add(q["conn_id"])
    assert by_phase["origin-a"] == by_phase["a-again"] and len(by_phase["origin-a"]) == 1
    assert len(by_phase["origin-b"]) == 1 and by_phase["origin-a"] != by_phase["origin-b"]
    assert all(e["ok"] for e in doc["verdict"]["expectations"])


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("builtin:nope", "http://127.0.0.1:9/"), "no such built-in scenario; known: probe"),
        (("builtin:probe",), "needs the target URL"),
        (("builtin:probe", "http://127.0.0.1:9/", "--set", "nope=1"), "unknown parameter"),
        (("builtin:probe", "http://127.0.0.1:9/", "--set", "idle=nan"), "idle: must be 0 to 1e6"),
        (("builtin:probe", "http://127.0.0.1:9/", "--set", "requests=x"), "must be an integer"),
        (("builtin:probe", "http://127.0.0.1:9/", "--set", "requests"), "NAME=VALUE"),
        (("builtin:probe", "example.test/"), "no scheme"),
        (("builtin:cross-host", "http://example.test:8080/"), "give --set other=URL"),
        (("builtin:probe", "http://127.0.0.1:9/", "--json", "--events", "-"), "stdout"),
        ((), "give a scenario file or builtin:NAME"),
    ],
)
def test_bad_command_lines_exit_2_with_one_line(args: tuple[str, ...], needle: str) -> None:
    r = invoke(*args)
    assert r.exit_code == 2, r.output
    assert needle in r.output
    assert "Traceback" not in r.output


# --- scenario files -------------------------------------------------------------------------

BASIC = """
[[step]]
name = "first"
path = "/"
count = 2
headers = { Authorization = "Bearer ${TOKEN}", X-Api-Key = "${TOKEN}" }

[[step]]
name = "second"
url = "${TARGET}bytes/10"
expect = { reused = 2 }
"""


def test_file_phases_expectations_and_redaction(healthy: ServerThread, tmp_path: Path) -> None:
    path = tmp_path / "basic.toml"
    path.write_text(BASIC)
    events = tmp_path / "events.ndjson"
    env = {"TOKEN": SECRET, "TARGET": healthy.url}
    r = invoke(str(path), healthy.url, "--json", "--events", str(events), env=env)
    assert r.exit_code == 0, r.output
    doc = doc_json(r)
    assert _phases(doc) == ["first", "first", "second"]
    assert doc["verdict"]["expectations"] == [
        {
            "name": "steps 1-2: reused",
            "ok": True,
            "detail": "2 of 3 requests reused a connection (expected 2)",
            "value": 2,
        }
    ]
    assert doc["options"]["scenario"] == {"name": "basic", "source": str(path)}
    for text in (r.stdout, r.stderr, events.read_text()):
        assert SECRET not in text
    assert "[redacted]" in events.read_text()


def test_set_defines_variables_over_the_environment(healthy: ServerThread, tmp_path: Path) -> None:
    path = tmp_path / "basic.toml"
    path.write_text(BASIC)
    env = {"TOKEN": SECRET, "TARGET": "http://127.0.0.1:9/"}
    r = invoke(str(path), healthy.url, "--set", f"TARGET={healthy.url}", env=env)
    assert r.exit_code == 0, r.output


def test_a_failed_expectation_is_exit_1_with_a_precise_message(
    healthy: ServerThread, tmp_path: Path
) -> None:
    path = tmp_path / "strict.toml"
    path.write_text('[[step]]\nname = "w"\ncount = 3\nexpect = { new_connections = 3 }\n')
    r = invoke(str(path), healthy.url)
    assert r.exit_code == 1
    assert (
        "expect step 1: new_connections FAILED: 1 new connection for 3 requests, expected 3"
        in r.stdout
    )
    assert "verdict: FAIL" in r.stdout


def test_unset_variable_names_file_step_and_key(tmp_path: Path) -> None:
    path = tmp_path / "v.toml"
    path.write_text(BASIC)
    r = invoke(str(path), "http://127.0.0.1:9/", env={"TOKEN": None})  # type: ignore[dict-item]
    assert r.exit_code == 2
    assert r.stderr.strip().splitlines() == [
        f'reusecheck: {path}: step 1 "first": headers.Authorization: ${{TOKEN}} is not set '
        "in the environment"
    ]


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b"[[step]\n", "not valid TOML"),
        (b"\xff\xfe[[step]]", "not UTF-8"),
        (
            b'[[step]]\nname = "a"\ncoutn = 3\n',
            'step 1 "a": coutn: unknown key (did you mean count?)',
        ),
        (b'[[step]]\npath = "/"\nsleep = nan\n', 'step 1 "step-1": sleep: must be a finite number'),
        (b'[[step]]\nname = "a"\n', "does nothing"),
        (b"name = 1\n", "name: must be a string, not an integer"),
    ],
)
def test_bad_files_exit_2_with_one_line(content: bytes, needle: str, tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_bytes(content)
    r = invoke(str(path), "http://127.0.0.1:9/")
    assert r.exit_code == 2, r.output
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"reusecheck: {path}: ")
    assert needle in lines[0]


def test_a_directory_and_a_missing_file_exit_2(tmp_path: Path) -> None:
    assert "is a directory" in invoke(str(tmp_path)).stderr
    r = invoke(str(tmp_path / "nope.toml"))
    assert r.exit_code == 2 and "no such file" in r.stderr


def test_unreachable_target_exits_3(tmp_path: Path) -> None:
    with ServerThread(ServerConfig()) as srv:
        url = srv.url
    path = tmp_path / "one.toml"
    path.write_text('[[step]]\npath = "/"\n')
    r = invoke(str(path), url)
    assert r.exit_code == 3 and "connect" in r.stderr


def test_leaky_body_over_https_speaks_http1_and_trusts_cacert() -> None:
    with ServerThread(ServerConfig(tls=True, h2=True)) as srv:
        r = invoke("builtin:leaky-body", srv.url, "--cacert", str(srv.ca_path), "--json")
    assert r.exit_code == 0, r.output
    doc = doc_json(r)
    assert doc["protocol"] == "http/1.1" and "body-not-drained" in codes(doc)
