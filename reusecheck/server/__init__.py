"""The built-in target server for `reusecheck serve`, `demo` and the tests.

An HTTP/1.1 server on h11, and optionally HTTP/2 on h2 (by ALPN, or h2c with prior
knowledge, on the same port), whose connection behaviour (keep-alive, idle timeout, max
requests, Connection: close or GOAWAY, HTTP/1.0, TLS, concurrent streams) is chosen by a
ServerConfig, and which keeps its own record of every connection so a probe's
conclusions can be checked against it.
"""

from reusecheck.server.config import ServerConfig
from reusecheck.server.records import SERVER_SIDE_REASONS, ConnRecord
from reusecheck.server.serve import serve_forever
from reusecheck.server.target import TargetServer
from reusecheck.server.thread import ServerThread

__all__ = [
    "SERVER_SIDE_REASONS",
    "ConnRecord",
    "ServerConfig",
    "ServerThread",
    "TargetServer",
    "serve_forever",
]
