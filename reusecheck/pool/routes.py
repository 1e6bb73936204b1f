"""Each request's pool key: its origin, or through a proxy Go's ``connectMethodKey``.

Go's Transport asks its ``Proxy`` function per request and keys connections by the
answer: an ``https://`` origin through a proxy is its own CONNECT tunnel (the key
names the proxy and the target); every ``http://`` origin through one proxy shares
that proxy's connections (the key names the proxy alone).  Without a proxy the key is
the origin, whatever ``--resolve`` or ``--connect-to`` change about where it dials.
"""

from __future__ import annotations

from reusecheck.net.dial import ConnectionKey
from reusecheck.net.request import Request
from reusecheck.net.route import Routing


class Routes:
    def __init__(self, routing: Routing) -> None:
        self.routing = routing
        self._direct = not routing.proxies.any  # decided once: asked on every request
        self._keys: dict[ConnectionKey, tuple[ConnectionKey, str]] = {}

    def key(self, req: Request) -> tuple[ConnectionKey, str]:
        """The pool key of ``req`` and its text (``get_conn.key``)."""
        if self._direct:
            return req.key, req.key_text
        found = self._keys.get(req.key)
        if found is None:
            origin = req.key
            proxy = self.routing.proxy_for(origin.scheme, origin.host, origin.port)
            if proxy is None:
                key = origin
            elif origin.scheme == "http":
                key = ConnectionKey("http", "", 0, proxy)
            else:
                key = ConnectionKey(origin.scheme, origin.host, origin.port, proxy)
            found = self._keys[origin] = (key, str(key))
        return found
