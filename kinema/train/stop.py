"""Stopping and checkpointing on request: Ctrl-C, SIGTERM or SIGUSR1 (a scheduler's notice
of preemption), and a checkpoint timer (``train.checkpoint_minutes``).

The step in progress finishes first: a checkpoint written between two groups' updates would not
resume exactly. Under ``torchrun`` the ranks may notice a signal at different steps (or only one
rank may get it), and only rank 0's clock may decide a timed checkpoint, so after every step
the ranks agree with one all-reduce of two flags (``DistContext.any_flags``): any rank asked to
stop, rank 0's timer ran out. Every rank then checkpoints at that same step, and stops at it.
A second Ctrl-C stops at once.

``torchrun`` itself, on SIGTERM, passes SIGTERM on to every rank and kills them 30 s later
(its default), so a checkpoint must be written within that time; a rank signalled alone is
enough for all of them to stop.
"""
from __future__ import annotations

import signal
import sys
import threading
import time

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGUSR1)


class GracefulStop:
    """Within ``with``: the signals above set ``requested`` instead of ending the process.
    ``checkpoint_minutes``: the timer ``poll`` reports on (None: never due)."""

    def __init__(self, enabled: bool = True, checkpoint_minutes: float | None = None):
        self.enabled = enabled and threading.current_thread() is threading.main_thread()
        self.requested = False
        self.signal_name = ""
        self.seconds = checkpoint_minutes * 60.0 if checkpoint_minutes else None
        self.timer_started = time.monotonic()
        self._previous: dict = {}

    def _request(self, signum, frame) -> None:
        if self.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = True
        self.signal_name = signal.Signals(signum).name
        print(f"\n{self.signal_name}: stopping after this step with a checkpoint "
              "(Ctrl-C again to stop at once)", file=sys.stderr)

    def poll(self, dist) -> tuple[bool, bool]:
        """(stop now, checkpoint now), the same on every rank of ``dist`` (a ``DistContext``):
        one all-reduce per step when there are several ranks, none otherwise."""
        due = self.seconds is not None and dist.is_main \
            and time.monotonic() - self.timer_started >= self.seconds
        stop, due = dist.any_flags([self.requested, due])
        self.requested = self.requested or stop
        return stop, due

    def restart_timer(self) -> None:
        """A checkpoint was just written: the next timed one is ``checkpoint_minutes`` away."""
        self.timer_started = time.monotonic()

    def __enter__(self) -> "GracefulStop":
        if self.enabled:
            self._previous = {sig: signal.signal(sig, self._request) for sig in SIGNALS}
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous = {}
