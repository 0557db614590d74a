"""Telling a run that blows up from one that merely learns, against the run's own history.

Non-finite steps are skipped by the trainer; but with gradient clipping a huge learning rate
does not make the loss non-finite: every step moves the weights by lr times a unit gradient,
and they race to 1e7 while the run "finishes". So two finite signs are watched as well:

- the weights: their global norm against the norm when the run started (or, after a resume,
  the norm recorded when that run started), checked before every checkpoint and before the
  final model is written, so neither ever holds weights past the limit;
- the loss of each optimiser group: a value further from the median of its recent history
  than ``factor`` times that history's spread (median absolute deviation, floored at a
  millionth of the median's size) is an explosion, checked at every step once 20 values are
  known. The factor is large (default 1000) so that the ordinary jumps of a GAN never trip it.
"""
from __future__ import annotations

import math
import statistics
from collections import deque

import torch

HISTORY = 200        # recent finite losses kept per group
WARM = 20            # losses needed before the loss test starts
REFRESH = 10         # the median and spread are recomputed after this many new losses


def weight_norm(params: list[torch.nn.Parameter]) -> float:
    """The global L2 norm of ``params`` (one fused reduction)."""
    norms = torch._foreach_norm([p.detach() for p in params]) if params else []
    return float(torch.linalg.vector_norm(torch.stack(norms))) if norms else 0.0


class DivergenceMonitor:
    def __init__(self, factor: float | None, start_norm: float):
        self.factor = factor
        self.start_norm = start_norm
        self.losses: dict[str, deque] = {}
        # per group: (median, spread, losses added since they were computed); two medians of
        # 200 values every step cost more than a tiny model's step (issue 16), so they are
        # refreshed every REFRESH losses: a jump is still caught at the step it happens
        self._stats: dict[str, list] = {}

    def state_dict(self) -> dict:
        return {"start_norm": self.start_norm}

    def load_state_dict(self, state: dict) -> None:
        self.start_norm = float(state.get("start_norm", self.start_norm))

    def check_weights(self, norm: float) -> str | None:
        """Why the weights have diverged, or None."""
        if self.factor is None:
            return None
        limit = self.factor * max(self.start_norm, 1.0)
        if not math.isfinite(norm) or norm > limit:
            return (f"the weights' norm grew from {self.start_norm:.4g} at the start to "
                    f"{norm:.4g}, past {self.factor:g} times its start (train.divergence_factor)")
        return None

    def check_loss(self, group: str, value: float) -> str | None:
        """Why ``value``, the group's newest finite loss, is an explosion, or None; the value
        joins the history when it is not."""
        if self.factor is None or not math.isfinite(value):
            return None
        history = self.losses.setdefault(group, deque(maxlen=HISTORY))
        if len(history) >= WARM:
            stats = self._stats.get(group)
            if stats is None or stats[2] >= REFRESH:
                median = statistics.median(history)
                spread = statistics.median(abs(v - median) for v in history)
                stats = self._stats[group] = [median, max(spread, 1e-6 * abs(median), 1e-12), 0]
            median, spread = stats[0], stats[1]
            if abs(value - median) > self.factor * spread:
                return (f"the {group} loss jumped to {value:.4g}, {abs(value - median) / spread:.3g} "
                        f"times its recent spread ({spread:.3g}) from its recent median "
                        f"{median:.4g} (train.divergence_factor={self.factor:g})")
        history.append(value)
        if group in self._stats:
            self._stats[group][2] += 1
        return None
