"""The command line (``reusecheck``): the click commands (``main``) and the options they
share (``options``).  ``reusecheck.cli:main`` is the console entry point."""

from reusecheck.cli.main import main

__all__ = ["main"]
