"""How long the studio's missing models take to train: the `make studio` runs (the Makefile's
STUDIO_RUNS, in its order) with the wall time each `kinema train` took, measured — not guessed —
so a tab without a model can say what its commands cost before anyone runs them.

Measured 2026-12-07 on the shared 2-core CPU machine (AMD EPYC, torch 2.13 CPU, 1 thread):
``OMP_NUM_THREADS=1 kinema --threads 1 train METHOD --preset PRESET --no-tensorboard`` for each
run in turn in an empty folder, timed by ``date`` around the command (start-up included).
"""
from __future__ import annotations

MEASURED = "2026-12-07, shared 2-core CPU, 1 thread"

# (stage, preset) -> seconds of wall time, in the Makefile's STUDIO_RUNS order
STUDIO_RUNS = {
    ("cinn-autoencoder", "tiny-clouds"): 3.7,
    ("cinn-image-encoder", "tiny-clouds"): 3.4,
    ("cinn-flow", "tiny-clouds"): 3.4,
    ("cinn-flow", "tiny-clouds-control"): 3.3,
    ("gendef-image", "tiny"): 3.2,
    ("gendef-video", "tiny"): 3.5,
    ("latentgan-image", "tiny"): 3.7,
    ("latentgan-embed", "tiny"): 2.8,
    ("latentgan-temporal", "tiny"): 4.7,
    ("dynamics-vae", "tiny"): 6.2,
    ("dynamics-diffusion", "tiny"): 6.7,
    ("dynamics-attention", "tiny"): 7.1,
    ("dynamics-render", "tiny"): 7.0,
}


def studio_runs(stages: list[str]) -> list[tuple[str, str, float]]:
    """(stage, preset, seconds) of the `make studio` runs of ``stages`` (a method family's
    stages), in training order; one run per stage (the first preset listed for it)."""
    runs = {}
    for (stage, preset), seconds in STUDIO_RUNS.items():
        if stage in stages and stage not in runs:
            runs[stage] = (stage, preset, seconds)
    return list(runs.values())
