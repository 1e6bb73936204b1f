"""The one thing h11 will not write for us: an ``HTTP/1.0`` status line.

h11's server role only speaks HTTP/1.1 on the wire (``write_any_response`` refuses any
other version), so the ``http10`` mode parses requests with h11 and writes its response
bytes here.  Bodies are Content-Length framed, so after the head they are raw bytes.
"""

from __future__ import annotations

from collections.abc import Iterable

from reusecheck.server.routes import reason_phrase


def http10_head(status: int, headers: Iterable[tuple[bytes, bytes]]) -> bytes:
    """Status line and headers of an HTTP/1.0 response (RFC 1945 6), CRLF-terminated."""
    lines = [b"HTTP/1.0 %d %s\r\n" % (status, reason_phrase(status))]
    lines.extend(b"%s: %s\r\n" % (name, value) for name, value in headers)
    lines.append(b"\r\n")
    return b"".join(lines)
