"""Renderers: each reads an ``Analysis`` and computes nothing of its own.

``json`` (the schema-1 document), ``terminal`` and ``tables`` (rich; imported lazily by
the CLI, since importing rich costs start-up time), ``timeline`` (the lanes the terminal
draws).  Every renderer passes URLs and header values through ``reusecheck.redact``.
"""
