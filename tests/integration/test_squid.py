"""Through a real forward proxy (squid) end to end, squid's own log as the witness.

What the report says about connections through a proxy can only be trusted if the
proxy saw the same: squid logs every request with the client port it came on, so the
report's connections (their ``local`` ports, their request counts) are compared with
squid's access log, not with the report's own idea of itself.  Targets are nginx and
the built-in server on loopback; names that only squid resolves (its own hosts file)
stand for non-loopback origins, which an environment proxy must be used for.
"""

from __future__ import annotations

import base64
import json
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from reusecheck.cli import main
from reusecheck.server import ServerConfig, ServerThread
from reusecheck.server.certs import make_bundle
from tests.integration.nginx import Nginx, start_nginx, start_nginx_tls
from tests.integration.squid import Logged, Squid, start_squid

SECRET = "Sq1d-pa55word"
USER = "alice"
NAMES = ("origin-a.test", "origin-b.test", "secure.test", "blocked.test", "upstream.test")

# The environment of every run: no proxy variable from the machine running the tests
# (a CI runner's NO_PROXY=127.0.0.1 would silently bypass --proxy), then the test's.
CLEAN: Mapping[str, str | None] = {
    name: None
    for base in ("http_proxy", "https_proxy", "all_proxy", "no_proxy", "request_method")
    for name in (base, base.upper())
}


def cli(*args: str, env: Mapping[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, list(args), env={**CLEAN, "COLUMNS": "120", **(env or {})})


def probe(url: str, *args: str, env: Mapping[str, str] | None = None) -> tuple[Result, Any]:
    r = cli("probe", url, "--json", "--idle", "0", *args, env=env)
    try:
        report = json.loads(r.stdout)
    except ValueError:
        pytest.fail(f"no JSON report (exit {r.exit_code}): {r.output[-2000:]}")
    return r, report


def hosts_file() -> Path:
    """Squid's hosts file: the test names, all loopback (squid drops root: world-readable)."""
    d = Path(tempfile.mkdtemp(prefix="reusecheck-squid-hosts-"))
    d.chmod(0o755)
    hosts = d / "hosts"
    hosts.write_text("".join(f"127.0.0.1 {n}\n" for n in NAMES))
    hosts.chmod(0o644)
    return hosts


def squid_with(extra: str = "", **kwargs: Any) -> Squid:
    return start_squid(extra=f"hosts_file {hosts_file()}\n{extra}", **kwargs)


def port_of(addr: str) -> int:
    return int(addr.rpartition(":")[2])


def lines_for(squid: Squid, needle: str, expected: int) -> list[Logged]:
    """The access log's lines whose URL holds ``needle``, once ``expected`` are there
    (squid writes a CONNECT's line when its tunnel closes, after the run returned)."""
    deadline = time.monotonic() + 10
    while True:
        found = [x for x in squid.access_log() if needle in x.url]
        if len(found) >= expected or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def ports_per_conn(report: Any) -> Counter[int]:
    """The report's view: requests per client port (a connection's ``local``).  A dial
    still connecting when the run ended (a burst's extra, cancelled) never reached the
    proxy: it has no local address and squid never saw it."""
    return Counter(
        {port_of(c["local"]): c["requests"] for c in report["connections"] if c["local"]}
    )


@pytest.fixture(scope="module")
def squid() -> Iterator[Squid]:
    proxy = squid_with()
    yield proxy
    proxy.stop()


@pytest.fixture(scope="module")
def auth_squid() -> Iterator[Squid]:
    """Basic authentication required; CONNECT to blocked.test denied (a real 403)."""
    proxy = squid_with(
        "acl blocked dstdomain -n blocked.test\nhttp_access deny CONNECT blocked\n",
        credentials=(USER, SECRET),
    )
    yield proxy
    proxy.stop()


@pytest.fixture(scope="module")
def plain_nginx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Nginx]:
    server = start_nginx(tmp_path_factory.mktemp("nginx-plain"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def h2_nginx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Nginx, Path]]:
    server, ca = start_nginx_tls(tmp_path_factory.mktemp("nginx-h2"), http2=True)
    yield server, ca
    server.stop()


@pytest.fixture(scope="module")
def secure() -> Iterator[ServerThread]:
    """An https:// origin whose certificate names secure.test (squid resolves it)."""
    with ServerThread(ServerConfig(tls=True, h2=True, cert_names=("secure.test",))) as srv:
        yield srv


