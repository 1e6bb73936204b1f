"""The parts of ``reusecheck.analyze``: one module per question the analysis answers.

``model`` (what goes in and comes out), ``events`` (the record indexed by request and
connection), ``requests`` and ``connections`` (the rows), ``server`` (server facts),
``detect`` (findings), ``verdict`` (reuse verdict and expectations).  Import the public
names from ``reusecheck.analyze``.
"""
