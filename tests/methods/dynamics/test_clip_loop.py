"""A seamless loop of a user's own clip (``dynamics.clip.animate_clip``, ``kinema animate --loop
--from-video``): on swaying clips in the paper's frequency regime (K = 16 of the 49 bins of a
96-frame clip), the loop's displacement against the ground truth's truncated Fourier series, its
seam at several lengths against the truth's and against a cut that is not a whole period, the
first frame's pop, and the command's video."""
from __future__ import annotations

import pytest
import torch

from kinema.data.io import read_video, to_uint8, write_video
from kinema.data.spectral import spectral_volume
from kinema.data.synthetic.swaying import Swaying
from kinema.errors import KinemaError
from kinema.methods.dynamics.clip import animate_clip, loop_motion
from kinema.methods.dynamics.motion import motion_at, seam_error, spectral_volume_to_motion
from kinema.methods.dynamics.scores import oscillation_amplitude, seam_scores

PERIOD, K = 96, 16


@pytest.fixture(scope="module")
def clips():
    source = Swaying("test", num_videos=3, num_frames=PERIOD, size=32, min_frequency=0.015, max_frequency=0.06)
    return [source[i] for i in range(len(source))]


@pytest.fixture(scope="module")
def loops(clips):
    return [animate_clip(to_uint8(item["video"]), progress=False) for item in clips]


def _pixel_amplitude(volume: torch.Tensor, period: int) -> torch.Tensor:
    """(k 4 h w) -> (h w): root of the summed squares of the oscillating bins' amplitudes, px."""
    return oscillation_amplitude(volume, period)[1:].square().sum(dim=0).sqrt()


