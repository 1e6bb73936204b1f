"""What to send: a parsed URL, its pool key, and the request line and headers as bytes.

Headers are encoded once when the request is built, not per attempt, because a probe
sends the same request many times and every allocation on that path shows up in the
measured latency.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit

from reusecheck import __version__
from reusecheck.net.dial import ConnectionKey

USER_AGENT = f"reusecheck/{__version__}"
_DEFAULT_PORTS = {"http": 80, "https": 443}
# Go's Request.isReplayable: only these are retried after a stale connection fails.
_REPLAYABLE = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


class URLError(ValueError):
    """A URL reusecheck cannot probe; the message is one line for the user."""


def parse_url(url: str) -> tuple[ConnectionKey, str, str]:
    """(pool key, request target, Host header value) for an http(s) URL."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise URLError(f"malformed URL {url!r}: {exc}") from None
    scheme = parts.scheme.lower()
    if not scheme:
        raise URLError(f"URL {url!r} has no scheme: use http:// or https://")
    if scheme not in _DEFAULT_PORTS:
        raise URLError(f"unsupported scheme {scheme!r} in {url!r}: use http:// or https://")
    host = parts.hostname
    if not host:
        raise URLError(f"URL {url!r} has no host")
    if port is None:
        port = _DEFAULT_PORTS[scheme]
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    host_header = f"[{host}]" if ":" in host else host
    if parts.port is not None and port != _DEFAULT_PORTS[scheme]:
        host_header += f":{port}"
    return ConnectionKey(scheme, host, port), target, host_header


def parse_header(text: str) -> tuple[str, str]:
    """``'Name: value'`` as given to ``-H``; raises ValueError with a one-line reason."""
    name, sep, value = text.partition(":")
    name = name.strip()
    if not sep or not name:
        raise ValueError(f"header {text!r} is not of the form 'Name: value'")
    if any(c in name for c in ' \t\r\n()<>@,;\\"/[]?={}') or not name.isascii():
        raise ValueError(f"header name {name!r} is not a valid HTTP token")
    value = value.strip()
    if "\r" in value or "\n" in value or "\0" in value:
        raise ValueError(f"header {name!r} has a line break or NUL in its value")
    return name, value


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
        if "user-agent" not in names:
            hdrs.append(("User-Agent", USER_AGENT))
        if "accept" not in names:
            hdrs.append(("Accept", "*/*"))
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
