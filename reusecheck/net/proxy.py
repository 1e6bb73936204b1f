"""Which proxy a request goes through: the proxy URL, NO_PROXY and the environment.

Sans-IO.  The rules are Go's (``golang.org/x/net/http/httpproxy``, which
``net/http.ProxyFromEnvironment`` uses), with curl's additions where curl's options
are spelt:

- ``HTTPS_PROXY`` for ``https://`` targets, ``HTTP_PROXY`` for ``http://``; each read
  upper-case first, then lower-case (Go's ``getEnvAny``: the upper-case one wins when
  both are set; curl reads ``http_proxy`` only in lower case and prefers lower case).
- ``ALL_PROXY`` (then ``all_proxy``) when the scheme's own variable is unset: curl's
  fallback; Go's Transport does not read it.
- ``NO_PROXY`` (then ``no_proxy``): comma-separated IP addresses, CIDR prefixes and
  domain names, each optionally with ``:port``; ``example.com`` matches the name and
  its subdomains, ``.example.com`` and ``*.example.com`` subdomains only; ``*`` alone
  turns proxying off.  Go's matchers, entry for entry; malformed entries are ignored.
- ``localhost`` and loopback addresses never go through a proxy taken from the
  environment (Go's ``useProxy``); one given with ``--proxy`` is used for them too,
  as curl does, unless ``--noproxy`` names them.
- A value without a scheme is ``http://``; a proxy without a port listens on its
  scheme's (80, 443: Go's ``canonicalAddr``; curl assumes 1080).
- Under CGI (``REQUEST_METHOD`` set) ``HTTP_PROXY`` is refused: a client could set it
  with a ``Proxy:`` request header (golang.org/s/cgihttpproxy, httpoxy).
"""

from __future__ import annotations

import base64
import contextlib
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final
from urllib.parse import unquote, urlsplit

from reusecheck.trace.redact import REDACTED

PROXY_SCHEMES: Final = {"http": 80, "https": 443}
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def _host(text: str) -> str:
    """A host as compared and dialled: lower case, IPv6 without brackets, IDNA A-labels."""
    host = text.strip().strip("[]").lower()
    if host.isascii():
        return host
    # A NO_PROXY suffix starts with a dot, an empty label the codec refuses: convert
    # the name after it, as the URL's host was (``request._ascii_host``).
    dot = "." if host.startswith(".") else ""
    try:
        return dot + host.removeprefix(".").encode("idna").decode("ascii").lower()
    except UnicodeError:
        return host


