"""A clip as its own motion model (``dynamics.clip``, ``kinema poke --from-video``): the modal
basis from DIS flow of a swaying clip against the clip's ground-truth basis, and the command."""
from __future__ import annotations

import pytest
import torch

from kinema.data.io import to_uint8, write_video
from kinema.data.synthetic.swaying import Swaying
from kinema.errors import KinemaError
from kinema.methods.dynamics.clip import clip_motion
from kinema.methods.dynamics.modal import modal_basis


@pytest.fixture(scope="module")
def clips():
    source = Swaying("test", num_videos=4, num_frames=48, size=32, min_frequency=0.03, max_frequency=0.08)
    return [source[i] for i in range(len(source))]


def _norms(basis):
    return basis.shapes.abs().square().sum(dim=(1, 2, 3)).sqrt()


def _correlation(a, b) -> torch.Tensor:
    """|<Phi_a, Phi_b>| / (|Phi_a| |Phi_b|) per mode: 1 for the same complex shape up to a scale."""
    return (a.shapes.conj() * b.shapes).sum(dim=(1, 2, 3)).abs() / (_norms(a) * _norms(b))


def test_a_clips_modal_basis_is_its_ground_truth_basis(clips):
    for i, item in enumerate(clips):
        picture, volume, period = clip_motion(to_uint8(item["video"]), progress=False)
        assert period == 48 and volume.shape == (16, 4, 32, 32)
        assert torch.allclose(picture[0], item["image"], atol=1 / 127.5)    # the first frame, 8 bits
        truth = modal_basis(item["spectral_volume"], period, num_modes=2)
        estimate = modal_basis(volume, period, bins=truth.bins)
        assert (_correlation(estimate, truth) > 0.85).all(), i
        # the relative amplitude of the two modes survives the flow
        ratio = (_norms(estimate)[1] / _norms(estimate)[0]) / (_norms(truth)[1] / _norms(truth)[0])
        assert 0.75 < float(ratio) < 1.33, i
        # and it is this clip's basis: the other pictures' shapes at these bins fit it worse
        own = float(_correlation(estimate, truth).mean())
        for j, other in enumerate(clips):
            if j != i:
                others = modal_basis(other["spectral_volume"], period, bins=truth.bins)
                assert float(_correlation(estimate, others).mean()) < own - 0.1, (i, j)


def test_poke_from_video_writes_the_poke_of_the_first_frame(clips, tmp_path):
    from kinema.cli import main
    from kinema.data.io import read_video

    clip = write_video(tmp_path / "clip.mp4", clips[0]["video"], fps=25)
    out = tmp_path / "poke"
    with pytest.raises(SystemExit) as done:
        main(["poke", str(clip), "--from-video", "--at", "16,20", "--force", "2,0", "--frames", "6",
              "--out", str(out)])
    assert done.value.code == 0
    video = read_video(out / "poke.mp4")
    assert video.shape == (6, 32, 32, 3)
    assert (out / "spectral-volume.png").is_file()
    assert abs(video[0].astype(float) - video[5].astype(float)).mean() > 0.5       # the poke moves it


def test_poke_needs_a_model_or_a_clip(clips, tmp_path, capsys, monkeypatch):
    """Without --model a picture is poked by the bundled dynamics model; where that is missing
    (an empty KINEMA_BUNDLED here), the error names it and --model."""
    from kinema.cli import main

    from PIL import Image

    picture = tmp_path / "picture.png"
    Image.fromarray(to_uint8(clips[0]["video"][:1])[0]).save(picture)
    monkeypatch.setenv("KINEMA_BUNDLED", str(tmp_path / "no-bundle"))
    with pytest.raises(SystemExit) as done:
        main(["poke", str(picture), "--at", "3,3", "--force", "1,0", "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert done.value.code == 2 and "the bundled model 'dynamics' is missing" in err and "--model" in err
    assert not (tmp_path / "out").exists()
    from kinema.methods.dynamics.cli import poke

    with pytest.raises(KinemaError, match="--from-video"):    # poke() itself, from Python
        poke(picture, None, tmp_path / "out", (3, 3), (1, 0))
    with pytest.raises(KinemaError, match="at least 4 frames"):
        clip_motion(to_uint8(clips[0]["video"][:3]))
