"""Stopping on SIGINT/SIGTERM at a point where the training state is whole.

A signal is recorded rather than raised: the loop looks at the record after each step
(with the other ranks, so no rank leaves a collective half done) and between validation
items, then saves and raises KeyboardInterrupt itself. So no optimiser step is cut in half,
a validation is either committed (history row, scheduler, best model, last.pt together) or
redone on resume, and a repeated signal does not interrupt the save.
"""

from __future__ import annotations

import signal
import threading


class StopRequest:
    """The latest SIGTERM/SIGINT while installed (0: none). Signal handlers belong to the main
    thread: elsewhere nothing is installed and a KeyboardInterrupt still stops at once."""

    def __init__(self):
        self.received = 0
        self._previous = {}
        if threading.current_thread() is threading.main_thread():
            self._previous = {sig: signal.signal(sig, self._record) for sig in (signal.SIGTERM, signal.SIGINT)}

    def _record(self, signum, frame):
        self.received = signum

    def restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