# -- http:// targets: absolute form to the proxy -------------------------------------------


def test_http_target_goes_to_the_proxy_in_absolute_form(squid: Squid, plain_nginx: Nginx) -> None:
    """Each connection's ``remote`` is squid, squid got absolute-form GETs, and squid's
    client ports are exactly the report's connections with their request counts."""
    r, report = probe(plain_nginx.url, "--proxy", squid.url)
    assert r.exit_code == 0, r.output
    assert report["proxy"] == squid.url
    conns = report["connections"]
    assert conns and all(c["remote"] == f"127.0.0.1:{squid.port}" for c in conns)
    assert all(c["proxy"] == squid.url and c["tunnel"] is None for c in conns)
    assert all(c["tunnel_status"] is None for c in conns)
    logged = lines_for(squid, f":{plain_nginx.port}/", len(report["requests"]))
    assert {(x.method, x.url, x.result) for x in logged} == {
        ("GET", plain_nginx.url, "TCP_MISS/200")
    }
    assert Counter(x.client_port for x in logged) == ports_per_conn(report)
    assert "reuse measured between the client and the proxy" in report["verdict"]["detail"]


def test_two_http_origins_share_the_proxy_connection(
    squid: Squid, plain_nginx: Nginx, tmp_path: Path
) -> None:
    """Go keys http:// connections through a proxy by the proxy alone: a request to a
    second origin reuses the first origin's connection to squid."""
    other = f"http://origin-b.test:{plain_nginx.port}/b"
    scenario = tmp_path / "two.toml"
    scenario.write_text(
        f'[defaults]\nurl = "http://origin-a.test:{plain_nginx.port}/a"\n\n'
        '[[step]]\nname = "a"\npath = "/a"\n\n'
        f'[[step]]\nname = "b"\nurl = "{other}"\n\n'
        '[[step]]\nname = "a-again"\npath = "/a"\n'
    )
    r = cli("run", str(scenario), "--json", "--proxy", squid.url)
    assert r.exit_code == 0, r.output
    report = json.loads(r.stdout)
    [conn] = report["connections"]
    assert conn["requests"] == 3
    assert [q["reused"] for q in report["requests"]] == [False, True, True]
    logged = lines_for(squid, ".test:", 3)
    logged = [x for x in logged if f":{plain_nginx.port}/" in x.url]
    assert [x.url for x in logged] == [
        f"http://origin-a.test:{plain_nginx.port}/a",
        other,
        f"http://origin-a.test:{plain_nginx.port}/a",
    ]
    assert {x.client_port for x in logged} == {port_of(conn["local"])}


# -- https:// targets: a CONNECT tunnel ----------------------------------------------------


def test_https_target_goes_through_one_reused_tunnel_with_h2_inside(
    squid: Squid, h2_nginx: tuple[Nginx, Path]
) -> None:
    """CONNECT, then TLS to nginx inside it with h2 by ALPN; every request multiplexed
    on that one tunnel, which squid logs once, from the report's client port."""
    server, ca = h2_nginx
    r, report = probe(server.url, "--proxy", squid.url, "--cacert", str(ca), "--expect", "h2")
    assert r.exit_code == 0, r.output
    assert report["protocol"] == "h2" and report["proxy"] == squid.url
    [conn] = report["connections"]
    assert conn["remote"] == f"127.0.0.1:{squid.port}"
    assert conn["tunnel"] == f"127.0.0.1:{server.port}" and conn["tunnel_status"] == 200
    assert conn["tls"]["alpn"] == "h2"
    assert conn["requests"] == len(report["requests"]) > 1
    first = report["requests"][0]
    assert first["timings_s"]["proxy"] is not None and first["timings_s"]["tls"] is not None
    [tunnel] = lines_for(squid, f"127.0.0.1:{server.port}", 1)
    assert (tunnel.method, tunnel.result) == ("CONNECT", "TCP_TUNNEL/200")
    assert tunnel.client_port == port_of(conn["local"])


