"""Findings: the catalogue (``catalogue``), remedies computed from the numbers
(``remedies``), and every detector (``keepalive``, ``idle``, ``client``, ``h2``, ``tls``,
``limits`` for discover's measurements), run by ``detect``."""
