"""The instrumented connection pool (Go's ``http.Transport``): request path, lifecycle,
idle list, HTTP/2 sharing, retry rules, TLS sessions, dial limits."""

from reusecheck.pool.lifecycle import Conn, Got
from reusecheck.pool.options import HTTP_MODES, PoolOptions
from reusecheck.pool.pool import Pool

__all__ = ["HTTP_MODES", "Conn", "Got", "Pool", "PoolOptions"]