def test_https_proxy_variable_is_used_and_loopback_is_not_proxied(
    squid: Squid, secure: ServerThread
) -> None:
    """HTTPS_PROXY (set as a user would) takes secure.test through squid, which alone
    can resolve that name; the same variable leaves a loopback URL direct (Go), and
    the report's ``proxy`` says null then."""
    env = {"HTTPS_PROXY": squid.url}
    url = f"https://secure.test:{secure.port}/"
    r, report = probe(url, "--cacert", str(secure.ca_path), "--concurrency", "0", env=env)
    assert r.exit_code == 0, r.output
    assert report["proxy"] == squid.url
    assert report["options"]["proxy"]["source"] == ["HTTPS_PROXY"]
    [conn] = report["connections"]
    assert conn["remote"] == f"127.0.0.1:{squid.port}"
    assert conn["tunnel"] == f"secure.test:{secure.port}"
    [tunnel] = lines_for(squid, f"secure.test:{secure.port}", 1)
    assert tunnel.client_port == port_of(conn["local"])

    before = len(squid.access_log())
    direct = f"https://127.0.0.1:{secure.port}/"
    r, report = probe(direct, "--insecure", "--concurrency", "0", env=env)
    assert r.exit_code == 0, r.output
    assert report["proxy"] is None
    assert all(c["remote"] == f"127.0.0.1:{secure.port}" for c in report["connections"])
    assert all(c["proxy"] is None and c["tunnel"] is None for c in report["connections"])
    assert len(squid.access_log()) == before


def test_no_proxy_and_noproxy_decide_end_to_end(squid: Squid, secure: ServerThread) -> None:
    """NO_PROXY naming the domain sends secure.test direct (to the address --resolve
    gives it: nothing else resolves that name), squid never sees it; --noproxy ''
    replaces NO_PROXY and the same run goes through squid again."""
    env = {"HTTPS_PROXY": squid.url, "NO_PROXY": ".test"}
    url = f"https://secure.test:{secure.port}/"
    pinned = ("--resolve", f"secure.test:{secure.port}:127.0.0.1", "--concurrency", "0")
    before = len(lines_for(squid, f"secure.test:{secure.port}", 0))
    r, report = probe(url, "--cacert", str(secure.ca_path), *pinned, env=env)
    assert r.exit_code == 0, r.output
    assert report["proxy"] is None
    assert [c["remote"] for c in report["connections"]] == [f"127.0.0.1:{secure.port}"]

    r, report = probe(url, "--cacert", str(secure.ca_path), *pinned, "--noproxy", "", env=env)
    assert r.exit_code == 0, r.output
    assert report["proxy"] == squid.url
    [conn] = report["connections"]
    assert conn["remote"] == f"127.0.0.1:{squid.port}"
    tunnels = lines_for(squid, f"secure.test:{secure.port}", before + 1)
    assert len(tunnels) == before + 1 and tunnels[-1].client_port == port_of(conn["local"])


# -- an https:// proxy ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls_squid() -> Iterator[tuple[Squid, Path]]:
    """Squid with an https_port too (its certificate names localhost); the CA's file."""
    d = Path(tempfile.mkdtemp(prefix="reusecheck-squid-tls-"))
    bundle = make_bundle()
    (d / "cert.pem").write_bytes(bundle.cert_pem)
    (d / "key.pem").write_bytes(bundle.key_pem)
    (d / "ca.pem").write_bytes(bundle.ca_pem)
    proxy = squid_with(tls_files=(d / "cert.pem", d / "key.pem"))
    yield proxy, d / "ca.pem"
    proxy.stop()
    shutil.rmtree(d, ignore_errors=True)


def test_an_https_proxy_carries_absolute_form_and_tls_inside_its_tls(
    tls_squid: tuple[Squid, Path], plain_nginx: Nginx, h2_nginx: tuple[Nginx, Path]
) -> None:
    """TLS to the proxy (verified with --proxy-cacert against the proxy's own name),
    then http:// requests in absolute form, or a CONNECT with the target's TLS (h2)
    inside the proxy's TLS; squid's log agrees with the report's connections."""
    squid, proxy_ca = tls_squid
    server, ca = h2_nginx
    common = ("--proxy", squid.https_url, "--proxy-cacert", str(proxy_ca))
    r, report = probe(plain_nginx.url, *common)
    assert r.exit_code == 0, r.output
    assert report["proxy"] == squid.https_url
    logged = lines_for(squid, f":{plain_nginx.port}/", len(report["requests"]))
    assert Counter(x.client_port for x in logged) == ports_per_conn(report)
    assert all(c["remote"] == f"127.0.0.1:{squid.https_port}" for c in report["connections"])

    r, report = probe(server.url, *common, "--cacert", str(ca))
    assert r.exit_code == 0, r.output
    [conn] = report["connections"]
    assert conn["tls"]["alpn"] == "h2" and conn["tunnel"] == f"127.0.0.1:{server.port}"
    [tunnel] = lines_for(squid, f"127.0.0.1:{server.port}", 1)
    assert tunnel.client_port == port_of(conn["local"])