def test_the_loop_is_the_truncated_series_of_the_clips_motion(clips, loops):
    """Per pixel, the loop's oscillation amplitude is the ground truth's (DIS flow at 32 px: median
    relative error under 25 % where the truth moves, mean error under 40 % of the mean amplitude;
    measured 6-16 % and 25-32 %), its trajectories are the truth's series (same phase: the clip's),
    and it has no energy beyond the K kept bins."""
    for i, (item, made) in enumerate(zip(clips, loops)):
        assert made.period == PERIOD and made.video.shape == (PERIOD, 3, 32, 32)
        assert made.motion.shape == (PERIOD, 2, 32, 32)
        full = spectral_volume(made.motion, PERIOD // 2 + 1)          # the loop's own spectrum
        assert full[K:].abs().max() < 1e-4, i                          # the truncated series
        truth = item["spectral_volume"]                                # (K 4 h w), exact
        estimate, true = _pixel_amplitude(full[:K], PERIOD), _pixel_amplitude(truth, PERIOD)
        moving = true > 0.25 * true.max()
        relative = ((estimate - true).abs() / true)[moving]
        assert float(relative.median()) < 0.25, i
        assert float((estimate - true).abs().mean()) < 0.4 * float(true.mean()), i
        truth_series = spectral_volume_to_motion(truth, PERIOD, period=PERIOD)
        error = torch.linalg.vector_norm(made.motion - truth_series, dim=1)[:, moving].mean()
        assert float(error) < 0.5 * float(torch.linalg.vector_norm(truth_series, dim=1)[:, moving].mean()), i


@pytest.mark.parametrize("frames", [PERIOD, 72, 150])
def test_the_loop_closes_at_any_length(clips, loops, frames):
    """``motion.seam_error`` (position + velocity across the wrap) of a loop of ``frames`` frames is
    the truth's own at the same timing (the seam of the band-limited series, which a damped clip
    leaves: measured 0.8-1.3x of it) and the step across the wrap is within 2.5x the mean step
    (measured 1.0-1.8x); ``frames`` frames at one frame per step (a cut, not a whole period) jump
    at the wrap (measured 4-120x the loop's seam)."""
    for i, (item, made) in enumerate(zip(clips, loops)):
        motion = loop_motion(made.volume, PERIOD, frames)
        seam = float(seam_error(made.volume, frames, PERIOD, slowmo=frames / PERIOD))
        scores = seam_scores(motion)
        assert seam == pytest.approx(float(scores["position"] + scores["velocity"]), rel=1e-5)
        truth_seam = float(seam_error(item["spectral_volume"], frames, PERIOD, slowmo=frames / PERIOD))
        assert seam < 1.5 * truth_seam + 0.01, (i, seam, truth_seam)
        assert float(scores["wrap_speed_ratio"]) < 2.5, i
        if frames != PERIOD:
            cut = seam_scores(spectral_volume_to_motion(made.volume, frames, period=PERIOD))
            assert float(cut["position"] + cut["velocity"]) > 2 * seam, i


def test_the_first_frame_pops_as_on_the_learned_path(clips, loops):
    """Frame 0 shows the series at t = 0, not corrected (docs/methods/dynamics.md, "The first
    frame"): the kept bins' pop, close to the ground truth's own 16-bin pop (the full series is 0
    there), and it is what the video shows: frame 0 is the picture splatted by it."""
    from kinema.methods.dynamics.apps import period_weight
    from kinema.methods.dynamics.clip import splatting_renderer

    for i, (item, made) in enumerate(zip(clips, loops)):
        pop = torch.linalg.vector_norm(made.motion[0], dim=0).mean()
        true_pop = torch.linalg.vector_norm(motion_at(item["spectral_volume"], [0.0], PERIOD)[0], dim=0).mean()
        assert torch.allclose(made.motion[0], motion_at(made.volume, [0.0], PERIOD)[0], atol=1e-6)
        assert float(true_pop) > 0.05 and 0.5 < float(pop / true_pop) < 1.5, i
        renderer = splatting_renderer(32, 32)
        weight = period_weight(made.volume[None], PERIOD)
        first = renderer.render(made.picture, made.motion[None, :1], weight)[0, 0]
        assert torch.allclose(made.video[0], first, atol=1e-5), i


def test_slow_motion_and_magnification_of_the_loop(loops):
    made = loops[0]
    slow = loop_motion(made.volume, PERIOD, slowmo=1.5)
    assert slow.shape[0] == 144                                         # one period in 1.5x the frames
    assert torch.allclose(slow[::3], made.motion[::2], atol=1e-5)       # the same times, 2/3 apart
    assert torch.allclose(loop_motion(made.volume, PERIOD, magnify=2.0), 2 * made.motion, atol=1e-5)
    unlooped = loop_motion(made.volume, PERIOD, 72, loop=False)         # the learned path's timing
    assert torch.allclose(unlooped, made.motion[:72], atol=1e-5)


def _run(*argv) -> int:
    from kinema.cli import main

    with pytest.raises(SystemExit) as done:
        main([str(a) for a in argv])
    return done.value.code


@pytest.fixture(scope="module")
def clip_file(clips, tmp_path_factory):
    return write_video(tmp_path_factory.mktemp("clip") / "clip.mp4", clips[0]["video"][:24], fps=25)


def test_animate_loop_from_video_writes_the_loop(clip_file, tmp_path, capsys, monkeypatch):
    """The command's loop of a 24-frame clip: a decodable video of the asked frame count at the
    clip's full resolution, starting at the clip's first frame (up to the pop and the codec) and
    moving; the outputs as any ``kinema animate --method dynamics``. No model is read (there is
    none to read here), and without --method the bundled default's method (dynamics) serves it."""
    monkeypatch.setenv("KINEMA_BUNDLED", str(tmp_path / "no-bundle"))
    first = read_video(clip_file)[0].astype(float)
    for extra, count in ((("--method", "dynamics", "--frames", "20"), 20), (("--slowmo", "1.5"), 36)):
        out = tmp_path / f"loop-{count}"
        assert _run("animate", clip_file, "--loop", "--from-video", *extra, "--out", out) == 0
        video = read_video(out / "animation.mp4")
        assert video.shape == (count, 32, 32, 3)
        assert abs(video[0].astype(float) - first).mean() < 6.0
        assert abs(video[0].astype(float) - video[count // 3].astype(float)).mean() > 0.5
        assert {p.name for p in out.iterdir()} == {"animation.mp4", "preview.gif", "spectral-volume.png",
                                                  "samples.png"}
    assert "about:" not in capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (("--method", "dynamics", "--num", "2"), "takes no --num"),
    (("--method", "dynamics", "--loop", "--frames", "20", "--slowmo", "2"), "--frames or --slowmo, not both"),
    (("--method", "cinn",), "cinn does not support --from-video"),
])
def test_animate_from_video_refuses_what_it_cannot_do(clip_file, tmp_path, capsys, argv, message):
    out = tmp_path / "refused"
    assert _run("animate", clip_file, "--from-video", *argv, "--out", out) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_loop_motion_checks_its_factor(loops):
    with pytest.raises(KinemaError, match="slowmo"):
        loop_motion(loops[0].volume, PERIOD, slowmo=0.0)


@pytest.mark.slow
def test_animate_from_video_renders_with_a_trained_renderer(tiny_bundled_models, clip_file, tmp_path, capsys,
                                                            monkeypatch):
    """``--model`` only renders: the tiny bundled dynamics model's renderer (trained, so its frames
    differ from plain splatting's) at the clip's size, and the about line names it."""
    monkeypatch.setenv("KINEMA_BUNDLED", str(tiny_bundled_models))
    for model, out in ((["--model", "dynamics"], tmp_path / "model"), ([], tmp_path / "splat")):
        assert _run("animate", clip_file, "--loop", "--from-video", *model, "--frames", "12", "--out", out) == 0
    err = capsys.readouterr().err
    assert err.count("about: bundled dynamics: dynamics-render (tiny)") == 1
    rendered, splatted = (read_video(tmp_path / name / "animation.mp4") for name in ("model", "splat"))
    assert rendered.shape == splatted.shape == (12, 32, 32, 3)
    assert abs(rendered.astype(float) - splatted.astype(float)).mean() > 0.5