def _ip(host: str) -> IPAddress | None:
    """The address ``host`` spells, an IPv4-mapped IPv6 one as its IPv4 address (Go's
    ``net.IP`` compares, matches CIDRs and checks loopback so: ``::ffff:127.0.0.1`` is
    loopback and matches ``127.0.0.0/8``)."""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def authority(host: str, port: int) -> str:
    """``host:port``, IPv6 bracketed (Go's ``net.JoinHostPort``)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


@dataclass(frozen=True, slots=True)
class Proxy:
    """One proxy: where it listens, its credentials, and where it was configured.

    ``shown`` is what every output prints: the URL with its password redacted.  The
    password itself only ever becomes a ``Proxy-Authorization`` header, which the
    trace redacts on output too.
    """

    scheme: str  # "http" or "https" (TLS to the proxy itself)
    host: str
    port: int
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    source: str = "--proxy"  # the option, variable or scenario key it came from

    @property
    def origin(self) -> str:
        return f"{self.scheme}://{authority(self.host, self.port)}"

    @property
    def shown(self) -> str:
        if self.username is None:
            return self.origin
        secret = f":{REDACTED}" if self.password is not None else ""
        return f"{self.scheme}://{self.username}{secret}@{authority(self.host, self.port)}"

    def authorization(self) -> str | None:
        """``Basic ...`` from the URL's userinfo (Go sends it on CONNECT and on requests
        forwarded to the proxy), or None."""
        if self.username is None:
            return None
        pair = f"{self.username}:{self.password or ''}"
        return "Basic " + base64.b64encode(pair.encode("utf-8")).decode("ascii")


def _shown(text: str) -> str:
    """A proxy URL as an error message may quote it: without its password."""
    head, at, tail = text.rpartition("@")
    if not at:
        return text
    scheme, sep, userinfo = head.rpartition("://")
    user = userinfo.split(":", 1)[0]
    redacted = f"{user}:{REDACTED}" if ":" in userinfo else user
    return f"{scheme}{sep}{redacted}@{tail}"


def parse_proxy(text: str, source: str = "--proxy") -> Proxy:
    """A proxy URL (``[http[s]://][user:password@]host[:port]``); ValueError with a
    one-line reason that never quotes the password."""
    value = text.strip()
    shown = _shown(value)
    if any(c.isspace() or not c.isprintable() for c in value):
        raise ValueError(f"proxy {shown!r} has a space or a control character")
    if "://" not in value:
        value = "http://" + value  # Go's parseProxy and curl both assume http://
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError as exc:
        # urlsplit's reason may quote a piece of the password (a '/' or '#' in it ends
        # the authority early: "Port could not be cast to integer value as 'pa'").
        reason = f": {exc}" if "@" not in value else " (percent-encode /, ?, # and @ in a password)"
        raise ValueError(f"proxy {shown!r} is not a URL{reason}") from None
    scheme = parts.scheme.lower()
    if scheme not in PROXY_SCHEMES:
        raise ValueError(
            f"proxy {shown!r}: {scheme}:// proxies are not supported; give an http:// or "
            "https:// proxy"
        )
    if not parts.hostname:
        raise ValueError(f"proxy {shown!r} has no host")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(f"proxy {shown!r}: a proxy URL has no path or query")
    username = unquote(parts.username) if parts.username is not None else None
    password = unquote(parts.password) if parts.password is not None else None
    return Proxy(
        scheme,
        _host(parts.hostname),
        port if port is not None else PROXY_SCHEMES[scheme],
        username,
        password,
        source,
    )


# --- NO_PROXY ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NoProxy:
    """A parsed ``NO_PROXY`` list (or curl's ``--noproxy``): Go's matchers."""

    text: str = ""
    everything: bool = False  # "*"
    networks: tuple[IPNetwork, ...] = ()  # CIDR entries: any port
    addresses: tuple[tuple[IPAddress, int | None], ...] = ()  # an IP, optionally a port
    # (".example.com", port or None, whether "example.com" itself matches too)
    domains: tuple[tuple[str, int | None, bool], ...] = ()

    def matches(self, host: str, port: int) -> bool:
        """Whether a request to ``host:port`` goes direct (Go's ``useProxy``, negated,
        without its loopback rule: ``ProxyConfig`` applies that)."""
        if self.everything:
            return True
        name = _host(host)
        ip = _ip(name)
        if ip is not None:
            if any(ip in net for net in self.networks):
                return True
            if any(ip == a and p in (None, port) for a, p in self.addresses):
                return True
        for suffix, p, itself in self.domains:
            named = name.endswith(suffix) or (itself and name == suffix[1:])
            if named and p in (None, port):
                return True
        return False


def _port(text: str) -> int | None:
    return int(text) if text.isdigit() and 0 < int(text) < 65536 else None


def parse_no_proxy(text: str) -> NoProxy:
    """Go's ``config.init``, entry by entry: ``*``, CIDR, ``ip[:port]``, ``[ipv6]:port``,
    ``name[:port]``, ``.name``, ``*.name``.  What cannot be read is skipped, as in Go."""
    networks: list[IPNetwork] = []
    addresses: list[tuple[IPAddress, int | None]] = []
    domains: list[tuple[str, int | None, bool]] = []
    for raw in text.split(","):
        entry = raw.strip().lower()
        if not entry:
            continue
        if entry == "*":
            return NoProxy(text, everything=True)
        if "/" in entry:
            with contextlib.suppress(ValueError):  # Go skips what it cannot parse
                networks.append(ipaddress.ip_network(entry, strict=False))
            continue
        host, port = entry, None
        if entry.startswith("["):
            inside, _, rest = entry[1:].partition("]")
            host = inside
            if rest.startswith(":"):
                port = _port(rest[1:])
                if port is None:
                    continue
        elif entry.count(":") == 1:
            host, _, digits = entry.partition(":")
            port = _port(digits)
            if port is None or not host:
                continue
        ip = _ip(host)
        if ip is not None:
            addresses.append((ip, port))
            continue
        if not host or ":" in host:
            continue
        if host.startswith("*."):
            host = host[1:]
        itself = not host.startswith(".")
        domains.append((_host(host if not itself else "." + host), port, itself))
    return NoProxy(text, False, tuple(networks), tuple(addresses), tuple(domains))


# --- which proxy for which request ---------------------------------------------------------


def is_loopback(host: str) -> bool:
    """``localhost`` or a loopback address: Go never sends them to an environment proxy."""
    name = _host(host)
    if name == "localhost":
        return True
    ip = _ip(name)
    return ip is not None and ip.is_loopback


@dataclass(frozen=True, slots=True)
class ProxyConfig:
    """The proxies of a run: per target scheme, with the hosts that go direct."""

    http: Proxy | None = None
    https: Proxy | None = None
    no_proxy: NoProxy = field(default_factory=NoProxy)
    # Given on the command line or in a scenario (not the environment): loopback
    # targets are proxied too, as curl's -x does.  Without proxies, an explicit none
    # (--proxy ""): the environment's are not read.
    explicit: bool = False

    def for_target(self, scheme: str, host: str, port: int) -> Proxy | None:
        """The proxy a request to ``scheme://host:port`` goes through, or None."""
        proxy = self.https if scheme == "https" else self.http
        if proxy is None:
            return None
        if not self.explicit and is_loopback(host):
            return None
        if self.no_proxy.matches(host, port):
            return None
        return proxy

    @property
    def any(self) -> bool:
        return self.http is not None or self.https is not None


NO_PROXY_CONFIG: Final = ProxyConfig()

# (target scheme, the variables read for it, in Go's order), then curl's fallback.
_VARIABLES: Final = (
    ("http", ("HTTP_PROXY", "http_proxy")),
    ("https", ("HTTPS_PROXY", "https_proxy")),
)
_FALLBACK: Final = ("ALL_PROXY", "all_proxy")
_NO_PROXY_VARIABLES: Final = ("NO_PROXY", "no_proxy")


def _first(env: Mapping[str, str], names: tuple[str, ...]) -> tuple[str, str] | None:
    """Go's ``getEnvAny``: the first variable set to something not empty."""
    for name in names:
        value = env.get(name, "")
        if value:
            return name, value
    return None


def from_environment(env: Mapping[str, str], no_proxy: str | None = None) -> ProxyConfig:
    """The proxies the environment names (``no_proxy``: ``--noproxy``, replacing the
    variables).  ValueError, naming the variable, for a value that is not a proxy URL:
    Go ignores such a value silently, a diagnostic should not."""
    found: dict[str, Proxy | None] = {}
    for scheme, names in _VARIABLES:
        hit = _first(env, names) or _first(env, _FALLBACK)
        if hit is None:
            found[scheme] = None
            continue
        name, value = hit
        if scheme == "http" and name in names and env.get("REQUEST_METHOD"):
            raise ValueError(
                f"refusing {name} in a CGI environment (REQUEST_METHOD is set): a client "
                "can set it with a Proxy header (golang.org/s/cgihttpproxy); give --proxy"
            )
        try:
            found[scheme] = parse_proxy(value, name)
        except ValueError as exc:
            raise ValueError(f"{name}: {exc}") from None
    if no_proxy is None:
        hit = _first(env, _NO_PROXY_VARIABLES)
        no_proxy = hit[1] if hit is not None else ""
    return ProxyConfig(found["http"], found["https"], parse_no_proxy(no_proxy))


def explicit_proxy(url: str, no_proxy: str | None, env: Mapping[str, str]) -> ProxyConfig:
    """``--proxy URL`` (curl's ``-x``): for every target scheme, overriding the
    environment's proxies; ``--proxy ""`` is none at all (an explicit none: the
    environment is not read either).  ``NO_PROXY`` still applies unless ``--noproxy``
    replaces it (curl)."""
    if not url.strip():
        return ProxyConfig(explicit=True)
    proxy = parse_proxy(url)
    if no_proxy is None:
        hit = _first(env, _NO_PROXY_VARIABLES)
        no_proxy = hit[1] if hit is not None else ""
    return ProxyConfig(proxy, proxy, parse_no_proxy(no_proxy), explicit=True)