def test_an_https_proxy_with_an_untrusted_certificate_is_named(
    tls_squid: tuple[Squid, Path], plain_nginx: Nginx
) -> None:
    """The target's --cacert does not vouch for the proxy: the TLS error says it was
    the proxy's certificate, and nothing was sent through it."""
    squid, _ = tls_squid
    before = len(squid.access_log())
    r, report = probe(plain_nginx.url, "--proxy", squid.https_url, "--concurrency", "0")
    assert r.exit_code == 3, r.output
    assert report["error"]["kind"] == "tls"
    assert report["error"]["message"].startswith(f"proxy {squid.https_url}: ")
    assert "certificate" in report["error"]["message"]
    assert not [x for x in squid.access_log()[before:] if x.method == "GET"]


# -- credentials ---------------------------------------------------------------------------


def _no_secret(*texts: str) -> None:
    token = base64.b64encode(f"{USER}:{SECRET}".encode()).decode()
    for text in texts:
        assert SECRET not in text and token not in text


def test_credentials_reach_squid_and_no_output_shows_them(
    auth_squid: Squid, plain_nginx: Nginx, h2_nginx: tuple[Nginx, Path], tmp_path: Path
) -> None:
    """Squid answers 407 without Proxy-Authorization: both runs succeeding proves it was
    sent (on each absolute-form request, on the CONNECT); the report, the events, the
    HAR, the JUnit file and the terminal show the URL with the password redacted, and
    nothing of it besides."""
    proxy = f"http://{USER}:{SECRET}@127.0.0.1:{auth_squid.port}"
    server, ca = h2_nginx
    for n, (url, extra) in enumerate(((plain_nginx.url, ()), (server.url, ("--cacert", str(ca))))):
        out = tmp_path / f"out-{n}"
        har, junit = tmp_path / f"run-{n}.har", tmp_path / f"run-{n}.xml"
        r, report = probe(
            url,
            "--proxy",
            proxy,
            "--output-dir",
            str(out),
            "--har",
            str(har),
            "--junit",
            str(junit),
            *extra,
        )
        assert r.exit_code == 0, r.output
        assert report["proxy"] == f"http://{USER}:[redacted]@127.0.0.1:{auth_squid.port}"
        assert all(q["status"] == 200 for q in report["requests"])
        written = [har, junit, *(f for f in out.iterdir() if f.is_file())]
        assert "Proxy-Authorization" in (out / "events.ndjson").read_text()
        _no_secret(r.stdout, r.stderr, *(f.read_text(errors="replace") for f in written))
    text = cli("probe", plain_nginx.url, "--idle", "0", "--proxy", proxy)
    assert text.exit_code == 0 and "[redacted]" in text.output
    _no_secret(text.output)


def test_a_wrong_password_is_squids_407_named_without_the_password(
    auth_squid: Squid, h2_nginx: tuple[Nginx, Path], tmp_path: Path
) -> None:
    """The CONNECT refused with 407: exit 3, error kind ``proxy``, the finding with the
    status; neither the wrong password nor its encoding in any output."""
    server, ca = h2_nginx
    wrong = f"http://{USER}:{SECRET}-not@127.0.0.1:{auth_squid.port}"
    events = tmp_path / "events.ndjson"
    r, report = probe(server.url, "--proxy", wrong, "--cacert", str(ca), "--events", str(events))
    assert r.exit_code == 3, r.output
    assert report["error"]["kind"] == "proxy" and "407" in report["error"]["message"]
    [finding] = [f for f in report["findings"] if f["code"] == "proxy-connect-refused"]
    assert set(finding["evidence"]["statuses"]) == {407}
    assert "credentials" in finding["remedy"]
    _no_secret(r.stdout, r.stderr, events.read_text())
    text = cli("probe", server.url, "--idle", "0", "--proxy", wrong, "--cacert", str(ca))
    assert text.exit_code == 3 and "407" in text.output
    _no_secret(text.output)


