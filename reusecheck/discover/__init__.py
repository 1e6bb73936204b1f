"""``reusecheck discover URL``: measure the server's own keep-alive limits (the I/O half).

Four measurements, run at the same time on separate connections so the run takes about
as long as the longest of them: the idle timeout (connections watched while idle until
the server closes them), the requests a connection may carry, the HTTP/2 SETTINGS and the
concurrency a connection really gives, and whether TLS sessions are resumed.  Each
driver here sends requests; what they mean is computed from the record by
``reusecheck.analysis.limits``.  ``engine`` runs them at once, ``session`` is what they
share, ``settings`` what the user chose.
"""

from reusecheck.discover.settings import MEASUREMENTS, DiscoverSettings

__all__ = ["MEASUREMENTS", "DiscoverSettings"]
