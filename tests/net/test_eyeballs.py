"""Several addresses, dialled as Go's dual-stack dialer dials them: the order and the
time shares (pure), then real dials on loopback where one address refuses or never
answers and another works: every attempt is recorded, the connection uses the one that
worked, and ``-4``/``-6`` keep one family.  A server listening on one family only
(127.0.0.1 or ::1) is how one address of a pair refuses on loopback.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from reusecheck.cli import main
from reusecheck.net.connect import connect
from reusecheck.net.errors import RequestError
from reusecheck.net.eyeballs import (
    FALLBACK_DELAY,
    MIN_ATTEMPT,
    attempt_timeout,
    family,
    keep_family,
    partition,
)
from reusecheck.server import ServerConfig, ServerThread
from reusecheck.trace import Recorder
from tests.integration.nginx import start_nginx
from tests.net.wire import recorder_tracer, run

# -- the rules ----------------------------------------------------------------------------------


def test_partition_keeps_the_resolvers_order_within_each_family() -> None:
    addrs = ["2001:db8::1", "192.0.2.1", "2001:db8::2", "192.0.2.2"]
    assert partition(addrs) == (["2001:db8::1", "2001:db8::2"], ["192.0.2.1", "192.0.2.2"])
    assert partition(["192.0.2.1", "::1"]) == (["192.0.2.1"], ["::1"])
    assert partition(["192.0.2.1", "192.0.2.2"]) == (["192.0.2.1", "192.0.2.2"], [])
    assert partition([]) == ([], [])


def test_keep_family() -> None:
    addrs = ["::1", "127.0.0.1", "::2"]
    assert keep_family(addrs, 6) == ["::1", "::2"]
    assert keep_family(addrs, 4) == ["127.0.0.1"]
    assert keep_family(addrs, None) == addrs
    assert (family("::1"), family("10.0.0.1")) == (6, 4)


def test_each_attempt_gets_a_share_of_the_time_but_at_least_the_minimum() -> None:
    assert attempt_timeout(10.0, 1) == 10.0
    assert attempt_timeout(10.0, 2) == 5.0
    assert attempt_timeout(10.0, 10) == MIN_ATTEMPT  # 1 s each would be below Go's floor
    assert attempt_timeout(1.0, 3) == 1.0  # less than the floor left: all of it
    assert attempt_timeout(-1.0, 2) == 0.0
    assert FALLBACK_DELAY == 0.3


# -- real dials ----------------------------------------------------------------------------------


def ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
    except OSError:
        return False
    return True


needs_ipv6 = pytest.mark.skipif(not ipv6_loopback(), reason="no IPv6 loopback (::1) here")


@pytest.fixture(scope="module")
def v4_server() -> Iterator[ServerThread]:
    """Listens on 127.0.0.1 only: the same port on ::1 or 127.0.0.2 refuses."""
    with ServerThread(ServerConfig(host="127.0.0.1")) as srv:
        yield srv


def attempts(rec: Recorder) -> list[tuple[str, str | None, bool]]:
    """(address, error, fallback) for each connect attempt, in order of start."""
    starts = [e for e in rec.events if e.event == "connect_start"]
    dones = {
        e.fields["remote"]: e.fields.get("error") for e in rec.events if e.event == "connect_done"
    }
    return [
        (e.fields["addr"], dones.get(e.fields["addr"]), bool(e.fields.get("fallback")))
        for e in starts
    ]


def dial_all(addrs: list[str], port: int, timeout: float = 5.0) -> tuple[Recorder, str]:
    async def go() -> tuple[Recorder, str]:
        rec, tracer = recorder_tracer()
        channel = await connect(addrs, port, 1, 0, tracer, timeout, {"dial_reason": "first"})
        remote = channel.addresses()[1]
        channel.close()
        return rec, remote

    return run(go())


def test_addresses_of_one_family_are_tried_in_order(v4_server: ServerThread) -> None:
    """127.0.0.2 is loopback too, but nothing listens there on this port."""
    port = v4_server.port
    rec, remote = dial_all(["127.0.0.2", "127.0.0.1"], port)
    assert remote == f"127.0.0.1:{port}"
    (first, first_error, _), (second, second_error, fallback) = attempts(rec)
    assert (first, second) == (f"127.0.0.2:{port}", f"127.0.0.1:{port}")
    assert first_error is not None and "refused" in first_error
    assert second_error is None and fallback is False
    # The dial's reason rides on its first attempt only.
    starts = [e for e in rec.events if e.event == "connect_start"]
    assert starts[0].fields["dial_reason"] == "first" and "dial_reason" not in starts[1].fields


@needs_ipv6
def test_a_refused_ipv6_falls_back_to_ipv4_at_once(v4_server: ServerThread) -> None:
    port = v4_server.port
    rec, remote = dial_all(["::1", "127.0.0.1"], port)
    assert remote == f"127.0.0.1:{port}"
    assert attempts(rec) == [
        (f"[::1]:{port}", f"connect to [::1]:{port} failed: Connection refused", False),
        (f"127.0.0.1:{port}", None, True),
    ]


@needs_ipv6
def test_a_silent_primary_is_raced_by_the_fallback_and_abandoned(v4_server: ServerThread) -> None:
    """[::1] on the server's port with its accept queue full: SYNs go unanswered, as from
    a host whose IPv6 route is broken, the case Happy Eyeballs exists for."""
    port = v4_server.port
    listener = socket.socket(socket.AF_INET6)
    try:
        listener.bind(("::1", port))
    except OSError:
        listener.close()
        pytest.skip(f"[::1]:{port} is taken")
    listener.listen(0)
    fillers = []
    try:
        for _ in range(4):
            s = socket.socket(socket.AF_INET6)
            s.setblocking(False)
            s.connect_ex(("::1", port))
            fillers.append(s)
        rec, remote = dial_all(["::1", "127.0.0.1"], port, timeout=8.0)
    finally:
        for s in fillers:
            s.close()
        listener.close()
    assert remote == f"127.0.0.1:{port}"
    (v6, v6_error, _), (v4, v4_error, fallback) = attempts(rec)
    assert (v6, v4, fallback) == (f"[::1]:{port}", f"127.0.0.1:{port}", True)
    assert v4_error is None
    assert v6_error == f"abandoned: 127.0.0.1:{port} connected first"


def test_when_every_address_fails_the_error_is_the_primaries(v4_server: ServerThread) -> None:
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    addrs = ["127.0.0.1", "::1"] if ipv6_loopback() else ["127.0.0.1", "127.0.0.2"]
    with pytest.raises(RequestError) as info:
        dial_all(addrs, port)
    assert info.value.kind == "connect"
    assert f"127.0.0.1:{port}" in info.value.message


# -- the command line ------------------------------------------------------------------------------

NAME = "dual.eyeballs.test"
SEQ = ("--requests", "2", "--idle", "0", "--concurrency", "0", "--json")


def probe(*args: str) -> tuple[Result, dict[str, Any]]:
    result = CliRunner().invoke(main, ["probe", *args, *SEQ])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert "Traceback" not in result.output
    return result, json.loads(result.stdout)


def connect_starts(events: Path) -> list[str]:
    lines = [json.loads(line) for line in events.read_text().splitlines()]
    return [e["addr"] for e in lines if e["event"] == "connect_start"]


@needs_ipv6
def test_probe_records_each_attempt_and_connects_to_the_working_address(
    v4_server: ServerThread, tmp_path: Path
) -> None:
    port = v4_server.port
    events = tmp_path / "events.ndjson"
    pin = f"{NAME}:{port}:[::1],127.0.0.1"
    result, report = probe(f"http://{NAME}:{port}/", "--resolve", pin, "--events", str(events))
    assert result.exit_code == 0, result.stderr
    assert [c["remote"] for c in report["connections"]] == [f"127.0.0.1:{port}"]
    assert report["summary"]["reused"] == 1
    assert connect_starts(events) == [f"[::1]:{port}", f"127.0.0.1:{port}"]


@needs_ipv6
def test_minus_4_and_minus_6_keep_one_family(v4_server: ServerThread, tmp_path: Path) -> None:
    port = v4_server.port
    url, pin = f"http://{NAME}:{port}/", f"{NAME}:{port}:[::1],127.0.0.1"
    events = tmp_path / "v4.ndjson"
    result, report = probe(url, "--resolve", pin, "-4", "--events", str(events))
    assert result.exit_code == 0, result.stderr
    assert connect_starts(events) == [f"127.0.0.1:{port}"]
    assert report["options"]["ip_version"] == 4
    # -6: only [::1], where nothing listens: the run stops with that attempt's error.
    result, report = probe(url, "--resolve", pin, "-6")
    assert result.exit_code == 3
    assert report["error"]["kind"] == "connect" and "[::1]" in report["error"]["message"]


def test_a_family_the_pins_lack_is_named(v4_server: ServerThread) -> None:
    """-6 with a pin of IPv4 addresses only: nothing to dial, said as such (not a dial
    to the IPv4 address behind -6's back)."""
    port = v4_server.port
    before = len(v4_server.connections)
    result, report = probe(f"http://{NAME}:{port}/", "--resolve", f"{NAME}:{port}:127.0.0.1", "-6")
    assert result.exit_code == 3
    assert report["error"]["kind"] == "dns"
    assert "no IPv6 address" in report["error"]["message"]
    assert len(v4_server.connections) == before


def test_an_ip_literal_of_the_other_family_is_refused(v4_server: ServerThread) -> None:
    result, report = probe(f"http://127.0.0.1:{v4_server.port}/", "-6")
    assert result.exit_code == 3
    assert report["error"]["kind"] == "dns" and "IPv4 address" in report["error"]["message"]
    result = CliRunner().invoke(main, ["probe", v4_server.url, "-4", "-6"])
    assert result.exit_code == 2 and "contradict" in result.stderr


# -- nginx on ::1 ---------------------------------------------------------------------------------


@needs_ipv6
@pytest.mark.nginx
def test_nginx_on_ipv6_only_is_reached_first_or_after_the_ipv4_refusal(tmp_path: Path) -> None:
    """nginx listens on [::1]:P6 (and on 127.0.0.1 at another port): for P6, ::1 works
    and 127.0.0.1 refuses, whichever order the pin gives; nginx's own log says which
    address the connections came from."""
    with socket.socket(socket.AF_INET6) as s:
        s.bind(("::1", 0))
        port6 = s.getsockname()[1]
    log = tmp_path / "v6.log"
    server = start_nginx(
        tmp_path / "nginx", server_extra=f"listen [::1]:{port6}; access_log {log};"
    )
    try:
        url = f"http://{NAME}:{port6}/"
        for order in ("[::1],127.0.0.1", "127.0.0.1,[::1]"):
            result, report = probe(url, "--resolve", f"{NAME}:{port6}:{order}")
            assert result.exit_code == 0, result.stderr
            assert [c["remote"] for c in report["connections"]] == [f"[::1]:{port6}"]
            assert report["summary"]["reused"] == 1
        result, report = probe(url, "--resolve", f"{NAME}:{port6}:[::1],127.0.0.1", "-4")
        assert result.exit_code == 3 and report["error"]["kind"] == "connect"
    finally:
        server.stop()
    lines = log.read_text().splitlines()
    assert len(lines) == 4 and all(line.startswith("::1 ") for line in lines), lines
