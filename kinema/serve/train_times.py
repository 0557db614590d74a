"""How long the studio's missing models take to train: the `make studio-tiny` runs (the
Makefile's STUDIO_RUNS, in its order) with the wall time each `kinema train` took, read from the
one table of measured train times (``kinema/train_times.json``, made by ``python -m
kinema.train_times``) so a tab without a model can say what its commands cost before anyone
runs them.
"""
from __future__ import annotations

# the Makefile's STUDIO_RUNS, in its order (tests/serve/test_studio_api.py keeps them equal)
STUDIO_RUNS = (
    ("cinn-autoencoder", "tiny-clouds"), ("cinn-image-encoder", "tiny-clouds"),
    ("cinn-flow", "tiny-clouds"), ("cinn-flow", "tiny-clouds-control"),
    ("gendef-image", "tiny"), ("gendef-video", "tiny"),
    ("latentgan-image", "tiny"), ("latentgan-embed", "tiny"), ("latentgan-temporal", "tiny"),
    ("dynamics-vae", "tiny"), ("dynamics-diffusion", "tiny"), ("dynamics-attention", "tiny"),
    ("dynamics-render", "tiny"),
)


def measured_on() -> str:
    """``DATE, MACHINE`` of the studio runs' measurements (the newest date among them)."""
    from kinema.train_times import MACHINE, load_times

    times = load_times()
    dates = sorted(times[run]["date"] for run in STUDIO_RUNS if run in times)
    return f"{dates[-1] if dates else 'not measured'}, {MACHINE}"


def studio_runs(stages: list[str]) -> list[tuple[str, str, float]]:
    """(stage, preset, seconds) of the `make studio-tiny` runs of ``stages`` (a method family's
    stages), in training order; one run per stage (the first preset listed for it), only those
    with a measured time."""
    from kinema.train_times import load_times

    times = load_times()
    runs = {}
    for stage, preset in STUDIO_RUNS:
        if stage in stages and stage not in runs and (stage, preset) in times:
            runs[stage] = (stage, preset, times[(stage, preset)]["seconds"])
    return list(runs.values())
