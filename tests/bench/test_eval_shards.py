"""`kinema eval` on a device and over ranks: `torchrun -m kinema eval` (2 gloo processes on
the CPU) writes the numbers one process writes; the model and the feature networks are moved
to the device asked for."""
from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from kinema.bench.harness import Protocol, batch_generator, evaluate
from tests.commands import torchrun

EVAL = ["eval", "dynamic-texture", "--data", "bouncing-digits", "--num-videos", "8",
        "--batch-size", "2", "--num-frames", "8", "--context-frames", "2", "--num-samples", "2",
        "--option", "size=32", "--metrics", "psnr,ssim"]


def test_two_processes_write_the_numbers_of_one(tmp_path):
    # 4 batches over 2 ranks; best-of-2 samples draw noise, so a rank that drew from another
    # generator, or folded another rank's batch twice, would move the numbers
    from kinema.cli import main

    one, two = tmp_path / "one.json", tmp_path / "two.json"
    with pytest.raises(SystemExit) as single:       # one process: this one
        main([*EVAL, "--out", str(one), "--device", "cpu"])
    assert single.value.code == 0
    shared = torchrun(*EVAL, "--out", two, "--device", "cpu", timeout=120)
    assert shared.returncode == 0, shared.stderr[-2000:]
    a, b = json.loads(one.read_text()), json.loads(two.read_text())
    assert (a["processes"], b["processes"]) == (1, 2)
    assert a["results"]["psnr_videos"] == b["results"]["psnr_videos"] == 8
    assert b["results"] == a["results"]
    # best-of-2 differs from the mean of the samples: the noise was drawn and mattered
    assert a["results"]["psnr"] > a["results"]["psnr_mean_of_samples"]


def test_batch_generators_are_distinct_and_batch_zero_is_the_seed():
    draw = [torch.randn(4, generator=batch_generator(7, i)) for i in range(3)]
    assert torch.equal(draw[0], torch.randn(4, generator=torch.Generator().manual_seed(7)))
    assert not torch.equal(draw[0], draw[1]) and not torch.equal(draw[1], draw[2])
    # seed 8's batch 0 is not seed 7's batch 1 (seeds do not share streams)
    assert not torch.equal(draw[1], torch.randn(4, generator=batch_generator(8, 0)))
    seeds = {batch_generator(seed, index).initial_seed()
             for seed in range(300) for index in range(300)}
    assert len(seeds) == 300 * 300


class Recorder(nn.Module):
    """A predictor whose moves are recorded; it repeats the last observed frame."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(()))
        self.moves: list[torch.device] = []

    def to(self, device):
        self.moves.append(torch.device(device))
        return super().to(device)

    def predict(self, context, num_frames, num_samples=1, generator=None):
        assert context.device == self.scale.device   # the inputs followed the model
        last = context[:, -1:].expand(-1, num_frames, -1, -1, -1) * self.scale
        return last.unsqueeze(1).expand(-1, num_samples, -1, -1, -1, -1)


class RecordingFeatures:
    """Clip features (mean per channel and frame) of a feature network that records moves."""

    def __init__(self):
        self.moves: list[torch.device] = []
        self.seen: set[torch.device] = set()

    def to(self, device):
        self.moves.append(torch.device(device))
        return self

    def clip_features(self, video):
        self.seen.add(video.device)
        return video.mean(dim=(3, 4)).flatten(1)


def test_model_and_feature_network_move_to_the_device(monkeypatch):
    features = RecordingFeatures()
    monkeypatch.setattr("kinema.metrics.features.load_features", lambda *a, **k: features)
    model = Recorder()
    protocol = Protocol(num_videos=4, num_frames=6, context_frames=2, batch_size=2,
                        data_options={"size": 32})
    record = evaluate("recorder", "bouncing-digits", ["psnr", "fvd"], protocol, model=model,
                      progress=False, device=torch.device("cpu"))
    assert model.moves == [torch.device("cpu")]
    assert features.moves == [torch.device("cpu")]
    assert features.seen == {torch.device("cpu")}
    assert record["results"]["fvd_fake_count"] == 4
    # the repeated last context frame scores a finite PSNR against the true continuation
    assert 0 < record["results"]["psnr"] < 100


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_eval_on_the_gpu_gives_the_cpu_numbers():
    protocol = Protocol(num_videos=4, num_frames=6, context_frames=2, batch_size=2,
                        data_options={"size": 32})
    cpu = evaluate("repeat-last", "bouncing-digits", ["psnr", "ssim"], protocol, progress=False,
                   device="cpu")
    gpu = evaluate("repeat-last", "bouncing-digits", ["psnr", "ssim"], protocol, progress=False,
                   device="cuda")
    for key, value in cpu["results"].items():
        assert gpu["results"][key] == pytest.approx(value, rel=1e-5), key
