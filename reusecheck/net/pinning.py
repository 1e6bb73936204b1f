"""``--resolve`` and ``--connect-to``: where a dial goes instead of where DNS says.

Sans-IO.  Both are curl's options, read as curl reads them:

- ``--resolve [+|-]HOST:PORT:ADDR[,ADDR]...``: requests to HOST on PORT dial these
  addresses (IPv4, or IPv6 with or without brackets) instead of resolving HOST; ``*``
  as HOST matches every name, after the entries that name one; a leading ``+`` (an
  entry that expires in curl's DNS cache) is accepted and changes nothing here, where
  nothing is cached; ``-HOST:PORT`` removes the earlier entries for that pair.  With
  ``-4``/``-6`` only the addresses of that family are dialled (``net.dial.resolve``).
- ``--connect-to HOST:PORT:CONNECT-TO-HOST:CONNECT-TO-PORT``: a request to HOST:PORT
  connects to the other pair; an empty HOST or PORT matches any, an empty
  CONNECT-TO-HOST or CONNECT-TO-PORT keeps the request's.  The first entry that
  matches wins.  The connect-to host is then resolved (``--resolve`` applies to it).

Neither changes the URL's host anywhere else: TLS SNI and certificate verification,
``Host``/``:authority`` and the pool key stay the URL's, as in curl.  Through a proxy,
``--connect-to`` changes the ``CONNECT`` request's target (curl's tunnel does too),
and ``--resolve`` applies to the proxy's own name.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Final

WILDCARD: Final = "*"


def _port(text: str, what: str, entry: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise ValueError(f"{entry!r}: {what} {text!r} is not a port (1-65535)")
    return int(text)


def _take_host(text: str, entry: str) -> tuple[str, str]:
    """(host, rest after its ':') from ``host:rest`` or ``[ipv6]:rest``."""
    if text.startswith("["):
        inside, bracket, rest = text[1:].partition("]")
        if not bracket or not rest.startswith(":"):
            raise ValueError(f"{entry!r}: an IPv6 address in [brackets] must be followed by :")
        _ip(inside, entry)
        return inside, rest[1:]
    host, colon, rest = text.partition(":")
    if not colon:
        raise ValueError(f"{entry!r} has too few fields")
    return host, rest


def _ip(text: str, entry: str) -> str:
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise ValueError(f"{entry!r}: {text!r} is not an IP address") from None


def _name(host: str) -> str:
    return host.lower().rstrip(".") if host != WILDCARD else host


@dataclass(frozen=True, slots=True)
class ResolveEntry:
    host: str  # lower case, or "*"
    port: int
    addrs: tuple[str, ...]  # empty: a removal ("-HOST:PORT")

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        if not self.addrs:
            return f"-{host}:{self.port}"
        shown = ",".join(f"[{a}]" if ":" in a else a for a in self.addrs)
        return f"{host}:{self.port}:{shown}"


def parse_resolve(text: str) -> ResolveEntry:
    """One ``--resolve`` value; ValueError with a one-line reason."""
    entry = text.strip()
    body = entry[1:] if entry[:1] in ("+", "-") else entry
    host, rest = _take_host(body, entry)
    if not host:
        raise ValueError(f"{entry!r} has no host (HOST:PORT:ADDR[,ADDR])")
    if entry.startswith("-"):
        return ResolveEntry(_name(host), _port(rest, "port", entry), ())
    digits, colon, addrs = rest.partition(":")
    if not colon:
        raise ValueError(f"{entry!r} is not HOST:PORT:ADDR[,ADDR]")
    port = _port(digits, "port", entry)
    found = []
    for raw in addrs.split(","):
        a = raw.strip()
        if a.startswith("[") and a.endswith("]"):
            a = a[1:-1]
        if not a:
            raise ValueError(f"{entry!r} has an empty address")
        found.append(_ip(a, entry))
    return ResolveEntry(_name(host), port, tuple(found))


@dataclass(frozen=True, slots=True)
class ConnectTo:
    host: str  # "" matches any
    port: int | None  # None matches any
    to_host: str  # "" keeps the request's
    to_port: int | None  # None keeps the request's

    def __str__(self) -> str:
        def h(x: str) -> str:
            return f"[{x}]" if ":" in x else x

        def p(x: int | None) -> str:
            return "" if x is None else str(x)

        return f"{h(self.host)}:{p(self.port)}:{h(self.to_host)}:{p(self.to_port)}"


def parse_connect_to(text: str) -> ConnectTo:
    """One ``--connect-to`` value; ValueError with a one-line reason."""
    entry = text.strip()
    host, rest = _take_host(entry, entry)
    port_text, colon, rest = rest.partition(":")
    if not colon:
        raise ValueError(f"{entry!r} is not HOST:PORT:CONNECT-TO-HOST:CONNECT-TO-PORT")
    to_host, to_port_text = _take_host(rest, entry) if rest else ("", "")
    if ":" in to_port_text:
        raise ValueError(f"{entry!r} has too many fields (an IPv6 address needs [brackets])")
    port = _port(port_text, "port", entry) if port_text else None
    to_port = _port(to_port_text, "connect-to port", entry) if to_port_text else None
    return ConnectTo(_name(host), port, _name(to_host), to_port)


@dataclass(frozen=True, slots=True)
class Pins:
    """The run's ``--resolve`` and ``--connect-to`` entries, in the order given."""

    resolve: tuple[ResolveEntry, ...] = ()
    connect_to: tuple[ConnectTo, ...] = ()

    def destination(self, host: str, port: int) -> tuple[str, int]:
        """Where a dial for ``host:port`` connects (the first ``--connect-to`` that
        matches, else the pair itself)."""
        name = _name(host)
        for c in self.connect_to:
            if c.host in ("", name) and c.port in (None, port):
                return (c.to_host or host, c.to_port if c.to_port is not None else port)
        return host, port

    def addresses(self, host: str, port: int) -> tuple[str, ...] | None:
        """The addresses ``--resolve`` gives ``host:port`` (a named entry before ``*``;
        a later ``-HOST:PORT`` removes an earlier entry), or None: resolve it."""
        named: tuple[str, ...] | None = None
        wildcard: tuple[str, ...] | None = None
        name = _name(host)
        for e in self.resolve:
            if e.port != port:
                continue
            if e.host == name:
                named = e.addrs or None
            elif e.host == WILDCARD:
                wildcard = e.addrs or None
        return named if named is not None else wildcard

    def __bool__(self) -> bool:
        return bool(self.resolve or self.connect_to)
