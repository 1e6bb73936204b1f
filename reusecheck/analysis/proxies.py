"""What a proxy changes about the verdict: which hop the run measured.

Through a proxy every connection the client opens ends at the proxy (its ``remote``
is the proxy's address).  An ``http://`` target's requests go to the proxy as they
are, so a connection's reuse is between the client and the proxy only: how the proxy
reaches the origin is its own business.  An ``https://`` target's connection is a
CONNECT tunnel to its origin, torn down with it, so reusing it reuses the whole path.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from reusecheck.analysis.model import ConnectionRow


def run_proxy(conns: Sequence[ConnectionRow]) -> str | None:
    """The proxy the run went through (the first proxied connection's), or None."""
    return next((c.proxy for c in conns if c.proxy is not None), None)


def keyed_proxy(keys: Iterable[str | None]) -> str | None:
    """The proxy the pool keys name (``... via http://proxy:3128``): a run whose proxy
    was never reached (its name did not resolve) still says which one it tried."""
    named = sorted(k.split(" via ", 1)[1] for k in keys if k is not None and " via " in k)
    return named[0] if named else None


def forwarded(c: ConnectionRow) -> bool:
    """A connection to a proxy that carried requests in absolute form (no tunnel)."""
    return c.proxy is not None and c.tunnel is None


def measured_hop(conns: Sequence[ConnectionRow]) -> str | None:
    """The verdict's note on the hop it measured, or None without a proxy."""
    proxy = run_proxy(conns)
    if proxy is None:
        return None
    return f"reuse measured between the client and the proxy {proxy}"
