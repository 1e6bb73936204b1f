"""What each command does, apart from how its options are spelled (``reusecheck.cli``).

``probe`` (one target or several, with ``--discover``), ``demo``, ``run``, ``discover``:
settings in, a run, the report and the files out, an exit code back.  This is where
the I/O of a command lives (files, stdout and stderr, the event loop), so the analysis
and the renderers stay pure.  Nothing here imports click: bad input is ``BadInput``,
which the CLI turns into its usage error.
"""
