"""Which addresses a dial tries, in which order and for how long: Go's dual-stack dialer.

Sans-IO.  Go's ``net.Dialer`` (``dialParallel``, ``dialSerial``) with its default
``FallbackDelay``, Happy Eyeballs as RFC 6555 describes it (RFC 8305 refines it):

- the resolver's order is kept; the addresses of the first address's family are the
  *primaries*, the others the *fallbacks* (``addrList.partition``);
- the primaries are tried one after the other; the fallbacks start 300 ms later, or
  at once when every primary has failed, and run beside them; the first connection
  made wins and the others are closed;
- each attempt of a serial run gets a share of the time left (``partialDeadline``):
  the time left divided by the addresses left, but at least 2 s (or all of it).

``-4``/``-6`` (curl's ``--ipv4``/``--ipv6``) keep one family before any of this.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from typing import Final

# Go's net.Dialer default FallbackDelay (RFC 6555 section 5.5 recommends 150-250 ms;
# RFC 8305 section 5, 250 ms): when the other family's attempts start.
FALLBACK_DELAY: Final = 0.3
# Go's saneMinimum in partialDeadline: an attempt gets at least this long (or all that
# is left), so one dead address cannot starve the next.
MIN_ATTEMPT: Final = 2.0


def family(ip: str) -> int:
    """4 or 6."""
    return ipaddress.ip_address(ip).version


def keep_family(addrs: Sequence[str], version: int | None) -> list[str]:
    """The addresses of one family (``-4``: 4, ``-6``: 6), or all of them (None)."""
    if version is None:
        return list(addrs)
    return [a for a in addrs if family(a) == version]


def partition(addrs: Sequence[str]) -> tuple[list[str], list[str]]:
    """(primaries, fallbacks): the first address's family, then the other one, each in
    the resolver's order (Go's ``addrList.partition``)."""
    if not addrs:
        return [], []
    first = family(addrs[0])
    primaries = [a for a in addrs if family(a) == first]
    fallbacks = [a for a in addrs if family(a) != first]
    return primaries, fallbacks


def attempt_timeout(left: float, addrs_left: int) -> float:
    """How long one attempt of a serial run may take (Go's ``partialDeadline``)."""
    if addrs_left <= 1:
        return max(left, 0.0)
    share = left / addrs_left
    if share < MIN_ATTEMPT:
        share = min(MIN_ATTEMPT, left)
    return max(share, 0.0)
