"""ILE's config and presets. Every number that differs from the paper is visible here.

Paper (Sec. 3.2): Glow-like network without 1x1 convolutions or actnorm, 4 blocks of 10 affine
couplings, each block with an early connection out to the final embedding, coupling
subnetworks with 512 channels in the middle; Bouncing-MNIST at 64x64.
"""
from __future__ import annotations

from dataclasses import dataclass

from kinema.config import DataConfig, Recipe, TrainConfig
from kinema.errors import KinemaError


class ILEConfigError(KinemaError, ValueError):
    """An ILE config that cannot build a model (a ValueError too, for code that catches those)."""


@dataclass
class ILEConfig:
    channels: int = 1
    image_size: int = 64
    blocks: int = 4              # Sec. 3.2: 4 blocks ...
    steps_per_block: int = 10    # ... of 10 affine couplings
    hidden: int = 512            # Sec. 3.2: 512 channels in the subnet's centre
    clamp: float = 2.0           # soft clamp of the coupling's log-scale
    actnorm: bool = False        # Sec. 3.2: the paper uses no actnorm
    invertible_1x1: bool = False  # Sec. 3.2: ... and no 1x1 convolutions (fixed shuffles instead)
    state_dim: int = 128         # latent state size n (even: n/2 real-Jordan 2x2 blocks); not given in the paper
    context_frames: int = 5      # frames observed before prediction (evaluation and logged predictive NLL)
    n_bits: int = 8              # pixel quantisation for dequantisation noise and bits/dim
    memory_saving: bool = False  # recompute activations by inversion in the backward pass
    temperature: float = 1.0     # std of the latent observation noise when sampling (1 = the model)
    # Sec. 2.6's scale layer y -> y / mean|y| (the paper's). Off: a variant whose held-out
    # value is a true likelihood (ILE.conditional_likelihood); the layer itself makes the
    # objective scale-invariant but not a normalised density (see losses.py)
    scale_layer: bool = True
    seed: int = 0                # seeds the fixed channel shuffles

    def __post_init__(self):
        self.check()

    def check(self) -> None:
        """Raise ``ILEConfigError`` naming the field; also called by ``ILE(config)`` because
        ``--set model.x=...`` overrides are applied after ``__post_init__``."""
        for name in ("channels", "image_size", "blocks", "steps_per_block", "hidden", "context_frames"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ILEConfigError(f"ILE config: {name} must be an integer >= 1, got {getattr(self, name)!r}")
        if not isinstance(self.state_dim, int) or self.state_dim < 2 or self.state_dim % 2:
            raise ILEConfigError(f"ILE config: state_dim must be even and >= 2 (2x2 Jordan blocks), "
                                 f"got {self.state_dim!r}")
        if self.image_size % (2 ** self.blocks):
            raise ILEConfigError(f"ILE config: image_size {self.image_size} must be divisible by "
                                 f"2**blocks = {2 ** self.blocks} (one squeeze per block)")
        if self.state_dim > self.channels * self.image_size ** 2:
            raise ILEConfigError(f"ILE config: state_dim {self.state_dim} exceeds the embedding size "
                                 f"{self.channels * self.image_size ** 2} (x0* would be underdetermined)")
        if not 1 <= self.n_bits <= 16 or self.clamp <= 0 or self.temperature < 0:
            raise ILEConfigError(f"ILE config: need 1 <= n_bits <= 16, clamp > 0, temperature >= 0; got "
                                 f"n_bits={self.n_bits}, clamp={self.clamp}, temperature={self.temperature}")


PRESETS = ("tiny", "small", "paper")


def ile_config(preset: str = "small") -> ILEConfig:
    """The model of a preset: ``tiny`` (tests), ``small`` (32 px on a CPU), ``paper`` (Sec. 3.2)."""
    if preset not in PRESETS:
        raise ValueError(f"unknown ILE preset {preset!r}; known: {', '.join(PRESETS)}")
    if preset == "tiny":
        return ILEConfig(image_size=8, blocks=2, steps_per_block=2, hidden=8, state_dim=4,
                         context_frames=2)
    if preset == "small":
        return ILEConfig(image_size=32, blocks=4, steps_per_block=3, hidden=48, state_dim=64,
                         context_frames=5)
    # memory_saving: at these sizes ordinary backprop keeps > 13 GB of subnet activations
    # for a batch of 160 frames (the paper's stated limit, Sec. 4); see benchmarks/ile-memory.md
    return ILEConfig(image_size=64, blocks=4, steps_per_block=10, hidden=512, state_dim=128,
                     context_frames=5, memory_saving=True)


def recipe(preset: str = "small") -> Recipe:
    """Model, data and schedule of a preset (`kinema train ile --preset small`)."""
    model = ile_config(preset)
    frames = {"tiny": 4, "small": 10, "paper": 10}[preset]
    train = {
        "tiny": TrainConfig(steps=20, batch_size=2, lr=1e-3, log_every=5, checkpoint_every=20),
        # bf16: benchmarks/precision.md (the flow's couplings and log-determinants, and the
        # linear system, stay float32: fp32 islands)
        "small": TrainConfig(steps=3000, batch_size=8, lr=5e-4, warmup_steps=100, grad_clip=5.0,
                             checkpoint_every=500, sample_every=500, precision="auto"),
        "paper": TrainConfig(steps=100_000, batch_size=16, lr=1e-4, warmup_steps=1000,
                             grad_clip=5.0, checkpoint_every=2000, sample_every=2000,
                             checkpoint_minutes=30, precision="auto"),
    }[preset]
    data = DataConfig(name="bouncing-digits",
                      options={"num_frames": frames, "size": model.image_size})
    return Recipe(method="ile", preset=preset, model=model, train=train, data=data)
