"""reusecheck: shows whether HTTP connection reuse really happens against a server."""

__version__ = "0.1.0"
