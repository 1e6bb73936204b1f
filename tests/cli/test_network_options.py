"""The real-network options are on every command where they apply, with curl's
spellings: ``-k`` is ``--insecure``; ``--cert``/``--key``, ``--resolve``,
``--connect-to``, ``-4``/``-6`` on probe, run, discover and watch; the body and ``-L``
on the commands that send the probe's requests (probe, watch)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from reusecheck.cli import main
from reusecheck.server import ServerConfig, ServerThread

ROUTING = ("--resolve", "--connect-to", "-4", "-6", "--cert", "--key")
REQUEST = ("-d, --data", "--data-binary", "--json-body", "-L, --location")


def help_of(command: str) -> str:
    result = CliRunner().invoke(main, [command, "--help"])
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize("command", ["probe", "run", "discover", "watch"])
def test_routing_and_certificate_options_are_on_every_command(command: str) -> None:
    text = help_of(command)
    for option in (*ROUTING, "-k, --insecure"):
        assert option in text, f"{command} lacks {option}"


@pytest.mark.parametrize("command", ["probe", "watch"])
def test_body_and_redirect_options_where_the_probe_sends(command: str) -> None:
    text = help_of(command)
    for option in REQUEST:
        assert option in text, f"{command} lacks {option}"


@pytest.fixture(scope="module")
def tls_server() -> Iterator[ServerThread]:
    with ServerThread(ServerConfig(tls=True)) as srv:
        yield srv


SEQ = ("--requests", "1", "--idle", "0", "--concurrency", "0")


def invoke(*args: str) -> Result:
    result = CliRunner().invoke(main, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result


def test_minus_k_skips_verification_as_insecure_does(tls_server: ServerThread) -> None:
    """The server's CA is not trusted here: without -k verification fails (exit 3)."""
    assert invoke("probe", tls_server.url, *SEQ).exit_code == 3
    for args in (
        ("probe", tls_server.url, *SEQ),
        ("run", "builtin:probe", tls_server.url),
        ("discover", tls_server.url, "--only", "max-requests", "--max-requests", "2"),
        ("watch", tls_server.url, *SEQ, "--every", "0.1", "--duration", "0.2"),
    ):
        result = invoke(*args, "-k")
        assert result.exit_code == 0, (args, result.output)


def test_watch_sends_the_body_and_follows_redirects(tmp_path: Path) -> None:
    events = tmp_path / "events.ndjson"
    with ServerThread(ServerConfig()) as srv:
        result = invoke(
            "watch",
            srv.url + "redirect/1",
            *SEQ,
            "-d",
            "a=1",
            "-L",
            "--every",
            "0.1",
            "--duration",
            "0.15",
            "--events",
            str(events),
        )
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in events.read_text().splitlines()]
    sent = [(e["method"], e["url"]) for e in lines if e["event"] == "get_conn"]
    assert sent[:2] == [("POST", srv.url + "redirect/1"), ("GET", srv.url)]
