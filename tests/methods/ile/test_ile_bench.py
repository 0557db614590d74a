"""`kinema bench ile-bouncing-digits` on tiny models: every row, finite numbers, a verdict that
follows from the numbers, training records, and the control row against scikit-image."""
import json
import math

import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio

from kinema.methods.ile import bench
from kinema.methods.ile.config import ILEConfig
from kinema.methods.ile.model import ILE

# Mathieu is trained by the benchmark itself (the runs-absent path) for 2 steps
TWO_STEPS = ("train.steps=2", "train.batch_size=2", "train.checkpoint_every=2",
             "train.sample_every=null", "train.log_every=1")


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    root = tmp_path_factory.mktemp("ile-bench")
    torch.manual_seed(0)
    ILE(ILEConfig(image_size=32, blocks=2, steps_per_block=1, hidden=8, state_dim=4)
        ).save_pretrained(root / "runs" / "ile")
    md, js = bench.ile_bouncing_digits_benchmark(root / "out", runs=root / "runs", num_videos=4,
                                                 fit_videos=8, train_overrides=TWO_STEPS,
                                                 progress=False)
    return root, md.read_text(), json.loads(js.read_text())


def test_every_row_is_reported_with_finite_numbers(written):
    _, md, record = written
    for key, label in bench.ROWS.items():
        assert f"| {label} |" in md
        for name in ("psnr", "ssim", "digit_pixels"):
            values = record["means"][key][name]
            assert len(values) == bench.PREDICTED_FRAMES and all(math.isfinite(v) for v in values)
    for label in bench.PAPER_FIG4:
        assert f"| {label} |" in md
    assert record["settings"]["num_videos"] == 4
    objective = record["ile_objective"]
    plain = {k: v for k, v in objective.items() if k != "no_scale_layer"}
    assert all(math.isfinite(v) and v > 0 for v in [*plain.values(), *objective["no_scale_layer"].values()])
    assert f"**{objective['objective_bits_per_dim']:.3f} bits/dim** (Eq. (2) with the Sec. 2.6" in md
    assert "These are not likelihoods" in md


def test_no_scale_layer_row_reports_its_held_out_likelihood(written):
    """The variant is trained by the benchmark without the scale layer, and its number is the
    conditional likelihood of the 5 predicted frames given the 5 observed ones."""
    from kinema.data import load_dataset

    root, md, record = written
    model, found = bench.load_trained(root / "runs" / "ile-no-scale", "ile")
    assert model.config.scale_layer is False and record["training"]["ile-no-scale"]["steps"] == 2
    test = load_dataset("bouncing-digits", "test", num_frames=10, num_videos=4, size=32, num_digits=1)
    clips = torch.stack([test[i]["video"] for i in range(4)])
    expected = bench.held_out_likelihood(model, clips)["conditional_bits_per_dim"]
    value = record["ile_objective"]["no_scale_layer"]["conditional_bits_per_dim"]
    assert value == pytest.approx(expected, rel=1e-6)
    with torch.no_grad():   # 5 of 10 frames are the context
        torch.manual_seed(0)
        four = model.conditional_likelihood(clips, context_frames=4)["conditional_bits_per_dim"].item()
    assert value != pytest.approx(four, rel=1e-4)
    assert f"**{value:.3f} bits/dim**; its training objective" in md


def test_verdict_sentence_follows_the_json_numbers(written):
    _, md, record = written
    means = record["means"]
    ile5, last5, blank5 = (means[k]["psnr"][4] for k in ("ile", "repeat-last", "blank"))
    beats = ile5 > last5
    assert record["verdict"]["ile_beats_repeat_last_psnr5"] == beats
    assert record["verdict"]["ile_beats_blank_psnr5"] == (ile5 > blank5)
    assert (f"ILE **{'beats' if beats else 'does not beat'}** repeat-last on PSNR "
            f"({ile5:.2f} vs {last5:.2f} dB") in md
    if beats:
        assert f"**{'survives' if ile5 > blank5 else 'does not survive'}**" in md


@pytest.mark.parametrize("ile5, survives", [(15.0, False), (17.0, True), (13.0, None)])
def test_verdict_decides_against_repeat_last_and_the_blank_control(ile5, survives):
    means = {"ile": {"psnr": [0, 0, 0, 0, ile5], "ssim": [0] * 5},
             "repeat-last": {"psnr": [0, 0, 0, 0, 14.0], "ssim": [0] * 5},
             "blank": {"psnr": [0, 0, 0, 0, 16.0], "ssim": [0] * 5}}
    diffs = {"ile - repeat-last @5": {"mean": ile5 - 14.0, "ci95_half_width": 0.1, "clips": 9}}
    out = bench.verdict(means, diffs)
    assert out["ile_beats_repeat_last_psnr5"] == (ile5 > 14.0)
    assert out["paper_claim_survives_blank_control"] == bool(survives)
    if survives is None:
        assert "does not beat** repeat-last" in out["text"] and "survive" not in out["text"]
    else:
        assert ("**survives**" in out["text"]) == survives


def test_blank_row_matches_scikit_image(written):
    from kinema.data import load_dataset

    _, _, record = written
    test = load_dataset("bouncing-digits", "test", num_frames=10, num_videos=4, size=32)
    truth = np.stack([test[i]["video"][bench.CONTEXT_FRAMES].numpy() for i in range(4)])
    expected = np.mean([peak_signal_noise_ratio(t, -np.ones_like(t), data_range=2.0) for t in truth])
    assert record["means"]["blank"]["psnr"][0] == pytest.approx(expected, rel=1e-6)


def test_training_records_and_checkpoint_loading(written):
    root, md, record = written
    mathieu = record["training"]["mathieu"]
    assert mathieu["steps"] == 2 and mathieu["planned_steps"] == 2
    assert mathieu["train_seconds"] > 0 and "2 of 2" in md
    assert record["training"]["ile"]["steps"] is None           # a bare model folder
    final, _ = bench.load_trained(root / "runs" / "mathieu", "baselines.mathieu")
    checkpoint, found = bench.load_trained(
        root / "runs" / "mathieu" / "checkpoints" / "step-000002", "baselines.mathieu")
    assert "checkpoint" in found and bench.training_record(found)["steps"] == 2
    context = torch.rand(2, 5, 1, 32, 32) * 2 - 1
    assert torch.equal(final.predict(context, 2), checkpoint.predict(context, 2))


def test_not_a_model_folder_is_a_clear_error(tmp_path):
    from kinema.errors import KinemaError

    with pytest.raises(KinemaError, match="not a model folder"):
        bench.locate_weights(tmp_path)


def test_registered_in_kinema_bench(written, tmp_path):
    from kinema.bench.benchmarks import run_benchmark

    root, _, _ = written
    md, js = run_benchmark("ile-bouncing-digits", tmp_path, runs=root / "runs", num_videos=2,
                           fit_videos=8, progress=False)
    assert json.loads(js.read_text())["settings"]["num_videos"] == 2
    assert md.name == "ile-bouncing-digits.md"
