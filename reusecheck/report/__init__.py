"""Renderers: each reads an ``Analysis`` and computes nothing of its own.

``json`` (the schema-1 document), ``terminal`` and ``tables`` (rich; imported lazily by
the CLI, since importing rich costs start-up time), ``timeline`` (the lanes the terminal
draws), ``har`` (HTTP Archive 1.2; it also reads the events, for per-phase timings and
headers) and ``junit`` (JUnit XML for CI test reports).  Every renderer passes URLs and
header values through ``reusecheck.trace.redact``.
"""
