"""The server's limits from discover's record: each measurement's pure result
(``idle_timeout``, ``max_requests``, ``h2``, ``tls``), the report built from them, and
folding it into a probe's analysis.  The measurements themselves (I/O) are
``reusecheck.discover``."""
