"""``reusecheck observe``: a recording reverse proxy that diagnoses the client.

The client's connections are served (HTTP/1.1 over h11, HTTP/2 over h2: h2c with prior
knowledge, or ALPN with TLS) and recorded in a ``Book`` as the server side sees them;
each request is answered by the built-in answer (``serve``'s routes) or forwarded
through reusecheck's own pool to ``--upstream``.  ``analysis.observed`` judges the
record; nothing here decides what a client did wrong.
"""

from reusecheck.observe.answer import Answer, BuiltinAnswer
from reusecheck.observe.book import Book
from reusecheck.observe.config import ObserveConfig
from reusecheck.observe.listener import Observer, observe
from reusecheck.observe.upstream import Forwarder

__all__ = ["Answer", "Book", "BuiltinAnswer", "Forwarder", "ObserveConfig", "Observer", "observe"]
