"""Client certificates: a bad ``--cert``/``--key`` is refused before anything is sent,
and a server that demands a certificate and gets none is one named error, "the server
requires a client certificate", exit 3, however it says so (TLS 1.2 fails the
handshake, TLS 1.3 refuses after it, over HTTP/1.1 and h2 alike).

The built-in server verifies clients against a CA made here (``client_ca_pem``).
"""

from __future__ import annotations

import json
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from reusecheck.cli import main
from reusecheck.net import client_certs
from reusecheck.net.client_certs import CLIENT_CERT_REQUIRED, check, refusal, refusal_page
from reusecheck.server import ServerConfig, ServerThread
from reusecheck.server.certs import make_bundle


@dataclass(frozen=True)
class Client:
    cert: Path
    key: Path
    ca_pem: bytes  # the CA that signed the client's certificate


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Client:
    d = tmp_path_factory.mktemp("client")
    bundle = make_bundle(client_name="client.reusecheck.test")
    assert bundle.client_cert_pem is not None and bundle.client_key_pem is not None
    (d / "client.pem").write_bytes(bundle.client_cert_pem)
    (d / "client-key.pem").write_bytes(bundle.client_key_pem)
    return Client(d / "client.pem", d / "client-key.pem", bundle.ca_pem)


# -- checking the files -------------------------------------------------------------------


def test_a_matching_certificate_and_key_pass(client: Client, tmp_path: Path) -> None:
    check(str(client.cert), str(client.key))
    combined = tmp_path / "both.pem"  # curl reads the key from the certificate's file
    combined.write_bytes(client.cert.read_bytes() + client.key.read_bytes())
    check(str(combined))


def test_each_wrong_file_has_its_own_line(client: Client, tmp_path: Path) -> None:
    other = make_bundle(client_name="other")
    assert other.client_key_pem is not None
    wrong_key = tmp_path / "other-key.pem"
    wrong_key.write_bytes(other.client_key_pem)
    with pytest.raises(ValueError, match="does not match the certificate"):
        check(str(client.cert), str(wrong_key))
    with pytest.raises(ValueError, match="holds no private key: give the key with --key"):
        check(str(client.cert))
    with pytest.raises(ValueError, match="holds no PEM certificate"):
        check(str(client.key), str(client.key))
    with pytest.raises(ValueError, match="holds no PEM private key"):
        check(str(client.cert), str(client.cert))
    with pytest.raises(ValueError, match="is a directory"):
        check(str(tmp_path))


def test_an_encrypted_key_is_refused_without_a_prompt(client: Client, tmp_path: Path) -> None:
    """OpenSSL would ask for the passphrase on the terminal; a CI job would hang."""
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_private_key(client.key.read_bytes(), password=None)
    locked = tmp_path / "locked.pem"
    locked.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"secret"),
        )
    )
    with pytest.raises(ValueError, match="is encrypted and reusecheck does not ask"):
        check(str(client.cert), str(locked))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    with pytest.raises(ValueError, match="is encrypted"):
        client_certs.load(ctx, str(client.cert), str(locked))


# -- reading a refusal -----------------------------------------------------------------------


def alert(reason: str) -> ssl.SSLError:
    exc = ssl.SSLError(1, f"[SSL: {reason}] alert")
    exc.reason = reason
    return exc


def test_an_alert_is_a_refusal_only_when_it_can_be_about_the_certificate() -> None:
    """handshake_failure alone could be any mismatch: it names the certificate only when
    the server asked for one; certificate_required always does."""
    required = alert("TLSV13_ALERT_CERTIFICATE_REQUIRED")
    failure = alert("SSLV3_ALERT_HANDSHAKE_FAILURE")
    assert (
        refusal(required, None, False) == f"{CLIENT_CERT_REQUIRED} (TLS alert certificate_required)"
    )
    assert refusal(failure, True, False) == f"{CLIENT_CERT_REQUIRED} (TLS alert handshake_failure)"
    assert refusal(failure, None, False) is None
    assert refusal(failure, False, False) is None
    assert refusal(alert("TLSV1_ALERT_UNKNOWN_CA"), True, True) == (
        "the server refused the client certificate (TLS alert unknown_ca)"
    )
    assert refusal(ConnectionResetError(), True, False) == client_certs.CLOSED_WITHOUT_ONE
    assert refusal(ConnectionResetError(), True, True) is None


def test_nginx_pages_are_read_as_refusals() -> None:
    page = b"<html><head><title>400 No required SSL certificate was sent</title>"
    assert refusal_page(400, page) == (
        f"{CLIENT_CERT_REQUIRED} (it answered 400 No required SSL certificate was sent)"
    )
    assert "refused the client certificate" in str(
        refusal_page(400, b"<title>400 The SSL certificate error</title>")
    )
    assert refusal_page(400, b"<title>400 Bad Request</title>") is None
    assert refusal_page(200, page) is None


# -- end to end --------------------------------------------------------------------------------


