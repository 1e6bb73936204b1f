"""Tests for reusecheck.server.certs: real loopback TLS handshakes plus a parse with `cryptography`.

`cryptography` and `trustme` are test-only dependencies; the module under test uses neither.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
import tempfile
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, SignatureAlgorithmOID
from cryptography.x509.verification import PolicyBuilder, Store
from hypothesis import given, settings
from hypothesis import strategies as st

from reusecheck.server import certs
from reusecheck.server.certs import CertBundle, make_bundle, self_signed, server_context, write_ca

TIMEOUT = 5.0


# --- helpers --------------------------------------------------------------------------------


@dataclass
class Handshake:
    client_alpn: str | None
    server_alpn: str | None
    server_error: BaseException | None


def _ipv6_loopback_works() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
    except OSError:
        return False
    return True


def client_context(cadata: bytes, alpn: list[str] | None = None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cadata=cadata.decode())
    ctx.verify_flags |= ssl.VERIFY_X509_STRICT
    if alpn:
        ctx.set_alpn_protocols(alpn)
    return ctx


def handshake(
    server_ctx: ssl.SSLContext,
    client_ctx: ssl.SSLContext,
    server_hostname: str,
    host: str = "127.0.0.1",
) -> Handshake:
    """One TLS handshake over loopback; raises whatever the client raised."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    result: dict[str, object] = {"alpn": None, "error": None}
    with socket.socket(family, socket.SOCK_STREAM) as listener:
        listener.bind((host, 0))
        listener.listen(1)
        listener.settimeout(TIMEOUT)
        port = listener.getsockname()[1]

        def serve() -> None:
            try:
                conn, _ = listener.accept()
                with conn:
                    conn.settimeout(TIMEOUT)
                    with server_ctx.wrap_socket(conn, server_side=True) as tls:
                        result["alpn"] = tls.selected_alpn_protocol()
                        tls.recv(1)  # wait for the client's close (or, in TLS 1.3, its alert)
            except (OSError, ssl.SSLError) as exc:
                result["error"] = exc

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        try:
            with (
                socket.create_connection((host, port), timeout=TIMEOUT) as raw,
                client_ctx.wrap_socket(raw, server_hostname=server_hostname) as tls,
            ):
                client_alpn = tls.selected_alpn_protocol()
        finally:
            thread.join(TIMEOUT * 2)
            assert not thread.is_alive(), "server thread hung"
    error = result["error"]
    assert error is None or isinstance(error, BaseException)
    server_alpn = result["alpn"]
    assert server_alpn is None or isinstance(server_alpn, str)
    return Handshake(client_alpn, server_alpn, error)


def verify_error(
    bundle: CertBundle, trust: bytes, server_hostname: str = "localhost"
) -> ssl.SSLCertVerificationError:
    with pytest.raises(ssl.SSLCertVerificationError) as info:
        handshake(server_context(bundle), client_context(trust), server_hostname)
    return info.value


def load(pem: bytes) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(pem)


@pytest.fixture(scope="module")
def bundle() -> CertBundle:
    return make_bundle()


# --- handshakes -----------------------------------------------------------------------------


@pytest.mark.parametrize("server_hostname", ["localhost", "127.0.0.1"])
def test_handshake_ipv4(bundle: CertBundle, server_hostname: str) -> None:
    result = handshake(server_context(bundle), client_context(bundle.ca_pem), server_hostname)
    assert result.server_error is None
    assert result.client_alpn is None  # client offered nothing


@pytest.mark.skipif(not _ipv6_loopback_works(), reason="no IPv6 loopback")
def test_handshake_ipv6_by_ip(bundle: CertBundle) -> None:
    result = handshake(server_context(bundle), client_context(bundle.ca_pem), "::1", host="::1")
    assert result.server_error is None


def test_hostname_mismatch_fails(bundle: CertBundle) -> None:
    err = verify_error(bundle, bundle.ca_pem, server_hostname="example.com")
    assert err.verify_code == 62  # X509_V_ERR_HOSTNAME_MISMATCH


def test_ip_not_in_san_fails() -> None:
    only_dns = make_bundle(["localhost"])
    err = verify_error(only_dns, only_dns.ca_pem, "127.0.0.1")
    assert err.verify_code == 64  # X509_V_ERR_IP_ADDRESS_MISMATCH


def test_expired_leaf_fails() -> None:
    now = datetime.now(UTC)
    expired = make_bundle(not_before=now - timedelta(days=10), not_after=now - timedelta(days=1))
    err = verify_error(expired, expired.ca_pem)
    assert err.verify_code == 10  # X509_V_ERR_CERT_HAS_EXPIRED
    assert "expired" in err.verify_message


