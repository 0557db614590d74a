"""Each rank captures and restores only its own GPU's random state, so a run resumes on
another number of GPUs."""
from __future__ import annotations

import torch

from kinema.train.rng import capture_rng, restore_rng


class FakeCuda:
    """torch.cuda's RNG calls on a machine with GPUs, recorded."""

    def __init__(self, monkeypatch, device: int):
        self.restored = []
        for name, value in {"is_initialized": lambda: True, "is_available": lambda: True,
                            "current_device": lambda: device,
                            "get_rng_state": lambda: torch.tensor([device], dtype=torch.uint8),
                            "set_rng_state": self.restored.append}.items():
            monkeypatch.setattr(torch.cuda, name, value)


def test_a_rank_saves_its_own_gpus_state_alone(monkeypatch):
    FakeCuda(monkeypatch, device=3)
    assert torch.equal(capture_rng()["cuda"], torch.tensor([3], dtype=torch.uint8))


def test_restore_takes_the_saved_state_or_this_gpus_entry_of_an_older_list(monkeypatch):
    state = capture_rng()
    assert state["cuda"] == []                       # a CPU run saves no GPU state
    cuda = FakeCuda(monkeypatch, device=1)
    restore_rng({**state, "cuda": torch.tensor([7], dtype=torch.uint8)})
    older = [torch.tensor([i], dtype=torch.uint8) for i in range(4)]   # get_rng_state_all
    restore_rng({**state, "cuda": older})
    restore_rng({**state, "cuda": older[:1]})        # written on fewer GPUs: nothing to take
    restore_rng(state)
    assert [t.tolist() for t in cuda.restored] == [[7], [1]]
