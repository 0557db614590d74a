"""ILE's evaluation loop and pictures on a tiny model and tiny bouncing digits."""
import dataclasses

import numpy as np
import pytest
import torch
from PIL import Image
from skimage.metrics import peak_signal_noise_ratio

from kinema.data import load_dataset
from kinema.methods.ile.apps import evaluate_prediction, save_pictures, score_table
from kinema.methods.ile.config import ile_config
from kinema.methods.ile.model import ILE
from kinema.methods.ile.viz import eigenvalue_figure


def test_evaluate_prediction_scores_and_baseline():
    torch.manual_seed(0)
    model = ILE(dataclasses.replace(ile_config("tiny"), image_size=16))     # SSIM needs >= 11 px
    dataset = load_dataset("bouncing-digits", "test", num_frames=5, size=16, num_videos=3)
    result = evaluate_prediction(model, dataset, context=2, horizon=3, num_clips=3, batch_size=2,
                                 num_samples=2, generator=torch.Generator().manual_seed(0))
    assert len(result["ile/psnr"]) == 3 and result["clips"] == 3
    # the repeat-last-frame row, recomputed independently with scikit-image
    reference = []
    for i in range(3):
        video = dataset[i]["video"].numpy()
        reference.append([peak_signal_noise_ratio(video[2 + s], video[1], data_range=2.0)
                          for s in range(3)])
    assert np.allclose(result["repeat-last-frame/psnr"], np.mean(reference, 0), atol=1e-4)
    assert all(np.isfinite(result[k]).all() for k in result if "/" in k)
    assert 0 < result["objective_bits_per_dim"] < 16
    assert np.isfinite(result["predictive_objective_bits_per_dim"])
    assert "| repeat-last-frame |" in score_table(result, frames=(1, 3))


def test_evaluation_reports_the_held_out_likelihood_of_the_variant_without_scale_layer():
    model = ILE(dataclasses.replace(ile_config("tiny"), image_size=16, scale_layer=False))
    dataset = load_dataset("bouncing-digits", "test", num_frames=5, size=16, num_videos=3)
    torch.manual_seed(4)
    result = evaluate_prediction(model, dataset, context=2, horizon=3, num_clips=3, batch_size=3)
    video = torch.stack([dataset[i]["video"] for i in range(3)])
    torch.manual_seed(4)                     # the same dequantisation noise, drawn in the same order
    model.objective(video, dequantize=True, context_frames=2)
    expected = model.conditional_likelihood(video, context_frames=2)["conditional_bits_per_dim"]
    assert abs(result["conditional_bits_per_dim"] - expected.item()) < 1e-6
    with_scale = evaluate_prediction(ILE(dataclasses.replace(ile_config("tiny"), image_size=16)),
                                     dataset, context=2, horizon=3, num_clips=3, batch_size=3)
    assert "conditional_bits_per_dim" not in with_scale     # no likelihood to report


def test_pictures_are_written(tmp_path):
    torch.manual_seed(0)
    model = ILE(ile_config("tiny"))
    video = torch.rand(2, 5, 1, 8, 8) * 2 - 1
    paths = save_pictures(model, video, context=2, out_dir=tmp_path, num_samples=2)
    from kinema.methods.ile.viz import to_uint8, upscale, xt_figure

    cell = lambda frame: upscale(to_uint8(frame), 3)      # noqa: E731  one 8 px frame at scale 3
    mean = model.predict(video[:, :2], 3)[:, 0]           # (b t c h w)
    image = np.asarray(Image.open(paths["predictions"]))
    # clip 0, row 1: the context then the truth; row 2: grey under the context, then the mean.
    # Cells are 24 px with 6 px gaps, rows 12 px apart.
    assert np.array_equal(image[:24, :24], cell(video[0, 0]))
    assert np.array_equal(image[:24, 60:84], cell(video[0, 2]))          # the first true future frame
    assert (image[36:60, :24] == 128).all()
    assert np.array_equal(image[36:60, 60:84], cell(mean[0, 0]))
    # clip 0's X-t slices come first, then an 8 px white gap before clip 1's
    slices = np.asarray(Image.open(paths["xt_slices"]))
    first = xt_figure(video[0, :2], video[0, 2:], mean[0])
    assert np.array_equal(slices[:, :first.shape[1]], first)
    assert (slices[:, first.shape[1]:first.shape[1] + 8] == 255).all()
    assert np.array_equal(np.asarray(Image.open(paths["eigenvalues"])),
                          eigenvalue_figure(model.system.eigenvalues()))


def test_eigenvalue_figure_marks_points_on_the_circle():
    image = eigenvalue_figure(torch.tensor([1.0 + 0j, -1.0 + 0j]), size=100)
    red = (image[..., 0] > 150) & (image[..., 1] < 80)
    ys, xs = np.nonzero(red)
    # size 100, margin 20: centre 50, radius 30 -> dots centred at x = 20 and x = 80, y = 50
    assert abs(xs[xs < 50].mean() - 20) < 1 and abs(xs[xs > 50].mean() - 80) < 1
    assert abs(ys.mean() - 50) < 1


