"""Client TLS contexts and what a handshake negotiated.

Contexts are cached per option set: building one loads the system trust store, which
costs milliseconds that would otherwise be charged to the first connection's timing.
"""

from __future__ import annotations

import functools
import ssl
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class TLSOptions:
    cacert: str | None = None
    insecure: bool = False
    alpn: tuple[str, ...] = ("http/1.1",)


@dataclass(frozen=True, slots=True)
class TLSInfo:
    version: str | None
    cipher: str | None
    alpn: str | None
    resumed: bool

    def to_dict(self) -> dict[str, object]:
        return {
            "version": self.version,
            "cipher": self.cipher,
            "alpn": self.alpn,
            "resumed": self.resumed,
        }


@functools.lru_cache(maxsize=16)
def client_context(options: TLSOptions) -> ssl.SSLContext:
    """Verification on by default (certificate chain and host name), as a client should."""
    ctx = ssl.create_default_context(cafile=options.cacert)
    if options.insecure:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if options.alpn:
        ctx.set_alpn_protocols(list(options.alpn))
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


def info(sslobj: ssl.SSLObject) -> TLSInfo:
    cipher = sslobj.cipher()
    return TLSInfo(
        version=sslobj.version(),
        cipher=cipher[0] if cipher else None,
        alpn=sslobj.selected_alpn_protocol(),
        resumed=sslobj.session_reused,
    )


def describe_error(exc: BaseException) -> str:
    """One line a user can act on, from OpenSSL's often long-winded errors."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"certificate verification failed: {exc.verify_message or exc.reason}"
    if isinstance(exc, ssl.SSLError):
        return f"TLS handshake failed: {exc.reason or exc}"
    return f"TLS handshake failed: {exc}"