def test_not_yet_valid_leaf_fails() -> None:
    now = datetime.now(UTC)
    early = make_bundle(not_before=now + timedelta(days=1), not_after=now + timedelta(days=2))
    assert verify_error(early, early.ca_pem).verify_code == 9  # X509_V_ERR_CERT_NOT_YET_VALID


def test_unknown_ca_fails(bundle: CertBundle) -> None:
    # The server sends leaf + CA, so OpenSSL reports the untrusted root it was handed.
    err = verify_error(bundle, make_bundle().ca_pem)
    assert err.verify_code == 19  # X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN


def test_self_signed_rejected_then_accepted_when_trusted() -> None:
    hostile = self_signed()
    assert hostile.ca_pem == hostile.cert_pem
    other_ca = trustme.CA().cert_pem.bytes()
    err = verify_error(hostile, other_ca)
    assert err.verify_code == 18  # X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT
    assert "self-signed" in err.verify_message
    result = handshake(server_context(hostile), client_context(hostile.ca_pem), "localhost")
    assert result.server_error is None


def test_alpn_negotiates_h2(bundle: CertBundle) -> None:
    server = server_context(bundle, alpn=("h2", "http/1.1"))
    result = handshake(server, client_context(bundle.ca_pem, ["h2", "http/1.1"]), "localhost")
    assert result.client_alpn == result.server_alpn == "h2"


def test_alpn_default_is_http11(bundle: CertBundle) -> None:
    client = client_context(bundle.ca_pem, ["h2", "http/1.1"])
    result = handshake(server_context(bundle), client, "localhost")
    assert result.client_alpn == result.server_alpn == "http/1.1"


def test_long_name_gives_empty_subject_and_critical_san() -> None:
    long_name = ("a" * 60) + ".example"  # longer than ub-common-name (64)
    b = make_bundle([long_name, "127.0.0.1"])
    leaf = load(b.cert_pem)[0]
    assert len(leaf.subject) == 0
    assert leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).critical
    result = handshake(server_context(b), client_context(b.ca_pem), long_name)  # strict OK
    assert result.server_error is None


# --- parsing with cryptography --------------------------------------------------------------


def test_pem_layout(bundle: CertBundle) -> None:
    leaf, ca = load(bundle.cert_pem)
    assert load(bundle.ca_pem) == [ca]
    assert bundle.key_pem.startswith(b"-----BEGIN EC PRIVATE KEY-----\n")
    assert all(len(line) <= 64 for line in bundle.cert_pem.splitlines())
    assert leaf.issuer == ca.subject


def test_ca_certificate(bundle: CertBundle) -> None:
    ca = load(bundle.ca_pem)[0]
    assert ca.version is x509.Version.v3
    assert ca.subject.rfc4514_string() == "CN=reusecheck test CA"
    assert ca.signature_algorithm_oid == SignatureAlgorithmOID.ECDSA_WITH_SHA256
    bc = ca.extensions.get_extension_for_class(x509.BasicConstraints)
    assert bc.critical and bc.value.ca and bc.value.path_length == 0
    ku = ca.extensions.get_extension_for_class(x509.KeyUsage)
    assert ku.critical and ku.value.key_cert_sign and ku.value.crl_sign
    assert not ku.value.digital_signature
    ski = ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    assert not ski.critical
    assert ski.value == x509.SubjectKeyIdentifier.from_public_key(ca.public_key())


def test_leaf_certificate(bundle: CertBundle) -> None:
    leaf, ca = load(bundle.cert_pem)
    assert leaf.version is x509.Version.v3
    assert leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "localhost"
    assert 0 < leaf.serial_number < 2**128 and leaf.serial_number.bit_length() > 120
    assert leaf.serial_number != ca.serial_number
    ext = leaf.extensions
    bc = ext.get_extension_for_class(x509.BasicConstraints)
    assert bc.critical and not bc.value.ca
    ku = ext.get_extension_for_class(x509.KeyUsage)
    assert ku.critical and ku.value.digital_signature and not ku.value.key_cert_sign
    eku = ext.get_extension_for_class(x509.ExtendedKeyUsage)
    assert not eku.critical and list(eku.value) == [ExtendedKeyUsageOID.SERVER_AUTH]
    san = ext.get_extension_for_class(x509.SubjectAlternativeName)
    assert not san.critical  # the subject is not empty
    assert san.value.get_values_for_type(x509.DNSName) == ["localhost"]
    assert san.value.get_values_for_type(x509.IPAddress) == [
        ipaddress.ip_address("127.0.0.1"),
        ipaddress.ip_address("::1"),
    ]
    ski = ext.get_extension_for_class(x509.SubjectKeyIdentifier)
    assert ski.value == x509.SubjectKeyIdentifier.from_public_key(leaf.public_key())
    aki = ext.get_extension_for_class(x509.AuthorityKeyIdentifier)
    ca_ski = ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert not aki.critical and aki.value.key_identifier == ca_ski.digest
    assert aki.value.authority_cert_issuer is None


