"""How a pool reaches its targets: proxies, pinned addresses, the address family.

One value per pool (``PoolOptions.routing``), handed to every dial.  What each part
means is in ``proxy.py`` (which requests go through which proxy), ``pinning.py``
(``--resolve``, ``--connect-to``) and ``eyeballs.py`` (the order addresses are tried).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from reusecheck.net.pinning import Pins
from reusecheck.net.proxy import NO_PROXY_CONFIG, Proxy, ProxyConfig
from reusecheck.net.tls import TLSOptions

# TLS to an https:// proxy speaks HTTP/1.1 to it (CONNECT, or absolute-form requests).
PROXY_ALPN: Final = ("http/1.1",)


@dataclass(frozen=True, slots=True)
class Routing:
    proxies: ProxyConfig = NO_PROXY_CONFIG
    pins: Pins = field(default_factory=Pins)
    ip_version: int | None = None  # -4 / -6: only that family's addresses; None: both
    # TLS to an https:// proxy: its own trust (curl's --proxy-cacert, --proxy-insecure),
    # since a proxy's certificate often comes from another CA than the targets'.
    proxy_tls: TLSOptions = field(default_factory=lambda: TLSOptions(alpn=PROXY_ALPN))

    def proxy_for(self, scheme: str, host: str, port: int) -> Proxy | None:
        return self.proxies.for_target(scheme, host, port)

    def to_record(self) -> dict[str, Any]:
        """What the JSON report's ``options`` shows (passwords redacted)."""
        p = self.proxies
        proxy: dict[str, Any] | None = None
        if p.any:
            proxy = {
                "http": p.http.shown if p.http is not None else None,
                "https": p.https.shown if p.https is not None else None,
                "source": sorted({x.source for x in (p.http, p.https) if x is not None}),
                "no_proxy": p.no_proxy.text,
                "cacert": self.proxy_tls.cacert,
                "insecure": self.proxy_tls.insecure,
            }
        return {
            "proxy": proxy,
            "resolve": [str(e) for e in self.pins.resolve],
            "connect_to": [str(c) for c in self.pins.connect_to],
            "ip_version": self.ip_version,
        }


DIRECT: Final = Routing()
