"""``--resolve`` and ``--connect-to``, read as curl reads them, and what they keep: the
URL's host stays the TLS name (SNI and certificate check) and the ``Host`` header, so a
certificate made only for that name verifies while the dial goes to 127.0.0.1.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from reusecheck.cli import main
from reusecheck.net.pinning import ConnectTo, Pins, parse_connect_to, parse_resolve
from reusecheck.server import ServerConfig, ServerThread

# -- parsing ------------------------------------------------------------------------------------


def test_resolve_entries() -> None:
    e = parse_resolve("API.Example.test.:443:10.0.0.1,[::1], 10.0.0.2")
    assert (e.host, e.port, e.addrs) == ("api.example.test", 443, ("10.0.0.1", "::1", "10.0.0.2"))
    assert str(e) == "api.example.test:443:10.0.0.1,[::1],10.0.0.2"
    assert parse_resolve("+h:80:127.0.0.1").addrs == ("127.0.0.1",)
    assert parse_resolve("-h:80").addrs == ()
    assert parse_resolve("*:80:::1").addrs == ("::1",)


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("h:80", "is not HOST:PORT:ADDR"),
        ("h:0:127.0.0.1", "is not a port"),
        ("h:http:127.0.0.1", "is not a port"),
        ("h:80:localhost", "is not an IP address"),
        ("h:80:127.0.0.1,", "has an empty address"),
        (":80:127.0.0.1", "has no host"),
        ("h", "too few fields"),
    ],
)
def test_resolve_mistakes(text: str, said: str) -> None:
    with pytest.raises(ValueError, match=said):
        parse_resolve(text)


def test_connect_to_entries() -> None:
    assert parse_connect_to("a.test:443:b.test:8443") == ConnectTo("a.test", 443, "b.test", 8443)
    assert parse_connect_to("::b.test:") == ConnectTo("", None, "b.test", None)
    assert parse_connect_to("[::1]:80:[::2]:81") == ConnectTo("::1", 80, "::2", 81)
    assert str(parse_connect_to("a:1::2")) == "a:1::2"
    with pytest.raises(ValueError, match="needs \\[brackets\\]"):
        parse_connect_to("a:1:::1:2")
    with pytest.raises(ValueError, match="is not HOST:PORT"):
        parse_connect_to("a:1")
    with pytest.raises(ValueError, match="too few fields"):
        parse_connect_to("a")


def test_the_first_matching_connect_to_wins_and_empty_fields_keep_the_requests() -> None:
    pins = Pins(
        connect_to=(
            parse_connect_to("a.test:443:b.test:"),
            parse_connect_to(":443:c.test:9443"),
            parse_connect_to("::d.test:1"),
        )
    )
    assert pins.destination("A.test", 443) == ("b.test", 443)
    assert pins.destination("x.test", 443) == ("c.test", 9443)
    assert pins.destination("x.test", 80) == ("d.test", 1)
    assert Pins().destination("x.test", 80) == ("x.test", 80)


def test_a_named_resolve_entry_wins_over_the_wildcard_and_removal_undoes() -> None:
    pins = Pins(
        resolve=(
            parse_resolve("*:443:10.0.0.9"),
            parse_resolve("a.test:443:10.0.0.1"),
            parse_resolve("b.test:443:10.0.0.2"),
            parse_resolve("-b.test:443"),
        )
    )
    assert pins.addresses("a.test", 443) == ("10.0.0.1",)
    assert pins.addresses("b.test", 443) == ("10.0.0.9",)
    assert pins.addresses("c.test", 443) == ("10.0.0.9",)
    assert pins.addresses("a.test", 80) is None
    assert not Pins() and pins


# -- end to end --------------------------------------------------------------------------------

NAME = "api.pinned.test"  # resolves nowhere: only a pin can reach it


@pytest.fixture(scope="module")
def server() -> Iterator[ServerThread]:
    with ServerThread(ServerConfig(tls=True, cert_names=(NAME,))) as srv:
        yield srv


def invoke(*args: str) -> Result:
    result = CliRunner().invoke(main, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert "Traceback" not in result.output
    return result


def report_of(result: Result) -> dict[str, Any]:
    report: dict[str, Any] = json.loads(result.stdout)
    return report


SEQ = ("--requests", "2", "--idle", "0", "--concurrency", "0", "--json")


def test_resolve_dials_the_address_and_keeps_the_name_for_tls_and_host(
    server: ServerThread, tmp_path: Path
) -> None:
    url = f"https://{NAME}:{server.port}/"
    events = tmp_path / "events.ndjson"
    pin = f"{NAME}:{server.port}:127.0.0.1"
    result = invoke(
        "probe",
        url,
        "--cacert",
        str(server.ca_path),
        "--resolve",
        pin,
        *SEQ,
        "--events",
        str(events),
    )
    assert result.exit_code == 0, result.stderr
    report = report_of(result)
    assert report["connections"][0]["remote"] == f"127.0.0.1:{server.port}"
    assert report["summary"]["reused"] == 1
    assert report["options"]["resolve"] == [pin]
    lines = [json.loads(line) for line in events.read_text().splitlines()]
    dns = next(e for e in lines if e["event"] == "dns_start")
    assert dns["host"] == NAME and dns["pinned"] is True
    tls = next(e for e in lines if e["event"] == "tls_start")
    assert tls["server_name"] == NAME
    headers = dict(next(e for e in lines if e["event"] == "wrote_headers")["headers"])
    assert headers["Host"] == f"{NAME}:{server.port}"


def test_the_certificate_is_still_checked_against_the_urls_name(server: ServerThread) -> None:
    """Pinning must not weaken verification: a name the certificate lacks still fails."""
    url = f"https://other.pinned.test:{server.port}/"
    pin = f"other.pinned.test:{server.port}:127.0.0.1"
    result = invoke("probe", url, "--cacert", str(server.ca_path), "--resolve", pin, *SEQ)
    assert result.exit_code == 3
    assert "Hostname mismatch" in result.stderr and "other.pinned.test" in result.stderr


def test_connect_to_goes_elsewhere_and_keeps_the_name(server: ServerThread) -> None:
    url = f"https://{NAME}/"  # port 443: nothing listens there; --connect-to moves it
    route = f"{NAME}:443:127.0.0.1:{server.port}"
    result = invoke("probe", url, "--cacert", str(server.ca_path), "--connect-to", route, *SEQ)
    assert result.exit_code == 0, result.stderr
    report = report_of(result)
    assert report["connections"][0]["remote"] == f"127.0.0.1:{server.port}"
    assert report["options"]["connect_to"] == [route]


def test_connect_to_a_name_that_resolve_pins(server: ServerThread) -> None:
    url = f"https://{NAME}/"
    result = invoke(
        "probe",
        url,
        "--cacert",
        str(server.ca_path),
        "--connect-to",
        f"::backend.pinned.test:{server.port}",
        "--resolve",
        f"backend.pinned.test:{server.port}:127.0.0.1",
        *SEQ,
    )
    assert result.exit_code == 0, result.stderr


def test_a_bad_pin_is_exit_2_before_anything_is_sent(server: ServerThread) -> None:
    before = len(server.connections)
    result = invoke("probe", server.url, "--resolve", "h:80:nowhere", *SEQ)
    assert result.exit_code == 2 and "--resolve" in result.stderr
    result = invoke("probe", server.url, "--connect-to", "a", *SEQ)
    assert result.exit_code == 2 and "--connect-to" in result.stderr
    assert len(server.connections) == before


@pytest.mark.parametrize("command", ["run", "discover", "watch"])
def test_every_command_dials_the_pinned_address(server: ServerThread, command: str) -> None:
    url = f"https://{NAME}:{server.port}/"
    pin = ("--cacert", str(server.ca_path), "--resolve", f"{NAME}:{server.port}:127.0.0.1")
    args = {
        "run": ("run", "builtin:probe", url, *pin, "--json"),
        "discover": ("discover", url, *pin, "--only", "max-requests", "--max-requests", "3"),
        "watch": ("watch", url, *pin, *SEQ, "--every", "0.1", "--duration", "0.3"),
    }[command]
    result = invoke(*args)
    assert result.exit_code == 0, result.stderr


def test_run_takes_pins_from_the_file_and_the_command_line_wins(
    server: ServerThread, tmp_path: Path
) -> None:
    scenario = tmp_path / "s.toml"
    scenario.write_text(
        f'[pool]\ncacert = "{server.ca_path}"\n'
        f'connect_to = "{NAME}:443:127.0.0.1:{server.port}"\n'
        f'[[step]]\nurl = "https://{NAME}/"\ncount = 2\n'
    )
    result = invoke("run", str(scenario), "--json")
    assert result.exit_code == 0, result.stderr
    assert report_of(result)["summary"]["reused"] == 1
    # The command line's list replaces the file's: port 9 on 127.0.0.1 refuses.
    moved = invoke("run", str(scenario), "--connect-to", f"{NAME}:443:127.0.0.1:9", "--json")
    assert moved.exit_code == 3
    assert report_of(moved)["error"]["kind"] == "connect"


def test_watch_applies_the_command_lines_pins_to_a_scenario_file(
    server: ServerThread, tmp_path: Path
) -> None:
    """A file brings its own pool; the command line's --resolve must still reach it."""
    scenario = tmp_path / "s.toml"
    scenario.write_text(
        f'[pool]\ncacert = "{server.ca_path}"\n'
        f'[[step]]\nurl = "https://{NAME}:{server.port}/"\ncount = 2\n'
    )
    pin = f"{NAME}:{server.port}:127.0.0.1"
    args = ("--every", "0.1", "--duration", "0.2")
    result = invoke("watch", "--scenario", str(scenario), "--resolve", pin, *args)
    assert result.exit_code == 0, result.output
    unpinned = invoke("watch", "--scenario", str(scenario), *args)
    assert unpinned.exit_code == 3 and "cannot resolve" in unpinned.stderr
