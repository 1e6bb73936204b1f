"""The parts of ``reusecheck.analyze``: one module per question the analysis answers.

``model`` (what goes in and comes out), ``events`` (the record indexed by request and
connection), ``requests`` and ``connections`` (the rows), ``h2`` (HTTP/2 SETTINGS,
GOAWAY, ALPN and stream limits), ``server`` (server facts), ``multiplex`` (HTTP/2
connections opened although one had a free stream), ``context`` and ``detect`` /
``detect_h2`` (findings), ``verdict`` (reuse verdict and expectations).  Import the
public names from ``reusecheck.analyze``.
"""