def test_a_connect_squid_denies_is_its_403_with_squids_reason(
    auth_squid: Squid, secure: ServerThread
) -> None:
    """Squid's http_access denies CONNECT to blocked.test: 403, its X-Squid-Error
    quoted, and the target never reached (the server saw no connection)."""
    before = len(secure.connections)
    proxy = f"http://{USER}:{SECRET}@127.0.0.1:{auth_squid.port}"
    r, report = probe(f"https://blocked.test:{secure.port}/", "--proxy", proxy)
    assert r.exit_code == 3, r.output
    assert "403" in report["error"]["message"]
    assert "ERR_ACCESS_DENIED" in report["error"]["message"]
    [finding] = [f for f in report["findings"] if f["code"] == "proxy-connect-refused"]
    assert set(finding["evidence"]["statuses"]) == {403}
    assert finding["evidence"]["targets"][0] == f"blocked.test:{secure.port}"
    assert len(secure.connections) == before


# -- a proxy that breaks reuse -------------------------------------------------------------


def test_a_proxy_without_persistent_connections_is_the_finding(plain_nginx: Nginx) -> None:
    """Squid with client_persistent_connections off closes each client connection after
    its response, though nginx keeps its own alive: the finding, and squid's log shows
    one request per client port, as many ports as the report's connections."""
    proxy = squid_with("client_persistent_connections off\n")
    try:
        r, report = probe(plain_nginx.url, "--proxy", proxy.url, "--concurrency", "0")
        logged = lines_for(proxy, f":{plain_nginx.port}/", len(report["requests"]))
    finally:
        proxy.stop()
    assert r.exit_code == 1, r.output
    assert "proxy-no-keepalive" in [f["code"] for f in report["findings"]]
    assert report["summary"]["connections_opened"] == len(report["requests"]) == 5
    assert Counter(x.client_port for x in logged) == ports_per_conn(report)
    assert set(Counter(x.client_port for x in logged).values()) == {1}


def test_a_proxy_idle_timeout_shorter_than_the_clients_is_the_finding(
    plain_nginx: Nginx,
) -> None:
    """Squid closes idle client connections after client_idle_pconn_timeout (1 s here);
    the idle gap outlasts it, so the connection the client kept was closed by the
    proxy, not by nginx (whose keepalive_timeout is 75 s)."""
    proxy = squid_with("client_idle_pconn_timeout 1 second\n")
    try:
        r, report = probe(
            plain_nginx.url,
            "--proxy",
            proxy.url,
            "--requests",
            "1",
            "--concurrency",
            "0",
            "--idle",
            "2.5",
            "--expect",
            "none",
        )
    finally:
        proxy.stop()
    assert r.exit_code == 0, r.output
    [finding] = [f for f in report["findings"] if f["code"] == "proxy-idle-timeout"]
    assert "shorter than the client's idle timeout" in finding["message"]
    assert "client_idle_pconn_timeout" in finding["remedy"]
    first = report["connections"][0]
    assert first["closed_by"] == "server"
    assert report["summary"]["connections_opened"] == 2


# -- observe's upstream leg goes through the proxy too --------------------------------------


def test_observe_forwards_to_its_upstream_through_the_proxy(squid: Squid) -> None:
    """observe's upstream is reached as every command reaches a target: --proxy (or the
    environment) applies, and squid's log shows the forwarded requests on one client
    connection (reusecheck's pool reusing it), whatever the observed client did."""
    import os
    import re
    import subprocess
    import sys

    import requests

    env = {k: v for k, v in os.environ.items() if k.lower() not in {n.lower() for n in CLEAN}}
    with ServerThread(ServerConfig()) as target:
        upstream = target.url.replace("127.0.0.1", "upstream.test")
        args = ["--listen", "127.0.0.1:0", "--upstream", upstream, "--proxy", squid.url]
        proc = subprocess.Popen(
            [sys.executable, "-m", "reusecheck", "observe", *args, "--requests", "3", "--json"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert proc.stderr is not None
        m = re.search(r"listening on (\S+)", proc.stderr.readline())
        assert m, "observe did not start"
        for _ in range(3):  # a client per request: the client's mistake, not the upstream's
            assert requests.get(m[1], timeout=10).status_code == 200
        out, err = proc.communicate(timeout=30)
    report = json.loads(out)
    assert report["upstream"]["summary"]["requests"] == 3, err
    assert report["upstream"]["summary"]["connections_opened"] == 1
    logged = lines_for(squid, "upstream.test", 3)
    assert [x.status for x in logged] == [200, 200, 200]
    assert len({x.client_port for x in logged}) == 1
    assert [f["code"] for f in report["findings"]] == ["client-new-conn-per-request"]