@pytest.fixture(
    scope="module",
    params=[("1.3", False), ("1.3", True), ("1.2", False), ("1.2", True)],
    ids=["tls13-h1", "tls13-h2", "tls12-h1", "tls12-h2"],
)
def server(request: pytest.FixtureRequest, client: Client) -> Iterator[ServerThread]:
    tls_max, h2 = request.param
    config = ServerConfig(tls=True, h2=h2, tls_max=tls_max, client_ca_pem=client.ca_pem)
    with ServerThread(config) as srv:
        yield srv


ONE = ("--requests", "3", "--idle", "0", "--concurrency", "0")


def invoke(*args: str) -> Result:
    result = CliRunner().invoke(main, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert "Traceback" not in result.output
    return result


def test_without_a_certificate_the_run_stops_with_the_named_error(server: ServerThread) -> None:
    result = invoke("probe", server.url, "--cacert", str(server.ca_path), *ONE, "--json")
    assert result.exit_code == 3
    report = json.loads(result.stdout)
    assert report["error"]["kind"] == "tls"
    assert report["error"]["message"].startswith(CLIENT_CERT_REQUIRED)
    lines = [ln for ln in result.stderr.splitlines() if ln.startswith("reusecheck:")]
    assert len(lines) == 1 and CLIENT_CERT_REQUIRED in lines[0], result.stderr


def test_with_the_certificate_connections_are_made_and_reused(
    server: ServerThread, client: Client
) -> None:
    result = invoke(
        "probe",
        server.url,
        "--cacert",
        str(server.ca_path),
        "--cert",
        str(client.cert),
        "--key",
        str(client.key),
        *ONE,
        "--json",
    )
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["summary"]["connections_opened"] == 1
    assert [r["reused"] for r in report["requests"]] == [False, True, True]
    tls = report["connections"][0]["tls"]
    assert tls["client_cert"] is True
    # The hook that sees the CertificateRequest is CPython's own; None without it.
    assert tls.get("client_cert_requested", True) is True


def test_a_bad_cert_is_exit_2_and_nothing_is_sent(client: Client, tmp_path: Path) -> None:
    with ServerThread(ServerConfig()) as srv:
        result = invoke("probe", srv.url, *ONE, "--cert", str(client.key))
        key_alone = invoke("probe", srv.url, *ONE, "--key", str(client.key))
        assert srv.connections == []
    assert result.exit_code == 2 and "holds no PEM certificate" in result.stderr
    assert key_alone.exit_code == 2 and "give --cert FILE too" in key_alone.stderr


# -- the other commands ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def strict(client: Client) -> Iterator[ServerThread]:
    with ServerThread(ServerConfig(tls=True, client_ca_pem=client.ca_pem)) as srv:
        yield srv


def test_run_takes_the_certificate_from_the_scenario_file(
    strict: ServerThread, client: Client, tmp_path: Path
) -> None:
    scenario = tmp_path / "s.toml"
    scenario.write_text(
        f'[pool]\ncacert = "{strict.ca_path}"\ncert = "{client.cert}"\nkey = "{client.key}"\n'
        f'[[step]]\nurl = "{strict.url}"\ncount = 2\n'
    )
    result = invoke("run", str(scenario), "--json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert [r["status"] for r in report["requests"]] == [200, 200]


def test_run_builtin_discover_and_watch_take_cert_and_key(
    strict: ServerThread, client: Client
) -> None:
    tls = ("--cacert", str(strict.ca_path), "--cert", str(client.cert), "--key", str(client.key))
    ran = invoke("run", "builtin:probe", strict.url, *tls, "--json")
    assert ran.exit_code == 0, ran.stderr
    found = invoke("discover", strict.url, *tls, "--only", "max-requests", "--max-requests", "3")
    assert found.exit_code == 0, found.stderr
    watched = invoke(
        "watch", strict.url, *tls, *ONE, "--every", "0.1", "--duration", "0.3", "--json"
    )
    assert watched.exit_code == 0, watched.stderr
    # Without it, each of them names the refusal.
    for args in (
        ("run", "builtin:probe", strict.url),
        ("discover", strict.url, "--only", "max-requests", "--max-requests", "3"),
        ("watch", strict.url, *ONE, "--every", "0.1", "--duration", "0.3"),
    ):
        refused = invoke(*args, "--cacert", str(strict.ca_path))
        assert refused.exit_code == 3, (args, refused.output)
        assert CLIENT_CERT_REQUIRED in refused.stderr, (args, refused.stderr)


def scenario_error(tmp_path: Path, pool: str) -> str:
    scenario = tmp_path / "s.toml"
    scenario.write_text(f'[pool]\n{pool}\n[[step]]\nurl = "https://h.test/"\n')
    result = invoke("run", str(scenario))
    assert result.exit_code == 2
    return result.stderr


def test_scenario_cert_mistakes_name_the_key(client: Client, tmp_path: Path) -> None:
    assert "[pool]: key: needs a cert" in scenario_error(tmp_path, f'key = "{client.key}"')
    assert "[pool]: cert: " in scenario_error(tmp_path, 'cert = "missing.pem"')
    said = scenario_error(tmp_path, f'cert = "{client.cert}"')
    assert "[pool]: cert: " in said and "holds no private key" in said
