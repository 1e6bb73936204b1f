"""Client certificates against real nginx (``ssl_verify_client``).

nginx completes the handshake whatever the client sends and answers every request
``400 No required SSL certificate was sent``: a page, not a TLS alert. reusecheck must
read it as the same named error a TLS alert gives (exit 3, one line, no traceback), and
with the certificate the connections must be reused and resumed as without one.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from reusecheck.cli import main
from reusecheck.net.client_certs import CLIENT_CERT_REQUIRED
from reusecheck.server.certs import make_bundle
from tests.integration.nginx import Nginx, start_nginx_tls

pytestmark = pytest.mark.nginx

VERIFY = "ssl_verify_client {mode}; ssl_client_certificate {{ca}}; ssl_session_cache shared:s:1m;"


@pytest.fixture(scope="module", params=[False, True], ids=["http1", "h2"])
def required(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Nginx, Path]]:
    server, ca = start_nginx_tls(
        tmp_path_factory.mktemp("nginx-on"),
        http2=request.param,
        server_extra=VERIFY.format(mode="on"),
    )
    yield server, ca
    server.stop()


@pytest.fixture(scope="module")
def optional(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Nginx, Path]]:
    server, ca = start_nginx_tls(
        tmp_path_factory.mktemp("nginx-optional"),
        http2=False,
        server_extra=VERIFY.format(mode="optional"),
    )
    yield server, ca
    server.stop()


def invoke(*args: str) -> Result:
    result = CliRunner().invoke(main, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert "Traceback" not in result.output
    return result


def cert_args(server: Nginx) -> tuple[str, ...]:
    return ("--cert", str(server.dir / "client.pem"), "--key", str(server.dir / "client-key.pem"))


def report_of(result: Result) -> dict[str, Any]:
    report: dict[str, Any] = json.loads(result.stdout)
    return report


def test_with_the_certificate_connections_are_reused_and_resumed(
    required: tuple[Nginx, Path],
) -> None:
    server, ca = required
    result = invoke("probe", server.url, "--cacert", str(ca), *cert_args(server), "--json")
    assert result.exit_code == 0, result.stderr
    report = report_of(result)
    assert report["verdict"]["reuse"] == "yes"
    assert report["summary"]["reused"] >= 5
    assert {r["status"] for r in report["requests"]} == {200}
    first, *later = report["connections"]
    assert first["tls"]["client_cert"] is True
    assert first["tls"]["resumed"] is False
    assert first["tls"].get("client_cert_requested", True) is True
    if first["protocol"] == "h2":
        assert later == []  # every stream on the one connection
    else:
        # The bursts need more connections; nginx resumes the session the certificate
        # was verified in, and the report says so.
        assert later and any(c["tls"]["resumed"] for c in later), later
        assert all(c["tls"]["client_cert"] for c in later)


def test_without_the_certificate_it_is_the_named_error(required: tuple[Nginx, Path]) -> None:
    server, ca = required
    result = invoke("probe", server.url, "--cacert", str(ca))
    assert result.exit_code == 3
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith(f"reusecheck: tls: {CLIENT_CERT_REQUIRED}")
    assert "No required SSL certificate was sent" in result.stderr


def test_without_the_certificate_the_json_says_the_same(required: tuple[Nginx, Path]) -> None:
    server, ca = required
    result = invoke("probe", server.url, "--cacert", str(ca), "--json")
    assert result.exit_code == 3
    report = report_of(result)
    assert report["error"]["kind"] == "tls"
    assert report["error"]["message"].startswith(CLIENT_CERT_REQUIRED)
    assert report["verdict"]["ok"] is False


def test_a_certificate_from_another_ca_is_refused_by_name(
    required: tuple[Nginx, Path], tmp_path: Path
) -> None:
    server, ca = required
    other = make_bundle(client_name="stranger")
    assert other.client_cert_pem is not None and other.client_key_pem is not None
    (tmp_path / "c.pem").write_bytes(other.client_cert_pem)
    (tmp_path / "k.pem").write_bytes(other.client_key_pem)
    result = invoke(
        "probe",
        server.url,
        "--cacert",
        str(ca),
        "--cert",
        str(tmp_path / "c.pem"),
        "--key",
        str(tmp_path / "k.pem"),
    )
    assert result.exit_code == 3
    assert "the server refused the client certificate" in result.stderr


def test_optional_verification_works_either_way(optional: tuple[Nginx, Path]) -> None:
    server, ca = optional
    without = invoke("probe", server.url, "--cacert", str(ca), "--json")
    assert without.exit_code == 0, without.stderr
    conns = report_of(without)["connections"]
    assert conns[0]["tls"]["client_cert"] is False
    assert conns[0]["tls"].get("client_cert_requested", True) is True
    with_cert = invoke("probe", server.url, "--cacert", str(ca), *cert_args(server), "--json")
    assert with_cert.exit_code == 0, with_cert.stderr
    report = report_of(with_cert)
    assert report["verdict"]["reuse"] == "yes"
    assert report["connections"][0]["tls"]["client_cert"] is True


def test_discover_measures_through_the_certificate(required: tuple[Nginx, Path]) -> None:
    server, ca = required
    args = ("--only", "max-requests", "--max-requests", "5", "--json")
    result = invoke("discover", server.url, "--cacert", str(ca), *cert_args(server), *args)
    assert result.exit_code == 0, result.stderr
    refused = invoke("discover", server.url, "--cacert", str(ca), *args)
    assert refused.exit_code == 3
    assert CLIENT_CERT_REQUIRED in refused.stderr
