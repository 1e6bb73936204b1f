"""Input no request should carry is refused before any connection: exit 2, one error
line, no traceback, and secrets out of every line printed."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
from click.testing import CliRunner, Result

from reusecheck.cli import main
from reusecheck.server import ServerConfig, ServerThread


def invoke(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


@pytest.fixture(scope="module")
def server() -> Iterator[ServerThread]:
    with ServerThread(ServerConfig()) as srv:
        yield srv


def _refused(r: Result, server: ServerThread, before: int) -> str:
    """Exit 2, one 'Error:' line, no traceback, and the server saw no connection."""
    assert r.exit_code == 2, r.output
    assert r.exception is None or isinstance(r.exception, SystemExit)
    assert "Traceback" not in r.output
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith("Error:")]
    assert len(errors) == 1, r.stderr
    assert len(server.connections) == before, "a connection was made for bad input"
    return errors[0]


def test_a_cacert_that_is_a_key_not_a_certificate(server: ServerThread, tmp_path: Path) -> None:
    key = tmp_path / "key.pem"
    trustme.CA().private_key_pem.write_to_path(str(key))
    before = len(server.connections)
    line = _refused(invoke("probe", server.url, "--cacert", str(key)), server, before)
    assert "holds no PEM certificate" in line and "--cacert" in line


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (("-X", "GE T"), "not an HTTP method"),
        (("-H", "Host: a", "-H", "host: b"), "2 Host headers"),
        (("-H", "X-Name: Zoë ☃"), "outside Latin-1"),
    ],
)
def test_a_request_no_server_should_see(
    server: ServerThread, args: tuple[str, ...], said: str
) -> None:
    before = len(server.connections)
    assert said in _refused(invoke("probe", server.url, *args), server, before)


@pytest.mark.parametrize(
    ("path", "said"),
    [("/a b", "space or a control character"), ("/", None)],
)
def test_urls_with_spaces_are_refused_and_international_hosts_encoded(
    server: ServerThread, path: str, said: str | None
) -> None:
    before = len(server.connections)
    if said is not None:
        url = server.url.rstrip("/") + path
        assert said in _refused(invoke("probe", url), server, before)
        return
    r = invoke("probe", "http://a..b/", "--idle", "0")
    assert r.exit_code == 2 and "not a valid domain name" in r.stderr
    assert "Traceback" not in r.output


def test_error_lines_never_show_a_urls_secrets() -> None:
    ports = []
    for _ in range(2):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        ports.append(s.getsockname()[1])
        s.close()
    a = f"http://alice:hunter2@127.0.0.1:{ports[0]}/?token=s3cret"
    b = f"http://127.0.0.1:{ports[1]}/?api_key=s3cret"
    r = invoke("probe", a, b, "--idle", "0", "--timeout", "1")
    assert r.exit_code == 3
    assert "hunter2" not in r.output and "s3cret" not in r.output
    assert r.stderr.count("reusecheck: http://") == 2
    bad = invoke("probe", "http://alice:hunter2@h/a b?token=s3cret")
    assert bad.exit_code == 2 and "hunter2" not in bad.output and "s3cret" not in bad.output
