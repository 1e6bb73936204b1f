"""TLS sessions kept per key, so a new connection can resume an earlier one's.

Go's ``tls.Config.ClientSessionCache``: the key's latest session is offered on the
next dial (``tls_start.session_offered``; ``tls_done.resumed`` says whether the server
took it).
"""

from __future__ import annotations

import ssl
from typing import Final

from reusecheck.net.conn import PooledConnection
from reusecheck.net.dial import ConnectionKey

# Responses after which a connection's TLS session is read for the next dial, at most
# (TLS 1.3 tickets arrive after the handshake; a server may send a later one).
SESSION_CHECKS: Final = 3


class SessionCache:
    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._sessions: dict[ConnectionKey, ssl.SSLSession] = {}

    def offer(self, key: ConnectionKey) -> ssl.SSLSession | None:
        return self._sessions.get(key) if self.enabled else None

    def after_response(self, conn: PooledConnection) -> None:
        """Keep the connection's TLS session for the next dial to the key.

        Taken after a response was read, not after the handshake: TLS 1.3 servers send
        their session tickets after the handshake, so only then does the session hold
        one.  Reading ``SSLObject.session`` copies the session (CPython serialises and
        parses it, certificates included: ~0.1 ms), so it is read after a connection's
        first responses only, not after every one; a session with a ticket ends the
        checks.
        """
        if not self.enabled or conn.tls is None or conn.session_checks >= SESSION_CHECKS:
            return
        sslobj = conn.channel.ssl_object
        if sslobj is None:
            return
        session = sslobj.session
        conn.session_checks += 1
        if session is not None:
            self._sessions[conn.key] = session
            if session.has_ticket:
                conn.session_checks = SESSION_CHECKS
