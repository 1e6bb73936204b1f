"""Client certificates: loading and checking one, and reading a server's refusal.

A server that wants a client certificate says so in the handshake (a CertificateRequest)
and refuses a client without one in one of three ways:

- a TLS alert during the handshake: TLS 1.2 servers send ``handshake_failure`` (OpenSSL)
  or ``bad_certificate`` (Go) after the client's empty Certificate message;
- a TLS alert *after* it: in TLS 1.3 the client's handshake is over once it sent its
  Finished, so the server's ``certificate_required`` (RFC 8446 section 4.4.2.4) arrives
  at the first read, where it fails the request rather than the dial;
- an HTTP response: nginx with ``ssl_verify_client on`` completes the handshake and
  answers every request ``400 No required SSL certificate was sent``.

Some servers close the connection instead, their alert unsent (asyncio's does): after a
CertificateRequest the client did not answer, that close is the refusal too.

A ``handshake_failure`` alone could mean anything (no shared cipher, no shared group),
so the alert is read as a refusal only when the server asked for a certificate.  Python's
``ssl`` has no API for that; the context's message callback (``_msg_callback``, the
hook CPython's own TLS debugging uses) sees the CertificateRequest.  It is private, so it
is used when present and not relied on: without it, only the unambiguous alerts count.
"""

from __future__ import annotations

import re
import ssl
import weakref
from typing import Any, Final

CLIENT_CERT_REQUIRED: Final = "the server requires a client certificate"
# A server that asked for a certificate, got none, and closed without an alert (asyncio's
# TLS server drops the connection with its alert unsent).
CLOSED_WITHOUT_ONE: Final = (
    f"{CLIENT_CERT_REQUIRED} (it asked for one in the handshake and closed the "
    "connection when none was sent)"
)

# OpenSSL's reason codes for the alerts a server sends about the client's certificate,
# and the alert's name in RFC 8446 section 6.
_ALERTS: Final[dict[str, str]] = {
    "TLSV13_ALERT_CERTIFICATE_REQUIRED": "certificate_required",
    "SSLV3_ALERT_BAD_CERTIFICATE": "bad_certificate",
    "SSLV3_ALERT_HANDSHAKE_FAILURE": "handshake_failure",
    "SSLV3_ALERT_UNSUPPORTED_CERTIFICATE": "unsupported_certificate",
    "SSLV3_ALERT_CERTIFICATE_REVOKED": "certificate_revoked",
    "SSLV3_ALERT_CERTIFICATE_EXPIRED": "certificate_expired",
    "SSLV3_ALERT_CERTIFICATE_UNKNOWN": "certificate_unknown",
    "TLSV1_ALERT_UNKNOWN_CA": "unknown_ca",
    "TLSV1_ALERT_ACCESS_DENIED": "access_denied",
}
# Alerts that name the client's certificate even when the server's request went unseen:
# with no certificate sent, nothing else can be "bad" or "required".
_ALWAYS_ABOUT_THE_CLIENT: Final = frozenset(
    {"TLSV13_ALERT_CERTIFICATE_REQUIRED", "SSLV3_ALERT_BAD_CERTIFICATE"}
)

# nginx's pages for ssl_verify_client (ngx_http_request.c): no certificate, and one it
# could not verify.
_NO_CERT_PAGE: Final = re.compile(rb"No required SSL certificate was sent", re.IGNORECASE)
_BAD_CERT_PAGE: Final = re.compile(rb"The SSL certificate error", re.IGNORECASE)

# TLS content type 22 (handshake), message type 13 (CertificateRequest), RFC 8446 B.3.
_HANDSHAKE: Final = 22
_CERTIFICATE_REQUEST: Final = 13

# The handshakes (SSLObjects) in which the server asked for a certificate.
_asked: weakref.WeakSet[Any] = weakref.WeakSet()
_watching: weakref.WeakSet[ssl.SSLContext] = weakref.WeakSet()


def _on_message(
    conn: Any, direction: str, version: int, content_type: int, msg_type: int, data: bytes
) -> None:
    if content_type == _HANDSHAKE and msg_type == _CERTIFICATE_REQUEST and direction == "read":
        _asked.add(conn)


def watch_requests(ctx: ssl.SSLContext) -> None:
    """Note the handshakes of ``ctx`` in which the server asks for a client certificate.

    Set through the C-level attribute, not ``SSLContext._msg_callback``'s Python setter,
    which wraps every call in enum conversions: the callback runs for each TLS record
    header too, so it must cost next to nothing (~0.3 µs a record).
    """
    hook = getattr(getattr(ssl, "_ssl", None), "_SSLContext", None)
    slot = getattr(hook, "_msg_callback", None)
    if slot is None or not hasattr(slot, "__set__"):
        return
    try:
        slot.__set__(ctx, _on_message)
    except (AttributeError, TypeError, ValueError):  # the private hook changed shape
        return
    _watching.add(ctx)


