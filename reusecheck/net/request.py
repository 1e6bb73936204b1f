"""What to send: a parsed URL, its pool key, and the request line and headers as bytes.

Headers are encoded once when the request is built, not per attempt, because a probe
sends the same request many times and every allocation on that path shows up in the
measured latency.
"""

from __future__ import annotations

import base64
import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final
from urllib.parse import quote, unquote, urlsplit

from reusecheck import __version__
from reusecheck.net.dial import ConnectionKey
from reusecheck.trace.redact import redact_url

USER_AGENT = f"reusecheck/{__version__}"
_DEFAULT_PORTS = {"http": 80, "https": 443}
# Go's Request.isReplayable: only these are retried after a stale connection fails.
_REPLAYABLE = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


# RFC 9110 section 5.6.2: header names and methods are tokens.
TOKEN: Final = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
# What a request target keeps as it is: printable ASCII (an existing %XX included);
# anything else (non-ASCII) is percent-encoded as UTF-8, as curl and Go send it.
_TARGET_SAFE: Final = "".join(chr(c) for c in range(0x21, 0x7F))


class URLError(ValueError):
    """A URL reusecheck cannot probe; the message is one line for the user, with the
    URL's secrets redacted."""


def _ascii_host(host: str, shown: str) -> str:
    """The host as it goes on the wire: IDNA A-labels (``bücher.example`` ->
    ``xn--bcher-kva.example``), as Go and curl send it; IP literals as they are."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return host
    try:
        return host.encode("idna").decode("ascii").lower()
    except UnicodeError as exc:
        why = str(exc).rsplit("(", 1)[-1].rstrip(")") if "(" in str(exc) else str(exc)
        raise URLError(f"host {host!r} in {shown!r} is not a valid domain name: {why}") from None


def parse_url(url: str) -> tuple[ConnectionKey, str, str]:
    """(pool key, request target, Host header value) for an http(s) URL.

    The host goes out as IDNA A-labels and the path and query percent-encoded; a URL
    with a space or a control character is refused (curl and Go refuse it too).
    """
    shown = redact_url(url)
    if any(c.isspace() or not c.isprintable() for c in url):
        raise URLError(f"URL {shown!r} has a space or a control character: percent-encode it (%20)")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise URLError(f"malformed URL {shown!r}: {exc}") from None
    scheme = parts.scheme.lower()
    if not scheme:
        raise URLError(f"URL {shown!r} has no scheme: use http:// or https://")
    if scheme not in _DEFAULT_PORTS:
        raise URLError(f"unsupported scheme {scheme!r} in {shown!r}: use http:// or https://")
    if not parts.hostname:
        raise URLError(f"URL {shown!r} has no host")
    host = _ascii_host(parts.hostname, shown)
    if port is None:
        port = _DEFAULT_PORTS[scheme]
    target = quote(parts.path or "/", safe=_TARGET_SAFE)
    if parts.query:
        target += "?" + quote(parts.query, safe=_TARGET_SAFE)
    host_header = f"[{host}]" if ":" in host else host
    if parts.port is not None and port != _DEFAULT_PORTS[scheme]:
        host_header += f":{port}"
    return ConnectionKey(scheme, host, port), target, host_header


def basic_credentials(url: str) -> str | None:
    """``Basic ...`` from the URL's userinfo, as curl and Go send it (unless the request
    has an Authorization header of its own), or None."""
    parts = urlsplit(url)
    if parts.username is None:
        return None
    pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
    return "Basic " + base64.b64encode(pair.encode("utf-8")).decode("ascii")


def check_method(method: str) -> str:
    """The method upper-cased, or ValueError: it must be an HTTP token."""
    if not TOKEN.fullmatch(method):
        raise ValueError(f"{method!r} is not an HTTP method (a token: no spaces)")
    return method.upper()


def parse_header(text: str) -> tuple[str, str]:
    """``'Name: value'`` as given to ``-H``; raises ValueError with a one-line reason."""
    name, sep, value = text.partition(":")
    name = name.strip()
    if not sep or not name:
        raise ValueError(f"header {text!r} is not of the form 'Name: value'")
    if not TOKEN.fullmatch(name):
        raise ValueError(f"header name {name!r} is not a valid HTTP token")
    value = value.strip()
    if "\r" in value or "\n" in value or "\0" in value:
        raise ValueError(f"header {name!r} has a line break or NUL in its value")
    try:
        value.encode("latin-1")
    except UnicodeEncodeError:
        raise ValueError(
            f"header {name!r} has characters outside Latin-1 in its value, which HTTP "
            "cannot carry: percent-encode it (or RFC 8187-encode a parameter)"
        ) from None
    return name, value


def check_headers(pairs: Sequence[tuple[str, str]]) -> None:
    """A request's headers together: one Host at most (RFC 9112 section 3.2)."""
    hosts = [n for n, _ in pairs if n.lower() == "host"]
    if len(hosts) > 1:
        raise ValueError(f"{len(hosts)} Host headers given: a request has one")


@dataclass(slots=True)
class Request:
    """One request as the pool sends it, possibly many times."""

    method: str
    url: str
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes | None = None
    key: ConnectionKey = field(init=False)
    target: str = field(init=False)
    host: str = field(init=False)
    wire_headers: list[tuple[bytes, bytes]] = field(init=False)
    # The same headers for the trace (HAR, NDJSON): built once, shared by every event.
    header_pairs: list[list[str]] = field(init=False)
    # What the protocol layers build from the request once and reuse for every send
    # (HTTP/1.1: the validated h11 event, with and without Connection: close).
    wire_cache: dict[object, object] = field(init=False, repr=False, compare=False)
    # ``key`` as text (``scheme://host:port``), as get_conn carries it.
    key_text: str = field(init=False)

    def __post_init__(self) -> None:
        self.method = self.method.upper()
        self.key, self.target, self.host = parse_url(self.url)
        names = {n.lower() for n, _ in self.headers}
        hdrs: list[tuple[str, str]] = []
        if "host" not in names:
            hdrs.append(("Host", self.host))
        else:
            # Sent as the Host header on HTTP/1.1 and as :authority on HTTP/2.
            self.host = next(v for n, v in self.headers if n.lower() == "host")
        if "user-agent" not in names:
            hdrs.append(("User-Agent", USER_AGENT))
        if "accept" not in names:
            hdrs.append(("Accept", "*/*"))
        if "authorization" not in names:
            credentials = basic_credentials(self.url)
            if credentials is not None:
                hdrs.append(("Authorization", credentials))
        hdrs.extend(self.headers)
        if self.body is not None and "content-length" not in names:
            hdrs.append(("Content-Length", str(len(self.body))))
        self.wire_headers = [(n.encode("ascii"), v.encode("latin-1")) for n, v in hdrs]
        self.header_pairs = [[n, v] for n, v in hdrs]
        self.wire_cache = {}
        self.key_text = str(self.key)

    @property
    def replayable(self) -> bool:
        """May be sent again after a reused connection failed before any response byte."""
        if self.method in _REPLAYABLE:
            return True
        return any(n.lower() in ("idempotency-key", "x-idempotency-key") for n, _ in self.headers)
