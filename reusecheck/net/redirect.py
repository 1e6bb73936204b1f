"""Following redirects: Go's ``http.Client`` policy, as a plain function of the request
and the response (no I/O: the caller sends each hop as a request of its own).

What is mirrored, from net/http/client.go:

- ``redirectBehavior``: 301, 302 and 303 turn any method but GET and HEAD into GET and
  drop the body (303 is meant so; for 301 and 302 every browser and Go do it too);
  307 and 308 keep the method and resend the body, which is why the body is held as
  bytes (Go needs ``GetBody``).  Other 3xx (300, 304, 305, ...) are answers, not
  redirects, and so is a 3xx without ``Location``.
- ``defaultCheckRedirect``: at most 10 redirects, then "stopped after 10 redirects".
- ``makeHeadersCopier``: the first request's headers go to every hop, except
  ``Authorization``, ``Www-Authenticate``, ``Cookie`` and ``Cookie2`` once a hop goes to
  a host that is neither the first request's nor a subdomain of it (from then on: the
  stripping sticks, Go 1.24's fix for CVE-2024-45336); ports do not count.
- A ``Host`` header given for the first request is kept only for a relative
  ``Location`` (Go issue 22233); ``Referer`` is set to the previous URL, without its
  user info, except from https to http (``refererForURL``).
- ``Location`` is resolved against the URL of the request it answers (RFC 9110 10.2.2).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final
from urllib.parse import urljoin, urlsplit, urlunsplit

from reusecheck.net.request import Request, URLError

MAX_REDIRECTS: Final = 10  # Go's defaultCheckRedirect
REDIRECTS: Final = frozenset({301, 302, 303, 307, 308})
_TO_GET: Final = frozenset({301, 302, 303})
_SENSITIVE: Final = frozenset({"authorization", "www-authenticate", "cookie", "cookie2"})
# Set per hop from the body and the URL, never copied from the previous hop.
_PER_HOP: Final = frozenset({"content-length", "referer"})


class RedirectError(ValueError):
    """Following stopped: too many redirects, or a Location that cannot be followed."""


@dataclass(frozen=True, slots=True)
class Chain:
    """Where a chain of redirects stands: its first request (whose headers every hop
    copies), how many redirects were followed, and whether credentials were dropped."""

    first: Request
    hops: int = 0
    stripped: bool = False


def location_of(headers: Sequence[tuple[bytes, bytes]] | None) -> str | None:
    """The ``Location`` header's value (HTTP/1.1 and HTTP/2 header pairs alike)."""
    for name, value in headers or ():
        if name.lower() == b"location":
            return value.decode("latin-1").strip()
    return None


def follows(status: int | None, location: str | None) -> bool:
    """Whether the response is a redirect a client follows."""
    return status in REDIRECTS and bool(location)


def _host(url: str) -> str:
    return (urlsplit(url).hostname or "").rstrip(".").lower()


def _domain_or_subdomain(sub: str, parent: str) -> bool:
    """Go's isDomainOrSubdomain: ``sub`` is ``parent`` or ends with ``.parent``."""
    if sub == parent:
        return True
    if ":" in sub or "%" in sub:  # an IPv6 address, never a subdomain
        return False
    return sub.endswith("." + parent)


def _referer(last: str, new: str, explicit: str | None) -> str | None:
    """Go's refererForURL: none from https to http (RFC 9110 10.1.3), else the one the
    first request gave, else the previous URL without its user info and fragment."""
    before = urlsplit(last)
    if before.scheme == "https" and urlsplit(new).scheme == "http":
        return None
    if explicit:
        return explicit
    netloc = before.netloc.rpartition("@")[2]
    return urlunsplit((before.scheme, netloc, before.path, before.query, ""))


def next_hop(chain: Chain, req: Request, status: int, location: str) -> tuple[Request, Chain]:
    """The request that follows ``req``'s ``status`` response with ``location``.

    ``req`` is the hop that got the response; raises RedirectError when the chain must
    stop (the 11th redirect, a Location that is not an http(s) URL).
    """
    if chain.hops >= MAX_REDIRECTS:
        raise RedirectError(f"stopped after {MAX_REDIRECTS} redirects")
    try:
        url = urljoin(req.url, location)
    except ValueError as exc:
        raise RedirectError(f"cannot follow Location {location[:80]!r}: {exc}") from None
    url = url.partition("#")[0]
    method, body = req.method, req.body
    if status in _TO_GET and method not in ("GET", "HEAD"):
        method, body = "GET", None
    first = chain.first
    stripped = chain.stripped or not _domain_or_subdomain(_host(url), _host(first.url))
    relative = not urlsplit(location).netloc and not urlsplit(location).scheme
    headers: list[tuple[str, str]] = []
    for name, value in first.headers:
        low = name.lower()
        if low in _PER_HOP or (stripped and low in _SENSITIVE):
            continue
        if low == "host" and not relative:
            continue
        headers.append((name, value))
    explicit = next((v for n, v in first.headers if n.lower() == "referer"), None)
    referer = _referer(req.url, url, explicit)
    if referer is not None:
        headers.append(("Referer", referer))
    try:
        hop = Request(method, url, headers, body)
    except (URLError, ValueError, UnicodeError) as exc:
        raise RedirectError(f"cannot follow the redirect: {exc}") from None
    return hop, Chain(first, chain.hops + 1, stripped)
