"""Ctrl-C / SIGTERM in a one-process run: finish the current step, checkpoint, stop.

The step must finish first: a checkpoint written between two groups' updates would not resume
exactly. Under torchrun the ranks could notice a signal at different steps, so there the
signals keep their default effect and the run resumes from its last periodic checkpoint.
A second Ctrl-C stops at once.
"""
from __future__ import annotations

import signal
import sys
import threading


class GracefulStop:
    def __init__(self, enabled: bool = True):
        self.enabled = enabled and threading.current_thread() is threading.main_thread()
        self.requested = False
        self._previous: dict = {}

    def _request(self, signum, frame) -> None:
        if self.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = True
        print(f"\n{signal.Signals(signum).name}: stopping after this step "
              "(Ctrl-C again to stop at once)", file=sys.stderr)

    def __enter__(self) -> "GracefulStop":
        if self.enabled:
            self._previous = {sig: signal.signal(sig, self._request)
                              for sig in (signal.SIGINT, signal.SIGTERM)}
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous = {}