def test_default_validity(bundle: CertBundle) -> None:
    leaf = load(bundle.cert_pem)[0]
    now = datetime.now(UTC)
    assert timedelta(minutes=55) < now - leaf.not_valid_before_utc < timedelta(minutes=65)
    assert timedelta(days=29) < leaf.not_valid_after_utc - now < timedelta(days=31)


def test_time_encoding_year_rule() -> None:
    b = make_bundle(not_after=datetime(2050, 1, 1, tzinfo=UTC))  # GeneralizedTime from 2050
    leaf = load(b.cert_pem)[0]
    assert leaf.not_valid_after_utc == datetime(2050, 1, 1, tzinfo=UTC)
    assert b"\x18\x0f20500101000000Z" in leaf.tbs_certificate_bytes
    assert certs._time(datetime(2049, 12, 31, 23, 59, 59)) == b"\x17\x0d491231235959Z"


def test_signatures_verify(bundle: CertBundle) -> None:
    leaf, ca = load(bundle.cert_pem)
    ca_key = ca.public_key()
    assert isinstance(ca_key, ec.EllipticCurvePublicKey)
    assert isinstance(ca_key.curve, ec.SECP256R1)
    ca_key.verify(leaf.signature, leaf.tbs_certificate_bytes, ec.ECDSA(hashes.SHA256()))
    ca_key.verify(ca.signature, ca.tbs_certificate_bytes, ec.ECDSA(hashes.SHA256()))
    leaf.verify_directly_issued_by(ca)
    ss = load(self_signed().ca_pem)[0]
    ss.verify_directly_issued_by(ss)


def test_private_key_matches_leaf(bundle: CertBundle) -> None:
    key = serialization.load_pem_private_key(bundle.key_pem, password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    leaf_pub = load(bundle.cert_pem)[0].public_key()
    assert isinstance(leaf_pub, ec.EllipticCurvePublicKey)
    assert key.public_key().public_numbers() == leaf_pub.public_numbers()
    leaf_pub.verify(key.sign(b"x", ec.ECDSA(hashes.SHA256())), b"x", ec.ECDSA(hashes.SHA256()))


def test_cryptography_path_validation(bundle: CertBundle) -> None:
    """cryptography's RFC 5280 / CA/B-style verifier is stricter than OpenSSL in places."""
    leaf, ca = load(bundle.cert_pem)
    verifier = PolicyBuilder().store(Store([ca])).build_server_verifier(x509.DNSName("localhost"))
    chain = verifier.verify(leaf, [])
    assert chain == [leaf, ca]
    ip = x509.IPAddress(ipaddress.ip_address("::1"))
    PolicyBuilder().store(Store([ca])).build_server_verifier(ip).verify(leaf, [])


@settings(max_examples=40, deadline=None)
@given(st.integers(min_value=1, max_value=certs._N - 1))
def test_point_multiplication_matches_cryptography(d: int) -> None:
    expected = ec.derive_private_key(d, ec.SECP256R1()).public_key().public_numbers()
    assert certs._mul_base(d) == (expected.x, expected.y)


# --- misc API -------------------------------------------------------------------------------


def test_write_ca(bundle: CertBundle, tmp_path: Path) -> None:
    target = tmp_path / "ca.pem"
    write_ca(bundle, target)
    assert target.read_bytes() == bundle.ca_pem
    write_ca(bundle, str(tmp_path / "ca2.pem"))
    assert (tmp_path / "ca2.pem").read_bytes() == bundle.ca_pem


def test_server_context_leaves_no_files(
    bundle: CertBundle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    ctx = server_context(bundle)
    assert ctx.verify_mode is ssl.CERT_NONE and not ctx.check_hostname
    assert list(tmp_path.iterdir()) == []


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        make_bundle([])
    with pytest.raises(TypeError):
        self_signed(not_befor=datetime.now(UTC))
    with pytest.raises(ValueError):
        make_bundle(not_before=datetime.now(UTC), not_after=datetime.now(UTC) - timedelta(1))


def test_naive_datetimes_are_utc() -> None:
    naive_end = datetime.now(UTC).replace(tzinfo=None, microsecond=0) + timedelta(days=3)
    leaf = load(make_bundle(not_after=naive_end).cert_pem)[0]
    assert leaf.not_valid_after_utc == naive_end.replace(tzinfo=UTC)
