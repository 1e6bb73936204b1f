"""``reusecheck discover URL``: measure the server's own keep-alive limits.

Four measurements, run at the same time on separate connections so the run takes about
as long as the longest of them: the idle timeout (connections watched while idle until
the server closes them), the requests a connection may carry, the HTTP/2 SETTINGS and the
concurrency a connection really gives, and whether TLS sessions are resumed.

This module stays cheap to import (``cli.py`` applies ``discover_options`` at import);
the engine is ``reusecheck.discover.command.run_discover``, imported when the command runs.
"""

from reusecheck.discover.settings import MEASUREMENTS, DiscoverSettings, discover_options

__all__ = ["MEASUREMENTS", "DiscoverSettings", "discover_options"]
