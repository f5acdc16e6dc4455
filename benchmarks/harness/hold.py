"""A point where a benchmark run waits for its test, so the test can interrupt it mid-run.

The Ctrl-C test must signal a run that is still between batches; waiting for a log line and then
signalling raced with the run itself on a loaded machine (the quick plan once finished all its
batches before the signal came, and the run exited 0). With ``HDB_HOLD_AT=<point>`` and
``HDB_HOLD_FIFO=<path of a FIFO>`` in its environment, a run that reaches ``<point>`` opens the
FIFO for reading, which blocks until someone opens it for writing: the test signals it there.
Without both variables (every real run) a hold point does nothing.
"""

from __future__ import annotations

import os

HOLD_AT_ENV = "HDB_HOLD_AT"
HOLD_FIFO_ENV = "HDB_HOLD_FIFO"


def hold_point(point: str) -> None:
    fifo = os.environ.get(HOLD_FIFO_ENV)
    if fifo and os.environ.get(HOLD_AT_ENV) == point:
        with open(fifo, "rb"):  # blocks until the test opens the other end (or signals us)
            pass