def requested(sslobj: ssl.SSLObject) -> bool | None:
    """Whether the server asked for a client certificate in ``sslobj``'s handshake;
    None when it cannot be known (the interpreter lacks the hook)."""
    if sslobj.context not in _watching:
        return None
    return sslobj in _asked


def refusal(exc: BaseException, asked: bool | None, sent: bool) -> str | None:
    """The one line for a TLS alert about the client's certificate, or None.

    ``asked``: the server sent a CertificateRequest (None: unknown); ``sent``: a client
    certificate was configured to answer it.
    """
    reason = getattr(exc, "reason", None)
    if asked and not sent and isinstance(exc, ConnectionError):
        return CLOSED_WITHOUT_ONE
    if not isinstance(exc, ssl.SSLError) or not isinstance(reason, str):
        return None
    alert = _ALERTS.get(reason)
    if alert is None or asked is False:
        return None
    if not asked and reason not in _ALWAYS_ABOUT_THE_CLIENT:
        return None
    if sent:
        return f"the server refused the client certificate (TLS alert {alert})"
    return f"{CLIENT_CERT_REQUIRED} (TLS alert {alert})"


def refusal_page(status: int, head: bytes | bytearray | None) -> str | None:
    """The one line for an error page that refuses the client's certificate (nginx's
    ``ssl_verify_client``), or None."""
    if status != 400 or not head:
        return None
    if _NO_CERT_PAGE.search(head):
        return f"{CLIENT_CERT_REQUIRED} (it answered 400 No required SSL certificate was sent)"
    if _BAD_CERT_PAGE.search(head):
        return (
            "the server refused the client certificate (it answered 400 The SSL certificate error)"
        )
    return None


# -- loading and checking ----------------------------------------------------------------


class _Encrypted(Exception):
    pass


def _no_passphrase() -> bytes:
    # OpenSSL would otherwise prompt on the terminal for an encrypted key.
    raise _Encrypted


_CERT_BLOCK: Final = re.compile(rb"-----BEGIN CERTIFICATE-----")
_KEY_BLOCK: Final = re.compile(rb"-----BEGIN (?:[A-Z0-9]+ )?PRIVATE KEY-----")
_ENCRYPTED: Final = re.compile(rb"-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type: 4,ENCRYPTED")


def load(ctx: ssl.SSLContext, cert: str, key: str | None) -> None:
    """Load the certificate chain and key into ``ctx`` (never prompting for a passphrase);
    ValueError with one line otherwise (``check`` says which line)."""
    try:
        ctx.load_cert_chain(cert, key, password=_no_passphrase)
    except _Encrypted:
        raise ValueError(_encrypted(key or cert)) from None
    except ssl.SSLError as exc:
        if "KEY_VALUES_MISMATCH" in str(exc):
            raise ValueError(
                f"the private key in {key or cert!r} does not match the certificate in {cert!r}"
            ) from None
        raise ValueError(
            f"cannot load the client certificate {cert!r}: {exc.reason or exc}"
        ) from None
    except OSError as exc:
        raise ValueError(f"cannot read {cert!r}: {exc.strerror or exc}") from None


def _encrypted(path: str) -> str:
    return (
        f"the private key in {path!r} is encrypted and reusecheck does not ask for "
        "passphrases: decrypt it (openssl pkey -in KEY -out PLAIN.pem)"
    )


def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read(1 << 20)  # a certificate chain and a key: far less than 1 MiB
    except IsADirectoryError:
        raise ValueError(f"{path!r} is a directory, not a file") from None
    except (OSError, ValueError) as exc:
        why = exc.strerror if isinstance(exc, OSError) else "not a valid path"
        raise ValueError(f"cannot read {path!r}: {why}") from None


def check(cert: str, key: str | None = None) -> None:
    """ValueError, one line and never the files' contents, unless ``cert`` holds a PEM
    certificate and ``key`` (or ``cert``, as curl reads a combined file) the matching,
    unencrypted PEM private key."""
    cert_pem = _read(cert)
    if not _CERT_BLOCK.search(cert_pem):
        raise ValueError(f"{cert!r} holds no PEM certificate (-----BEGIN CERTIFICATE-----)")
    key_pem = cert_pem if key is None else _read(key)
    if not _KEY_BLOCK.search(key_pem):
        if key is None:
            raise ValueError(f"{cert!r} holds no private key: give the key with --key FILE")
        raise ValueError(f"{key!r} holds no PEM private key (-----BEGIN PRIVATE KEY-----)")
    if _ENCRYPTED.search(key_pem):
        raise ValueError(_encrypted(key or cert))
    load(ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT), cert, key)
