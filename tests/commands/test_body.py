"""Request bodies from the command line, read as curl reads them (``-d``,
``--data-binary``, ``--json-body``), and what they make of the request: the method, the
headers, the bytes that go on the wire.

The rules are plain functions (``body_of``, ``request_of``); the end-to-end tests send
the body to the built-in server and read what went out in the ``--events`` stream.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, BinaryIO

import pytest
from click.testing import CliRunner

from reusecheck.cli import main
from reusecheck.commands.body import FORM, JSON, MAX_REQUEST_BODY, RequestBody, body_of
from reusecheck.commands.exits import BadInput
from reusecheck.commands.settings import request_of
from reusecheck.server import ServerConfig, ServerThread
from tests.misbehaving import MisbehavingThread


def stdin_of(data: bytes) -> Any:
    """A stdin that can be read once, as a pipe: a second read gets nothing."""
    stream = io.BytesIO(data)

    def get() -> BinaryIO:
        return stream

    return get


def no_stdin() -> BinaryIO:
    raise AssertionError("stdin was read although no option asked for it")


def body(values: dict[str, Sequence[str]], given: Sequence[tuple[str, str]] = ()) -> RequestBody:
    got = body_of(values, given, no_stdin)
    assert got is not None
    return got


# -- reading the options -------------------------------------------------------------------


def test_no_body_option_is_no_body() -> None:
    assert body_of({"data": (), "data_binary": (), "json_body": ()}, (), no_stdin) is None


def test_several_d_are_joined_with_ampersands_as_curl_does() -> None:
    got = body({"data": ["a=1", "b=2", "c"]})
    assert got.data == b"a=1&b=2&c"
    assert got.headers == (("Content-Type", FORM),)


def test_d_at_file_loses_its_newlines_and_carriage_returns(tmp_path: Path) -> None:
    f = tmp_path / "form.txt"
    f.write_bytes(b"a=1\r\n&b=2\n\n")
    assert body({"data": [f"@{f}", "c=3"]}).data == b"a=1&b=2&c=3"


def test_data_binary_at_file_is_sent_as_it_is(tmp_path: Path) -> None:
    f = tmp_path / "blob"
    f.write_bytes(b"line1\r\nline2\n\x00\xff")
    assert body({"data_binary": [f"@{f}"]}).data == b"line1\r\nline2\n\x00\xff"


def test_data_binary_at_dash_reads_stdin_once() -> None:
    got = body_of({"data_binary": ["@-"]}, (), stdin_of(b"from\nstdin\n"))
    assert got is not None and got.data == b"from\nstdin\n"
    with pytest.raises(BadInput, match="stdin can be read once"):
        body_of({"data_binary": ["@-", "@-"]}, (), stdin_of(b"x"))


def test_d_at_dash_strips_newlines_like_a_file() -> None:
    got = body_of({"data": ["@-"]}, (), stdin_of(b"a=1\nb=2\n"))
    assert got is not None and got.data == b"a=1b=2"


def test_json_body_brings_its_content_type_and_accept_and_concatenates() -> None:
    got = body({"json_body": ['{"a":', "1}"]})
    assert got.data == b'{"a":1}'
    assert got.headers == (("Content-Type", JSON), ("Accept", JSON))


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ((("content-type", "text/plain"),), (("Accept", JSON),)),
        ((("Accept", "*/*"),), (("Content-Type", JSON),)),
        ((("Content-Type", "application/vnd+json"), ("ACCEPT", "x")), ()),
    ],
)
def test_the_headers_given_with_h_win_over_the_bodys(
    given: tuple[tuple[str, str], ...], expected: tuple[tuple[str, str], ...]
) -> None:
    assert body({"json_body": ["{}"]}, given).headers == expected


def test_two_kinds_of_body_contradict_each_other() -> None:
    with pytest.raises(BadInput, match="-d and --json-body contradict each other"):
        body_of({"data": ["a"], "json_body": ["{}"]}, (), no_stdin)


def test_a_body_over_the_limit_is_refused(tmp_path: Path) -> None:
    """The body is held in memory and resent by every request: the cap keeps a typo
    (``@/dev/zero``) from eating the machine, and it is checked before anything is sent."""
    f = tmp_path / "big"
    f.write_bytes(b"x" * (MAX_REQUEST_BODY + 1))
    with pytest.raises(BadInput, match="16 MiB"):
        body_of({"data_binary": [f"@{f}"]}, (), no_stdin)
    half = b"x" * (MAX_REQUEST_BODY // 2 + 1)
    with pytest.raises(BadInput, match="the body is over"):
        body_of({"data_binary": [half.decode(), half.decode()]}, (), no_stdin)
    with pytest.raises(BadInput, match="on stdin is over"):
        body_of({"data": ["@-"]}, (), stdin_of(b"y" * (MAX_REQUEST_BODY + 1)))


def test_a_file_that_cannot_be_read_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match=r"cannot read .*missing"):
        body_of({"data": [f"@{tmp_path / 'missing'}"]}, (), no_stdin)
    with pytest.raises(BadInput, match="is a directory"):
        body_of({"data_binary": [f"@{tmp_path}"]}, (), no_stdin)


# -- the request they make -------------------------------------------------------------------


def options(**given: Any) -> dict[str, Any]:
    return {"method": None, "data": (), "data_binary": (), "json_body": (), **given}


def test_a_body_makes_the_request_a_post_unless_x_says_otherwise() -> None:
    assert request_of(options(), ())["method"] == "GET"
    posted = request_of(options(data=("a=1",)), ())
    assert posted["method"] == "POST"
    assert posted["body"] == b"a=1"
    assert posted["headers"] == (("Content-Type", FORM),)
    assert request_of(options(data=("a=1",), method="PUT"), ())["method"] == "PUT"


def test_the_body_headers_follow_the_given_ones() -> None:
    mine = (("Content-Type", "text/csv"),)
    got = request_of(options(data_binary=("a,b",)), mine)
    assert got["headers"] == mine


# -- end to end ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server() -> Iterator[ServerThread]:
    with ServerThread(ServerConfig()) as srv:
        yield srv


def events_of(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def sent(events: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [e for e in events if e["event"] == name]


ONE = ("--requests", "1", "--idle", "0", "--concurrency", "0")


def test_probe_sends_the_body_with_its_length_and_type(
    server: ServerThread, tmp_path: Path
) -> None:
    events = tmp_path / "events.ndjson"
    result = CliRunner().invoke(
        main,
        ["probe", server.url, *ONE, "--json-body", '{"n": 1}', "--events", str(events), "--json"],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert [r["method"] for r in report["requests"]] == ["POST"]
    recorded = events_of(events)
    headers = {k.lower(): v for k, v in sent(recorded, "wrote_headers")[0]["headers"]}
    assert headers["content-type"] == JSON and headers["accept"] == JSON
    assert headers["content-length"] == "8"
    (wrote,) = sent(recorded, "wrote_request")
    assert wrote["bytes"] > 8 and "error" not in wrote


def test_probe_reads_the_body_from_stdin_once_for_every_request(
    server: ServerThread, tmp_path: Path
) -> None:
    """``@-`` is read before anything is sent; every request of the run resends it."""
    events = tmp_path / "events.ndjson"
    args = ["probe", server.url, "--requests", "3", "--idle", "0", "--concurrency", "0"]
    result = CliRunner().invoke(
        main,
        [*args, "--data-binary", "@-", "--events", str(events)],
        input=b"abc\n",
    )
    assert result.exit_code == 0, result.output
    lengths = [
        dict((k.lower(), v) for k, v in e["headers"]).get("content-length")
        for e in sent(events_of(events), "wrote_headers")
    ]
    assert lengths == ["4", "4", "4"]


def test_a_bad_body_option_is_exit_2_before_any_connection(
    server: ServerThread, tmp_path: Path
) -> None:
    before = len(server.connections)
    result = CliRunner().invoke(
        main, ["probe", server.url, *ONE, "-d", f"@{tmp_path / 'nope'}", "--json-body", "{}"]
    )
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert "contradict" in result.stderr
    assert len(server.connections) == before


def test_a_server_that_never_reads_a_large_body_ends_in_the_write_timeout(tmp_path: Path) -> None:
    """The hostile case: 16 MiB of --data-binary to a server that accepts and never
    reads.  The write waits only while the server takes bytes; then one line, exit 3."""
    big = tmp_path / "big.bin"
    big.write_bytes(b"x" * MAX_REQUEST_BODY)
    with MisbehavingThread("never-read") as server:
        result = CliRunner().invoke(
            main,
            [
                "probe", f"http://127.0.0.1:{server.port}/", "--data-binary", f"@{big}",
                "--requests", "1", "--idle", "0", "--concurrency", "0",
                "--body-timeout", "0.5", "--deadline", "20", "--json",
            ],
        )  # fmt: skip
    assert result.exit_code == 3, result.output
    report = json.loads(result.stdout)
    assert report["error"]["kind"] == "write-timeout"
    assert "stopped reading the request" in report["error"]["message"]
    assert "Traceback" not in result.output
