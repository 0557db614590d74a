import pytest
import torch

from kinema.errors import KinemaError
from kinema.methods.baselines.config import (RepeatLastConfig, dynamic_texture_recipe,
                                             mathieu_recipe, repeat_last_recipe)
from kinema.methods.baselines.repeat_last import RepeatLastFrame
from kinema.registry import method_entry, resolve
from kinema.tasks import Generation, ImageToVideo, Prediction


def test_predict_repeats_the_last_context_frame():
    context = torch.rand(2, 3, 1, 8, 8) * 2 - 1
    out = RepeatLastFrame().predict(context, num_frames=4, num_samples=3)
    assert out.shape == (2, 3, 4, 1, 8, 8)
    for n in range(3):
        for t in range(4):
            assert torch.equal(out[:, n, t], context[:, -1])


def test_sample_repeats_x0():
    x0 = torch.rand(2, 3, 6, 5) * 2 - 1
    out = RepeatLastFrame().sample(x0, num_frames=3, num_samples=2)
    assert out.shape == (2, 2, 3, 3, 6, 5)
    assert torch.equal(out[1, 1, 2], x0[1])


def test_generate_needs_a_fit_then_repeats_a_dataset_frame(tmp_path):
    model = RepeatLastFrame(RepeatLastConfig(height=4, width=4, bank_size=5))
    with pytest.raises(KinemaError, match="fit"):
        model.generate(2, 3)
    videos = torch.rand(3, 4, 1, 4, 4) * 2 - 1
    dataset = [{"video": v} for v in videos]
    model.fit(dataset, progress=False)
    out = model.generate(6, 3, generator=torch.Generator().manual_seed(1))
    assert out.shape == (6, 3, 1, 4, 4)
    frames = videos.reshape(-1, 1, 4, 4)
    for video in out:
        assert all(torch.equal(video[t], video[0]) for t in range(3))      # a still video
        assert any(torch.equal(video[0], f) for f in frames)               # a real frame
    model.save_pretrained(tmp_path / "m")
    loaded = RepeatLastFrame.from_pretrained(tmp_path / "m")
    again = loaded.generate(6, 3, generator=torch.Generator().manual_seed(1))
    assert torch.equal(out, again)


def test_fit_rejects_frames_of_another_size():
    model = RepeatLastFrame(RepeatLastConfig(height=4, width=4, bank_size=2))
    with pytest.raises(KinemaError, match="c h w"):
        model.fit(torch.zeros(2, 3, 1, 5, 5), progress=False)


def test_bad_inputs_give_clear_errors():
    with pytest.raises(KinemaError, match="context"):
        RepeatLastFrame().predict(torch.zeros(2, 1, 4, 4), 3)
    with pytest.raises(KinemaError, match="num_frames"):
        RepeatLastFrame().predict(torch.zeros(2, 1, 1, 4, 4), 0)


def test_registry_entries_resolve_and_serve_their_tasks():
    protocols = {"Prediction": Prediction, "ImageToVideo": ImageToVideo,
                 "Generation": Generation}
    for name, recipe_fn in [("baselines.repeat-last", repeat_last_recipe),
                            ("baselines.dynamic-texture", dynamic_texture_recipe),
                            ("baselines.mathieu", mathieu_recipe)]:
        entry = method_entry(name)
        assert resolve(entry.recipe) is recipe_fn
        cls = resolve(entry.model_class)
        for preset in ("tiny", "small", "paper"):
            recipe = recipe_fn(preset)
            assert recipe.method == name and isinstance(recipe.model, cls.config_class)
        model = cls(recipe_fn("tiny").model)
        for task in entry.tasks:
            assert isinstance(model, protocols[task])
    with pytest.raises(KinemaError, match="preset"):
        repeat_last_recipe("huge")
