"""Throwaway TLS certificates for `reusecheck serve --tls` and the tests.

reusecheck's runtime dependencies are limited to click, rich, h11, h2 and the standard library,
so we cannot use `cryptography` (or shell out to `openssl`). The standard library can *load*
certificates but not create them, so this module carries the minimum needed to make them:
ECDSA P-256/SHA-256 over plain Python integers, a small DER encoder and an RFC 5280 X.509 v3
profile that OpenSSL accepts with ``VERIFY_X509_STRICT``.

This is test tooling, not a general crypto library: the arithmetic is not constant-time, which
is irrelevant for keys that live for one test run on loopback.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import os
import secrets
import ssl
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

__all__ = ["CertBundle", "make_bundle", "self_signed", "server_context", "write_ca"]

# --- P-256 (secp256r1, SEC 2 section 2.4.2) -------------------------------------------------

_P = 0xFFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF
_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
_GX = 0x6B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296
_GY = 0x4FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5

_Jacobian = tuple[int, int, int]  # (X, Y, Z) with x = X/Z^2, y = Y/Z^3; Z == 0 is infinity
_INFINITY: _Jacobian = (1, 1, 0)


def _double(pt: _Jacobian) -> _Jacobian:
    """Point doubling for a = -3 ("dbl-2001-b")."""
    x, y, z = pt
    if z == 0 or y == 0:
        return _INFINITY
    delta = z * z % _P
    gamma = y * y % _P
    beta = x * gamma % _P
    alpha = 3 * (x - delta) * (x + delta) % _P
    x3 = (alpha * alpha - 8 * beta) % _P
    z3 = ((y + z) ** 2 - gamma - delta) % _P
    y3 = (alpha * (4 * beta - x3) - 8 * gamma * gamma) % _P
    return x3, y3, z3


def _add(p1: _Jacobian, p2: _Jacobian) -> _Jacobian:
    """General point addition in Jacobian coordinates."""
    x1, y1, z1 = p1
    x2, y2, z2 = p2
    if z1 == 0:
        return p2
    if z2 == 0:
        return p1
    z1z1, z2z2 = z1 * z1 % _P, z2 * z2 % _P
    u1, u2 = x1 * z2z2 % _P, x2 * z1z1 % _P
    s1, s2 = y1 * z2 * z2z2 % _P, y2 * z1 * z1z1 % _P
    h, r = (u2 - u1) % _P, (s2 - s1) % _P
    if h == 0:
        return _double(p1) if r == 0 else _INFINITY
    hh = h * h % _P
    hhh = h * hh % _P
    x3 = (r * r - hhh - 2 * u1 * hh) % _P
    y3 = (r * (u1 * hh - x3) - s1 * hhh) % _P
    return x3, y3, h * z1 * z2 % _P


def _mul_base(k: int) -> tuple[int, int]:
    """k * G in affine coordinates (left-to-right double-and-add)."""
    acc, g = _INFINITY, (_GX, _GY, 1)
    for bit in bin(k)[2:]:
        acc = _double(acc)
        if bit == "1":
            acc = _add(acc, g)
    x, y, z = acc
    if z == 0:
        raise ValueError("scalar is a multiple of the group order")
    zinv = pow(z, -1, _P)
    return x * zinv * zinv % _P, y * zinv * zinv * zinv % _P


@dataclass(frozen=True)
class _Key:
    d: int
    pub: bytes  # uncompressed SEC1 point: 04 || X || Y

    @classmethod
    def generate(cls) -> _Key:
        d = secrets.randbelow(_N - 1) + 1
        x, y = _mul_base(d)
        return cls(d, b"\x04" + x.to_bytes(32, "big") + y.to_bytes(32, "big"))

    def sign(self, message: bytes) -> bytes:
        """ECDSA-with-SHA256 signature, DER ``Ecdsa-Sig-Value``, with a random nonce."""
        e = int.from_bytes(hashlib.sha256(message).digest(), "big")
        while True:
            k = secrets.randbelow(_N - 1) + 1
            r = _mul_base(k)[0] % _N
            s = pow(k, -1, _N) * (e + r * self.d) % _N
            if r and s:
                return _seq(_int(r), _int(s))


# --- DER (X.690) -----------------------------------------------------------------------------


def _tlv(tag: int, content: bytes) -> bytes:
    n = len(content)
    if n < 0x80:
        return bytes([tag, n]) + content
    size = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(size)]) + size + content


def _seq(*items: bytes) -> bytes:
    return _tlv(0x30, b"".join(items))


def _set(*items: bytes) -> bytes:
    return _tlv(0x31, b"".join(sorted(items)))  # DER SET OF: sorted encodings


def _int(value: int) -> bytes:
    return _tlv(0x02, value.to_bytes(value.bit_length() // 8 + 1, "big", signed=True))


def _bool(value: bool) -> bytes:
    return _tlv(0x01, b"\xff" if value else b"\x00")


def _bits(data: bytes, unused: int = 0) -> bytes:
    return _tlv(0x03, bytes([unused]) + data)


def _octets(data: bytes) -> bytes:
    return _tlv(0x04, data)


def _oid(dotted: str) -> bytes:
    arcs = [int(a) for a in dotted.split(".")]
    body = bytearray()
    for arc in [40 * arcs[0] + arcs[1], *arcs[2:]]:
        chunk = [arc & 0x7F]
        while arc := arc >> 7:
            chunk.append(0x80 | (arc & 0x7F))
        body += bytes(reversed(chunk))
    return _tlv(0x06, bytes(body))


def _utf8(text: str) -> bytes:
    return _tlv(0x0C, text.encode())


def _utc(when: datetime) -> datetime:
    """Aware UTC, whole seconds; a naive datetime is taken to be UTC."""
    when = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    return when.replace(microsecond=0)


def _time(when: datetime) -> bytes:
    """RFC 5280 4.1.2.5: UTCTime for 1950-2049, GeneralizedTime otherwise; UTC, no fractions."""
    when = _utc(when)
    if 1950 <= when.year < 2050:
        return _tlv(0x17, when.strftime("%y%m%d%H%M%SZ").encode())
    return _tlv(0x18, when.strftime("%Y%m%d%H%M%SZ").encode())


def _explicit(number: int, content: bytes) -> bytes:
    return _tlv(0xA0 | number, content)


def _pem(label: str, der: bytes) -> bytes:
    b64 = base64.b64encode(der)
    lines = [b64[i : i + 64] for i in range(0, len(b64), 64)]
    return b"\n".join(
        [f"-----BEGIN {label}-----".encode(), *lines, f"-----END {label}-----\n".encode()]
    )


# --- X.509 v3 (RFC 5280) ---------------------------------------------------------------------

_EC_PUBLIC_KEY = "1.2.840.10045.2.1"
_PRIME256V1 = "1.2.840.10045.3.1.7"
_ECDSA_SHA256 = _seq(_oid("1.2.840.10045.4.3.2"))  # parameters absent (RFC 5758 3.2)
_KU_DIGITAL_SIGNATURE = _bits(b"\x80", 7)  # bit 0; DER drops trailing zero bits
_KU_CERT_SIGN_CRL_SIGN = _bits(b"\x06", 1)  # bits 5 and 6
_MAX_CN = 64  # ub-common-name


def _name(cn: str) -> bytes:
    if not cn:
        return _seq()
    return _seq(_set(_seq(_oid("2.5.4.3"), _utf8(cn))))


def _ext(oid: str, value: bytes, critical: bool = False) -> bytes:
    return _seq(_oid(oid), *([_bool(True)] if critical else []), _octets(value))


def _key_id(key: _Key) -> bytes:
    """RFC 5280 4.2.1.2 method (1): SHA-1 of the subjectPublicKey bits."""
    return hashlib.sha1(key.pub, usedforsecurity=False).digest()


def _general_names(names: Sequence[str]) -> bytes:
    entries = []
    for name in names:
        try:
            entries.append(_tlv(0x87, ipaddress.ip_address(name).packed))  # [7] iPAddress
        except ValueError:
            entries.append(_tlv(0x82, name.encode("idna")))  # [2] dNSName, IA5String
    return _seq(*entries)


def _certificate(
    subject: bytes,
    key: _Key,
    issuer: bytes,
    issuer_key: _Key,
    not_before: datetime,
    not_after: datetime,
    extensions: Sequence[bytes],
) -> bytes:
    spki = _seq(_seq(_oid(_EC_PUBLIC_KEY), _oid(_PRIME256V1)), _bits(key.pub))
    serial = secrets.randbits(127) | (1 << 126)  # positive, always 16 bytes in DER
    tbs = _seq(
        _explicit(0, _int(2)),  # v3
        _int(serial),
        _ECDSA_SHA256,
        issuer,
        _seq(_time(not_before), _time(not_after)),
        subject,
        spki,
        _explicit(3, _seq(*extensions)),
    )
    return _seq(tbs, _ECDSA_SHA256, _bits(issuer_key.sign(tbs)))


_SERVER_AUTH = "1.3.6.1.5.5.7.3.1"
_CLIENT_AUTH = "1.3.6.1.5.5.7.3.2"


def _leaf_extensions(
    names: Sequence[str], subject_empty: bool, usage: str = _SERVER_AUTH
) -> list[bytes]:
    return [
        _ext("2.5.29.19", _seq(), critical=True),  # basicConstraints CA:FALSE
        _ext("2.5.29.15", _KU_DIGITAL_SIGNATURE, critical=True),
        _ext("2.5.29.37", _seq(_oid(usage))),  # extendedKeyUsage serverAuth / clientAuth
        _ext("2.5.29.17", _general_names(names), critical=subject_empty),
    ]


def _ski(key: _Key) -> bytes:
    return _ext("2.5.29.14", _octets(_key_id(key)))


def _aki(key: _Key) -> bytes:
    return _ext("2.5.29.35", _seq(_tlv(0x80, _key_id(key))))  # [0] keyIdentifier


def _validity(
    not_before: datetime | None, not_after: datetime | None
) -> tuple[datetime, datetime, datetime]:
    now = _utc(datetime.now(UTC))
    start = now - timedelta(hours=1) if not_before is None else _utc(not_before)
    end = now + timedelta(days=30) if not_after is None else _utc(not_after)
    if end <= start:
        raise ValueError("not_after must be later than not_before")
    return now, start, end


def _leaf_name(names: Sequence[str]) -> bytes:
    if not names:
        raise ValueError("at least one name is required for subjectAltName")
    return _name(names[0] if len(names[0]) <= _MAX_CN else "")


# --- public API ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CertBundle:
    ca_pem: bytes  # the CA certificate (PEM): what a user passes to --cacert
    cert_pem: bytes  # the server's chain: leaf certificate PEM then the CA PEM
    key_pem: bytes  # the leaf's private key, PEM ("EC PRIVATE KEY", SEC1)
    # make_bundle(client_name=...): a client certificate (clientAuth) from the same CA,
    # for servers that verify clients against ca_pem (nginx ssl_client_certificate).
    client_cert_pem: bytes | None = None
    client_key_pem: bytes | None = None


def _key_pem(key: _Key) -> bytes:
    """SEC1 (RFC 5915) ECPrivateKey with the named curve and the public key."""
    der = _seq(
        _int(1),
        _octets(key.d.to_bytes(32, "big")),
        _explicit(0, _oid(_PRIME256V1)),
        _explicit(1, _bits(key.pub)),
    )
    return _pem("EC PRIVATE KEY", der)


def make_bundle(
    names: Sequence[str] = ("localhost", "127.0.0.1", "::1"),
    *,
    not_before: datetime | None = None,
    not_after: datetime | None = None,
    issuer_cn: str = "reusecheck test CA",
    client_name: str | None = None,
) -> CertBundle:
    """A fresh CA and a leaf signed by it; names become SAN entries (IP addresses
    as iPAddress, others as dNSName). Defaults: valid from now-1h to now+30 days.

    The validity arguments apply to the leaf; the CA is always valid over the leaf's window and
    over now-1h..now+30d, so an expired or not-yet-valid bundle fails on the leaf (depth 0).
    """
    now, start, end = _validity(not_before, not_after)
    ca_key, leaf_key = _Key.generate(), _Key.generate()
    ca_name = _name(issuer_cn)
    ca_ext = [
        _ext("2.5.29.19", _seq(_bool(True), _int(0)), critical=True),  # CA:TRUE, pathlen:0
        _ext("2.5.29.15", _KU_CERT_SIGN_CRL_SIGN, critical=True),
        _ski(ca_key),
    ]
    ca_start = min(start, now - timedelta(hours=1))
    ca_end = max(end, now + timedelta(days=30))
    ca = _certificate(ca_name, ca_key, ca_name, ca_key, ca_start, ca_end, ca_ext)
    leaf_name = _leaf_name(names)
    leaf_ext = [*_leaf_extensions(names, leaf_name == _seq()), _ski(leaf_key), _aki(ca_key)]
    leaf = _certificate(leaf_name, leaf_key, ca_name, ca_key, start, end, leaf_ext)
    ca_pem = _pem("CERTIFICATE", ca)
    bundle = CertBundle(ca_pem, _pem("CERTIFICATE", leaf) + ca_pem, _key_pem(leaf_key))
    if client_name is None:
        return bundle
    # A client certificate: the same profile, clientAuth, its name as the subject's CN.
    client_key = _Key.generate()
    client_ext = [*_leaf_extensions([client_name], False, _CLIENT_AUTH), _ski(client_key)]
    client_ext.append(_aki(ca_key))
    client = _certificate(_name(client_name), client_key, ca_name, ca_key, start, end, client_ext)
    return replace(
        bundle, client_cert_pem=_pem("CERTIFICATE", client), client_key_pem=_key_pem(client_key)
    )


def self_signed(
    names: Sequence[str] = ("localhost", "127.0.0.1", "::1"), **validity: datetime | None
) -> CertBundle:
    """A leaf that signs itself (ca_pem == leaf) — for the 'self-signed' hostile-server case.

    Same leaf profile as make_bundle (CA:FALSE), no AKI; cert_pem is the leaf alone.
    """
    _, start, end = _validity(validity.pop("not_before", None), validity.pop("not_after", None))
    if validity:
        raise TypeError(f"unexpected keyword arguments: {', '.join(sorted(validity))}")
    key = _Key.generate()
    name = _leaf_name(names)
    ext = [*_leaf_extensions(names, name == _seq()), _ski(key)]
    pem = _pem("CERTIFICATE", _certificate(name, key, name, key, start, end, ext))
    return CertBundle(pem, pem, _key_pem(key))


def server_context(bundle: CertBundle, alpn: Sequence[str] = ("http/1.1",)) -> ssl.SSLContext:
    """A server-side SSLContext loaded with the bundle (load_cert_chain needs files:
    write to a private temp dir, load, delete)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if alpn:
        ctx.set_alpn_protocols(list(alpn))
    with tempfile.TemporaryDirectory(prefix="reusecheck-tls-") as tmp:  # mode 0700
        cert, key = Path(tmp, "cert.pem"), Path(tmp, "key.pem")
        for path, data in ((cert, bundle.cert_pem), (key, bundle.key_pem)):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
        ctx.load_cert_chain(cert, key)
    return ctx


def write_ca(bundle: CertBundle, path: str | os.PathLike[str]) -> None:
    """Write the CA certificate (PEM) to `path`, for a client's --cacert."""
    Path(path).write_bytes(bundle.ca_pem)
