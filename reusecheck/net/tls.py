"""Client TLS contexts and what a handshake negotiated.

Contexts are cached per option set: building one loads the system trust store, which
costs milliseconds that would otherwise be charged to the first connection's timing.

Client certificates (``--cert``/``--key``, curl's spelling) are loaded into the context;
whether a server asked for one (a CertificateRequest in the handshake) comes from
``client_certs.py``, which tells a server that refuses a client without a certificate
from any other failed handshake.
"""

from __future__ import annotations

import functools
import ssl
from dataclasses import dataclass

from reusecheck.net import client_certs


@dataclass(frozen=True, slots=True)
class TLSOptions:
    cacert: str | None = None
    insecure: bool = False
    alpn: tuple[str, ...] = ("http/1.1",)
    # A client certificate (PEM) and its key (PEM; None: in the certificate's file).
    cert: str | None = None
    key: str | None = None


@dataclass(frozen=True, slots=True)
class TLSInfo:
    version: str | None
    cipher: str | None
    alpn: str | None
    resumed: bool
    # The server sent a CertificateRequest in this handshake (None: not known, the
    # interpreter cannot tell); a client certificate was configured to answer it.
    client_cert_requested: bool | None = None
    client_cert: bool = False

    def to_dict(self) -> dict[str, object]:
        done: dict[str, object] = {
            "version": self.version,
            "cipher": self.cipher,
            "alpn": self.alpn,
            "resumed": self.resumed,
        }
        if self.client_cert_requested is not None:
            done["client_cert_requested"] = self.client_cert_requested
        return done


@functools.lru_cache(maxsize=16)
def client_context(options: TLSOptions) -> ssl.SSLContext:
    """Verification on by default (certificate chain and host name), as a client should."""
    ctx = ssl.create_default_context(cafile=options.cacert)
    if options.insecure:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if options.alpn:
        ctx.set_alpn_protocols(list(options.alpn))
    if options.cert is not None:
        client_certs.load(ctx, options.cert, options.key)
    client_certs.watch_requests(ctx)
    return ctx


def check_cafile(path: str) -> None:
    """ValueError unless ``path`` holds at least one PEM certificate to trust: a key or
    an empty file would otherwise fail every handshake later, as if the server had."""
    try:
        ssl.create_default_context(cafile=path)
    except ssl.SSLError as exc:
        why = exc.reason or str(exc)
        raise ValueError(f"{path!r} holds no PEM certificate to trust ({why})") from None
    except (OSError, ValueError) as exc:
        why = (exc.strerror or str(exc)) if isinstance(exc, OSError) else "not a valid path"
        raise ValueError(f"cannot read {path!r}: {why}") from None


def info(sslobj: ssl.SSLObject, client_cert: bool = False) -> TLSInfo:
    cipher = sslobj.cipher()
    return TLSInfo(
        version=sslobj.version(),
        cipher=cipher[0] if cipher else None,
        alpn=sslobj.selected_alpn_protocol(),
        resumed=sslobj.session_reused,
        client_cert_requested=client_certs.requested(sslobj),
        client_cert=client_cert,
    )


def describe_error(
    exc: BaseException, sslobj: ssl.SSLObject | None = None, client_cert: bool = False
) -> str:
    """One line a user can act on, from OpenSSL's often long-winded errors.

    ``sslobj`` (the connection's) and ``client_cert`` (one was configured) let an alert
    about the client's certificate say so: "the server requires a client certificate".
    """
    asked = client_certs.requested(sslobj) if sslobj is not None else None
    refusal = client_certs.refusal(exc, asked, client_cert)
    if refusal is not None:
        return refusal
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"certificate verification failed: {exc.verify_message or exc.reason}"
    if isinstance(exc, ssl.SSLError):
        return f"TLS handshake failed: {exc.reason or exc}"
    return f"TLS handshake failed: {exc}"
