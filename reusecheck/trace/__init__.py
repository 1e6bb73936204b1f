"""The trace layer: events, their vocabularies, the sinks that write them, redaction.

Every layer below the analysis emits through a ``Tracer``; everything above reads the
events it recorded.  The public names are re-exported here.
"""

from reusecheck.trace.event import Clock, Event, Sink
from reusecheck.trace.sinks import FanOut, NDJSONWriter, NullSink, Recorder
from reusecheck.trace.tracer import Span, Tracer, span
from reusecheck.trace.vocab import EVENT_NAMES

__all__ = [
    "EVENT_NAMES",
    "Clock",
    "Event",
    "FanOut",
    "NDJSONWriter",
    "NullSink",
    "Recorder",
    "Sink",
    "Span",
    "Tracer",
    "span",
]
