"""The whole image-to-video sampler (renderer + embedded motion model) and its commands:
``kinema animate --method dynamics`` and ``kinema poke``, their outputs, and bad inputs that
give one error line and leave no output."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from kinema.errors import KinemaError


@pytest.fixture(scope="module")
def sampler(tiny_runs):
    """A tiny dynamics-render run (4 steps) naming the tiny stage-B run."""
    from kinema.methods.dynamics.config import render_recipe
    from kinema.train.recipes import train_recipe

    recipe = render_recipe("tiny")
    recipe.data.options["cache_dir"] = str(tiny_runs["cache"])
    recipe.model.attention_path = str(tiny_runs["attention"])
    run = tiny_runs["attention"].parent / "render"
    if not (run / "model").is_dir():
        train_recipe(recipe, run, tensorboard=False, progress=False)
    return run


@pytest.fixture
def picture(tmp_path):
    path = tmp_path / "picture.png"
    Image.fromarray((np.random.default_rng(0).random((40, 50, 3)) * 255).astype(np.uint8)).save(path)
    return path


def _run(*argv) -> int:
    from kinema.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main([str(a) for a in argv])
    return exit_info.value.code


def test_saved_sampler_embeds_the_motion_model_untouched_by_training(sampler, tiny_runs):
    from kinema.methods.dynamics.apps import load_sampler
    from kinema.pretrained import load_pretrained
    from kinema.stages import built_from

    renderer = load_sampler(sampler)
    motion = load_pretrained(tiny_runs["attention"] / "model")
    assert renderer.config.motion_stage == "dynamics-attention"
    assert built_from(sampler / "model")["attention_path"]["stage"] == "dynamics-attention"
    own = {id(p) for p in renderer.parameter_groups()["model"]}
    assert not own & {id(p) for p in renderer.motion.parameters()}
    # the renderer trained 4 steps; the motion weights it carries are the stage-B run's
    for name, value in motion.state_dict().items():
        assert torch.equal(renderer.motion.state_dict()[name], value), name


def test_animate_writes_video_gif_and_spectral_picture(sampler, picture, tmp_path):
    from kinema.data.io import read_video

    out = tmp_path / "clip.mp4"
    assert _run("animate", picture, "--method", "dynamics", "--model", sampler, "--slowmo", 2,
                "--magnify", 1.5, "--seed", 3, "--out", out) == 0
    names = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("clip"))
    assert names == ["clip-preview.gif", "clip-samples.png", "clip-spectral-volume.png", "clip.mp4"]
    period = 8                                                   # the tiny preset's clips
    assert len(read_video(out)) == 2 * period                  # slow motion: twice the frames
    spectral = np.asarray(Image.open(tmp_path / "clip-spectral-volume.png"))
    assert spectral.shape[1] > spectral.shape[0]               # a row of 4 frequencies
    # samples.png: the input picture (as the model sees it) first, then 12 frames, 2-px gaps
    from kinema.data.pictures import picture_to_model
    seen = ((picture_to_model(picture, 3, (16, 16))[0].permute(1, 2, 0).numpy() + 1) * 127.5)
    strip = np.asarray(Image.open(tmp_path / "clip-samples.png").convert("RGB")).astype(float)
    k = strip.shape[0] // 16
    assert strip.shape[1] == k * (13 * 16 + 12 * 2)
    assert np.abs(strip[:16 * k:k, :16 * k:k] - seen).max() <= 1.0


@pytest.mark.slow
def test_slow_motion_and_magnification_change_the_motion_texture(sampler):
    from kinema.methods.dynamics.apps import animate, load_sampler

    renderer = load_sampler(sampler)
    image = torch.rand(1, 3, 16, 16) * 2 - 1
    plain, volume = animate(renderer, image, seed=1, progress=False)
    slow, slow_volume = animate(renderer, image, seed=1, slowmo=2.0, progress=False)
    assert plain.shape[1] == 8 and slow.shape[1] == 16
    assert torch.equal(volume, slow_volume)                     # same seed: the same spectral volume
    # frame 2i of the slow video is time i: frame i of the plain one
    assert torch.allclose(slow[:, ::2], plain, atol=1e-5)
    none, _ = animate(renderer, image, seed=1, magnify=0.0, progress=False)
    still = renderer.render(image, torch.zeros(1, 8, 2, 16, 16), torch.zeros(1, 1, 16, 16))
    assert torch.allclose(none, still, atol=1e-6)               # magnify 0: no motion at all
    double, _ = animate(renderer, image, seed=1, magnify=2.0, progress=False)
    assert (double - still).abs().mean() > (plain - still).abs().mean()


def test_poke_writes_outputs_and_a_poke_outside_writes_nothing(sampler, picture, tmp_path):
    out = tmp_path / "poked"
    assert _run("poke", picture, "--model", sampler, "--at", "3,4", "--force", "1.5,0", "--frames", 6,
                "--out", out) == 0
    assert sorted(p.name for p in out.iterdir()) == ["poke.mp4", "preview.gif", "spectral-volume.png"]
    outside = tmp_path / "outside"
    assert _run("poke", picture, "--model", sampler, "--at", "30,4", "--force", "1,0", "--out", outside) == 2
    assert not outside.exists()
    assert _run("poke", picture, "--model", sampler, "--at", "3", "--force", "1,0", "--out", outside) == 2
    assert not outside.exists()


@pytest.mark.parametrize("content", ["tiny", "text"])
def test_a_bad_picture_is_one_error_and_no_output(sampler, tmp_path, capsys, content):
    bad = tmp_path / "bad.png"
    if content == "tiny":
        Image.fromarray(np.zeros((2, 2, 3), np.uint8)).save(bad)
    else:
        bad.write_text("not a picture")
    out = tmp_path / "never"
    assert _run("animate", bad, "--method", "dynamics", "--model", sampler, "--out", out) == 2
    assert not out.exists()
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "bad.png" in errors[0]


def test_a_motion_stage_or_missing_folder_is_refused(tiny_runs, picture, tmp_path):
    from kinema.methods.dynamics.apps import load_sampler

    with pytest.raises(KinemaError, match="not the image-to-video sampler"):
        load_sampler(tiny_runs["attention"])
    assert _run("animate", picture, "--method", "dynamics", "--model", tmp_path / "no-run",
                "--out", tmp_path / "x") == 2
    assert not (tmp_path / "x").exists()


def test_a_missing_motion_stage_names_the_command_that_makes_it(tmp_path):
    from kinema.methods.dynamics.config import render_config
    from kinema.methods.dynamics.render import ImageRenderer

    config = render_config("tiny")
    config.attention_path = str(tmp_path / "dynamics-attention-tiny")
    with pytest.raises(KinemaError, match="kinema train dynamics-attention --preset tiny"):
        ImageRenderer(config)


def test_spectral_volume_picture_shows_amplitude_and_flow_colours():
    from kinema.methods.dynamics.apps import spectral_volume_picture
    from kinema.viz.flow_colors import flow_to_color

    volume = torch.zeros(3, 4, 5, 6)
    volume[1, 0, 2, 3] = 2.0                                     # bin 1: Re dx = 2 at (x=3, y=2)
    volume[2, 1] = 0.5                                           # bin 2: Re dy = 0.5 everywhere
    picture = spectral_volume_picture(volume)
    assert picture.shape == (2 * 5 + 2, 3 * 8 - 2, 3)
    block = picture[:5, 8:14, 0]                                 # amplitude of bin 1
    assert block[2, 3] == 255 and block.sum() == 255
    assert (picture[:5, 16:22] == 255).all()                     # bin 2: uniform, at its maximum
    assert np.array_equal(picture[7:, 8:14], flow_to_color(volume[1, :2].numpy(), max_magnitude=2.0))


def test_a_loop_is_sampled_by_ddim_with_self_recurrence_by_default(sampler, monkeypatch):
    """With DPM-Solver++'s large steps self-guidance overshoots on a trained model
    (benchmarks/dynamics-loops.md): a loop without a sampler given is DDIM, LOOP_STEPS steps,
    2 self-recurrences; a plain animation stays on the fast sampler. (LOOP_STEPS is lowered to 4
    here: the wiring is the same at 50, which took 20 s of the default suite.)"""
    from kinema.methods.dynamics import sampling
    from kinema.methods.dynamics.apps import animate, load_sampler
    from kinema.methods.dynamics.sampling import predict_spectral_volume

    assert sampling.LOOP_STEPS == 50 and sampling.LOOP_SAMPLER == "ddim"
    monkeypatch.setattr(sampling, "LOOP_STEPS", 4)
    LOOP_STEPS = sampling.LOOP_STEPS
    renderer = load_sampler(sampler)
    image = torch.rand(1, 3, 16, 16) * 2 - 1
    _, looped = animate(renderer, image, num_frames=6, seed=2, loop=True, progress=False)
    paper = predict_spectral_volume(renderer.motion, image, seed=2, sampler="ddim", steps=LOOP_STEPS, loop=True,
                                    loop_frames=6, recurrence=2, progress=False)[0]
    fast = predict_spectral_volume(renderer.motion, image, seed=2, sampler="dpm", loop=True, loop_frames=6,
                                   progress=False)[0]
    assert torch.allclose(looped, paper, atol=1e-5) and not torch.allclose(looped, fast, atol=1e-3)
    _, plain = animate(renderer, image, seed=2, progress=False)
    assert torch.allclose(plain, predict_spectral_volume(renderer.motion, image, seed=2, sampler="dpm",
                                                         progress=False)[0], atol=1e-5)


def test_the_python_pipeline_loads_the_sampler_folder(sampler, picture):
    """``kinema.pipelines.load`` on the folder ``kinema animate`` reads: the renderer says its
    input (RGB at the motion model's size, one period of frames by default)."""
    import kinema.pipelines

    pipe = kinema.pipelines.load(sampler)
    assert pipe.spec == {"channels": 3, "size": (16, 16), "num_frames": 8}
    result = pipe(picture, num_samples=2, seed=1)
    assert result.frames_float.shape == (2, 8, 3, 16, 16)
    assert torch.isfinite(result.frames_float).all()
    assert not torch.equal(result.frames_float[0], result.frames_float[1])     # two spectral volumes, two motions