def test_demo_stage_shows_the_bundled_model_and_scores_it_beside_the_still_baseline(tmp_path, monkeypatch):
    from kinema.methods.ile.demo import demo_section
    from kinema.metrics.psnr_ssim import psnr
    from kinema.viz.report import Report
    from kinema.viz.sections import DemoContext, DemoSettings, load_clips
    from tests.demo_bundle import ILE_SIZE, demo_bundle

    bundle = demo_bundle(None, tmp_path / "tiny")                  # a tiny ILE (16 px) alone
    monkeypatch.setenv("KINEMA_BUNDLED", str(bundle))
    settings = DemoSettings.make(quick=True)
    ctx = DemoContext(settings, tmp_path, Report("test"))
    demo_section(ctx)
    assert ctx.models == [{"name": "ile", "folder": str(bundle / "ile")}]
    # 16 px is not the baselines' 32: the section scores the still baseline on its own clips
    dataset = f"bouncing-digits ({ILE_SIZE} px, {ILE(ile_config('tiny')).config.context_frames} context frames)"
    rows = {row["method"]: row for row in ctx.scores}
    assert list(rows) == ["ILE (mean)", "ILE (one sample)", "repeat last frame"]
    assert all(row["dataset"] == dataset for row in ctx.scores)
    assert all(np.isfinite(row["PSNR (dB)"]) and np.isfinite(row["SSIM"]) for row in ctx.scores)
    k, n = ILE(ile_config("tiny")).config.context_frames, settings.predicted_frames
    clips = load_clips("bouncing-digits", "test", settings.eval_clips, num_videos=settings.eval_clips,
                       num_frames=k + n, size=ILE_SIZE)
    still = clips[:, k - 1:k].expand(-1, n, -1, -1, -1)
    assert rows["repeat last frame"]["PSNR (dB)"] == pytest.approx(float(psnr(still, clips[:, k:]).mean()))
    html = ctx.report.to_html()
    assert "ILE on bouncing-digits" in html and "bundled ile: ile (tiny), 16x16, trained" in html


def test_load_ile_from_model_folder_and_checkpoint(tmp_path):
    import json

    from safetensors.torch import save_file

    from kinema.config import Recipe
    from kinema.errors import KinemaError
    from kinema.methods.ile.apps import load_ile

    model = ILE(ile_config("tiny"))
    model.save_pretrained(tmp_path / "run" / "model")
    assert load_ile(tmp_path / "run").config == model.config
    ckpt = tmp_path / "run2" / "checkpoints" / "step-000003"
    ckpt.mkdir(parents=True)
    (ckpt.parent / "latest").write_text("step-000003")
    (ckpt / "recipe.json").write_text(json.dumps(
        Recipe("ile", "tiny", ile_config("tiny")).to_dict()))
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(ckpt / "model.safetensors"))
    loaded = load_ile(tmp_path / "run2")
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), loaded.state_dict().values()))
    with pytest.raises(KinemaError):
        load_ile(tmp_path)


def test_apps_command_line_end_to_end_and_user_mistakes(tmp_path, capsys):
    """``python -m kinema.methods.ile.apps``: scores + pictures on a 16 px model; a user
    mistake prints one ``error:`` line (no traceback) and exits 2, as ``kinema`` does."""
    import json

    from kinema.methods.ile.apps import main

    model = ILE(dataclasses.replace(ile_config("tiny"), image_size=16))
    model.save_pretrained(tmp_path / "model")
    main(["--model", str(tmp_path / "model"), "--clips", "2", "--horizon", "2", "--samples", "1",
          "--out", str(tmp_path / "out")])
    scores = json.loads((tmp_path / "out" / "scores.json").read_text())
    assert scores["clips"] == 2 and len(scores["ile/psnr"]) == 2
    assert (tmp_path / "out" / "eigenvalues.png").is_file()
    capsys.readouterr()
    for argv in (["--model", str(tmp_path / "missing")],
                 ["--model", str(tmp_path / "model"), "--clips", "0"],
                 ["--model", str(tmp_path / "model"), "--samples", "-1"],
                 ["--model", str(tmp_path / "model"), "--dataset", "no-such-data"]):
        with pytest.raises(SystemExit) as exit_info:
            main(argv + ["--out", str(tmp_path / "bad")])
        assert exit_info.value.code == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and "Traceback" not in err, err


def test_bench_memory_rejects_bad_sizes_before_starting_subprocesses(capsys):
    from kinema.methods.ile.bench_memory import main

    for argv in (["--image-size=12"], ["--state-dim=3"], ["--image-size=16", "--steps=0"]):
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        assert exit_info.value.code == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and "running" not in err, err
