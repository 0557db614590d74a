"""kinema bundle export: the bundle of a tiny trained run loads, its 16-bit weights give the output
the fidelity check measured, integer buffers are untouched, a model whose output 16-bit storage
changes stays float32, and the card says what the run says."""
from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open

from kinema.bundled import BY_NAME, MAKE_TARGET
from kinema.errors import KinemaError
from tests.bundled.conftest import export_quickly


def tensors(file) -> dict[str, torch.Tensor]:
    with safe_open(str(file), framework="pt") as handle:
        return {k: handle.get_tensor(k) for k in handle.keys()}


def last_line(file) -> dict:
    return json.loads(file.read_text().strip().splitlines()[-1])


# ------------------------------------------------------------------------------ the pieces

def test_rounded_state_rounds_floats_through_float16_and_keeps_integers():
    from kinema.bundled.export import rounded_state, storage_state

    weight = torch.tensor([1.0 + 2 ** -12, 3.14159265, 1e-8])      # below float16's resolution
    perm = torch.tensor([2, 0, 1])
    flag = torch.tensor(True)
    rounded = rounded_state({"w": weight, "perm": perm, "flag": flag})
    assert rounded["perm"] is perm and rounded["flag"] is flag
    assert rounded["w"].dtype == torch.float32
    assert rounded["w"].tolist() == [1.0, float(np.float16(3.14159265)), float(np.float16(1e-8))]
    stored = storage_state({"w": weight, "perm": perm, "theta": weight.double()}, torch.float16)
    assert stored["w"].dtype == stored["theta"].dtype == torch.float16
    assert stored["perm"].dtype == torch.int64 and torch.equal(stored["perm"], perm)
    kept = storage_state({"w": weight, "theta": weight.double()}, None)
    assert kept["w"].dtype == torch.float32 and kept["theta"].dtype == torch.float64


def test_psnr_is_scikit_images_and_infinite_for_equal_frames():
    from skimage.metrics import peak_signal_noise_ratio

    from kinema.bundled.export import psnr_uint8

    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (2, 4, 8, 8, 3), dtype=np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-3, 4, a.shape), 0, 255).astype(np.uint8)
    assert psnr_uint8(a, b) == pytest.approx(peak_signal_noise_ratio(a, b, data_range=255), abs=1e-9)
    assert math.isinf(psnr_uint8(a, a.copy()))


def test_fits_float16_refuses_weights_beyond_its_range():
    from kinema.bundled.export import fits_float16

    assert fits_float16({"w": torch.tensor([65504.0, -1e-9]), "i": torch.tensor([10 ** 9])})
    assert not fits_float16({"w": torch.tensor([70000.0])})


def test_standalone_recipe_follows_an_earlier_runs_output_to_its_source(tmp_path):
    from kinema.bundled.export import standalone_recipe

    embed = tmp_path / "runs" / "latentgan-embed-small"
    embed.mkdir(parents=True)
    source = {"name": "actors", "options": {"num_frames": 100, "size": 32}, "split": "train"}
    (embed / "recipe.json").write_text(json.dumps({"data": source}))
    windows = {"name": "kinema.methods.latentgan.embed:EmbeddingWindows",
               "options": {"path": str(embed), "window": 25}, "split": "train"}
    made = standalone_recipe({"preset": "small", "data": windows})
    assert made["data"] == {"name": "actors", "options": {"num_frames": 100, "size": 32},
                            "split": "train"}
    assert made["data_as_trained"] == windows and made["preset"] == "small"
    plain = {"preset": "small", "data": {"name": "clouds", "options": {"size": 32}}}
    assert standalone_recipe(plain) is plain


def test_held_out_data_of_a_list_takes_each_sources_clips_in_turn():
    """A run trained on several sources (the real-footage renderer's clips) is checked and
    benchmarked on held-out clips of every one: the first, then the second, ..."""
    from kinema.bundled.export import Interleaved, held_out_data
    from kinema.data import load_dataset
    from tests.picture_sources import VIDEOS

    sources = ["tests.picture_sources:Smooth", "tests.picture_sources:GrainWithoutTest"]
    clips = held_out_data(sources, {"size": 8}, 3, num_frames=4)
    smooth = load_dataset(sources[0], "test", size=8, num_frames=4)
    grain = load_dataset(sources[1], "train", size=8, num_frames=4)        # no test split: its train split
    assert len(clips) == VIDEOS["test"] + VIDEOS["train"]
    for index, expected in enumerate([smooth[0], grain[0], smooth[1], grain[1]]):
        torch.testing.assert_close(clips[index]["video"], expected["video"])
    assert clips[0]["video"].shape == (4, 3, 8, 8)
    assert [Interleaved([[1, 2, 3], [10], []])[i] for i in range(4)] == [1, 10, 2, 3]
    with pytest.raises(KinemaError, match="empty list"):
        held_out_data([], {}, 3)


# ------------------------------------------------------------------------------ the bundle

def test_bundle_holds_the_runs_files(tiny_runs, tiny_bundle):
    bundle, cards = tiny_bundle
    for name, card in cards.items():
        run, folder = tiny_runs / BY_NAME[name].run, bundle / name
        assert sorted(p.name for p in folder.iterdir()) == [
            "card.json", "card.md", "config.json", "domain.json", "metrics.jsonl",
            "model.safetensors", "recipe.json"]
        assert (folder / "config.json").read_text() == (run / "model" / "config.json").read_text()
        assert json.loads((folder / "recipe.json").read_text()) == json.loads((run / "recipe.json").read_text())
        assert (folder / "metrics.jsonl").read_text().count("\n") == 1
        assert last_line(folder / "metrics.jsonl") == last_line(run / "metrics.jsonl")
        assert json.loads((folder / "card.json").read_text()) == card


def test_16bit_weights_and_untouched_integer_buffers(tiny_runs, tiny_bundle):
    bundle, cards = tiny_bundle
    assert {card["storage"] for card in cards.values()} == {"float16"}     # tiny models pass
    for name in cards:
        stored = tensors(bundle / name / "model.safetensors")
        trained = tensors(tiny_runs / BY_NAME[name].run / "model" / "model.safetensors")
        assert stored.keys() == trained.keys()
        for key, value in trained.items():
            if value.is_floating_point():
                assert stored[key].dtype == torch.float16, key
                assert torch.equal(stored[key], value.to(torch.float16)), key
            else:
                assert stored[key].dtype == value.dtype and torch.equal(stored[key], value), key
    assert any(not v.is_floating_point() for v in tensors(bundle / "ile" / "model.safetensors").values())


def test_bundle_output_is_the_float32_output_within_the_measured_fidelity(tiny_runs, tiny_bundle):
    """The bundle's pipeline (16-bit weights upcast on loading) against the run's (float32), on
    the check's own input: the PSNR the card records, and at least 40 dB."""
    import kinema.pipelines as pipelines
    from kinema.bundled.export import FIDELITY_MIN_PSNR, held_out_clip, pipeline_output, psnr_uint8
    from kinema.provenance import read_recipe

    bundle, cards = tiny_bundle
    for name, card in cards.items():
        run = tiny_runs / BY_NAME[name].run / "model"
        full, bundled = pipelines.load(run), pipelines.load(bundle / name)
        full.folder = None          # as the check runs it: frames only, no provenance line
        assert all(p.dtype == torch.float32 for p in bundled.model.parameters()
                   if p.dtype != torch.float64)
        frames = bundled.spec.get("num_frames") if bundled.task == "ImageToVideo" else None
        clip = None if bundled.task == "Generation" else held_out_clip(read_recipe(run), frames)
        reference, said = pipeline_output(full, clip)
        psnr = psnr_uint8(reference, pipeline_output(bundled, clip)[0])
        assert said == card["fidelity"]["input"] and card["fidelity"]["task"] == bundled.task
        assert psnr >= FIDELITY_MIN_PSNR
        recorded = card["fidelity"]["psnr_db"]
        assert math.isinf(psnr) if card["fidelity"]["identical"] else psnr == pytest.approx(recorded, abs=1e-3)


def test_card_says_what_the_run_says(tiny_runs, tiny_bundle):
    bundle, cards = tiny_bundle
    for name, card in cards.items():
        run = tiny_runs / BY_NAME[name].run
        recipe = json.loads((run / "recipe.json").read_text())
        assert card["steps"] == last_line(run / "metrics.jsonl")["step"] == recipe["train"]["steps"]
        assert card["preset"] == recipe["preset"]
        assert card["batch_size"] == recipe["train"]["batch_size"]
        assert card["data"]["source"] == recipe["data"]["name"]
        assert card["data"]["options"] == recipe["data"]["options"]
        assert card["verbs"] == list(BY_NAME[name].verbs) and card["limits"] == BY_NAME[name].limits
        assert card["weights_mb"] == round((bundle / name / "model.safetensors").stat().st_size / 1e6, 3)
        assert card["benchmark"] is None
    chain = cards["cinn"]["training_chain"]
    assert [s["stage"] for s in chain] == ["cinn-autoencoder", "cinn-image-encoder", "cinn-flow"]
    times = [last_line(tiny_runs / r / "metrics.jsonl")["time"] for r in
             ("cinn-autoencoder-tiny-clouds", "cinn-image-encoder-tiny-clouds", "cinn-flow-small-clouds")]
    assert [s["seconds"] for s in chain] == times
    assert cards["cinn"]["training_seconds"] == round(sum(times), 1)
    assert [s["stage"] for s in cards["gendef"]["training_chain"]] == ["gendef-image", "gendef-video"]
    text = (bundle / "cinn" / "card.md").read_text()
    assert f"preset `{cards['cinn']['preset']}`" in text and f"Steps: {cards['cinn']['steps']}" in text
    assert f"PSNR {cards['cinn']['fidelity']['psnr_db']:.1f} dB" in text
    assert BY_NAME["cinn"].limits in text and "Not measured yet" in text


def test_training_time_is_unknown_when_a_stage_logged_none(tiny_runs, tmp_path):
    """Runs moved elsewhere (the recorded stage paths gone) are found by name under --runs; a
    stage without metrics.jsonl makes the chain's time unknown, never a partial sum."""
    runs = tmp_path / "runs"
    for name in ("cinn-autoencoder-tiny-clouds", "cinn-image-encoder-tiny-clouds", "cinn-flow-small-clouds"):
        shutil.copytree(tiny_runs / name, runs / name)
    config = runs / "cinn-flow-small-clouds" / "model" / "config.json"
    meta = json.loads(config.read_text())
    for source in meta["built_from"].values():
        source["path"] = str(tmp_path / "gone" / Path(source["path"]).parent.name / "model")
    config.write_text(json.dumps(meta))
    (runs / "cinn-image-encoder-tiny-clouds" / "metrics.jsonl").unlink()
    (card,) = export_quickly(["cinn"], runs, tmp_path / "models")
    assert [s["run"] for s in card["training_chain"]] == [
        str(runs / n) for n in ("cinn-autoencoder-tiny-clouds", "cinn-image-encoder-tiny-clouds",
                                "cinn-flow-small-clouds")]
    assert [s["seconds"] is None for s in card["training_chain"]] == [False, True, False]
    assert card["training_seconds"] is None
    assert "Training time of the whole chain: unknown" in (tmp_path / "models" / "cinn" / "card.md").read_text()


def test_a_model_whose_output_16bit_changes_is_kept_float32(tiny_runs, tmp_path):
    """A hand-made ILE computing the trained one's function with every coupling subnet's first
    layer scaled by 1e-7 (relu(s x) = s relu(x) for s > 0, undone by the next two layers): those
    weights sit below float16's smallest normal number, so 16-bit storage changes the output."""
    from kinema.pretrained import load_pretrained

    runs = tmp_path / "runs"
    run = runs / "ile-small"
    model = load_pretrained(tiny_runs / "ile-small")
    with torch.no_grad():
        for module in model.modules():
            if hasattr(module, "subnet"):
                first, middle, last = module.subnet[0], module.subnet[2], module.subnet[4]
                first.weight.mul_(1e-7)
                first.bias.mul_(1e-7)
                middle.weight.mul_(1e4)          # activations now 1e-3 of the trained ones
                middle.bias.mul_(1e-3)
                last.weight.mul_(1e3)            # and back to the trained ones
    model.save_pretrained(run / "model")
    for file in ("recipe.json", "metrics.jsonl"):
        shutil.copy(tiny_runs / "ile-small" / file, run / file)
    (card,) = export_quickly(["ile"], runs, tmp_path / "models")
    assert card["storage"] == "float32"
    assert card["fidelity"]["psnr_db"] < 40
    stored = tensors(tmp_path / "models" / "ile" / "model.safetensors")
    trained = tensors(run / "model" / "model.safetensors")
    for key, value in trained.items():
        assert stored[key].dtype == value.dtype and torch.equal(stored[key], value), key
    assert "Storage: float32" in (tmp_path / "models" / "ile" / "card.md").read_text()


def test_weights_beyond_float16_are_kept_float32_without_running(tiny_runs, tmp_path):
    from kinema.bundled.export import fidelity_check
    from kinema.pretrained import load_pretrained

    model = load_pretrained(tiny_runs / "ile-small")
    with torch.no_grad():
        next(model.parameters()).view(-1)[0] = 1e6
    folder = model.save_pretrained(tmp_path / "ile" / "model")
    found = fidelity_check(folder, None)
    assert found["storage"] == "float32" and found["psnr_db"] is None
    assert found["reason"] == "weights beyond float16's range"


def test_reexport_keeps_the_benchmark_only_for_the_same_weights(tiny_runs, tmp_path):
    from kinema.bundled.card import read_card, write_card

    to = tmp_path / "models"
    export_quickly(["ile"], tiny_runs, to)
    card = read_card(to / "ile")
    numbers = {"motion_fd": {"mean": 1.5, "std": 0.25}, "speed_ratio": {"mean": 0.5, "std": 0.125},
               "baseline": "repeat the last context frame", "clips": 4, "frames": 3, "seeds": [0, 1],
               "baseline_motion_fd": {"mean": 7.0, "std": 0.0},
               "baseline_speed_ratio": {"mean": 0.0, "std": 0.0}}
    write_card(to / "ile", dict(card, benchmark=numbers))
    assert "| this model | 1.500 ± 0.250 | 0.500 ± 0.125 |" in (to / "ile" / "card.md").read_text()
    export_quickly(["ile"], tiny_runs, to)
    assert read_card(to / "ile")["benchmark"] == numbers
    write_card(to / "ile", dict(card, benchmark=numbers, weights_sha256="other"))
    export_quickly(["ile"], tiny_runs, to)
    assert read_card(to / "ile")["benchmark"] is None


# ------------------------------------------------------------------------------ errors and the CLI

def test_bundle_domain_measures_domain_json_anew_and_leaves_weights_and_card(tmp_path, monkeypatch, capsys):
    """``kinema bundle domain``: a bundled folder's domain.json (here of version 1) is measured
    again on the training data of its recipe.json with kinema.domain as it is, even when it is
    current; the weights and the card stay byte for byte."""
    import kinema.domain
    from kinema.methods.baselines.config import RepeatLastConfig
    from kinema.methods.baselines.repeat_last import RepeatLastFrame
    from tests.commands import run_cli

    folder = RepeatLastFrame(RepeatLastConfig(channels=3, height=8, width=8)).save_pretrained(
        tmp_path / "models" / "cinn")
    data = {"name": "clouds", "options": {"num_frames": 4, "size": 8}, "split": "train"}
    (folder / "recipe.json").write_text(json.dumps({"method": "baselines.repeat-last", "data": data}))
    (folder / "card.json").write_text("{}")
    (folder / "domain.json").write_text(json.dumps({"version": 1, "threshold": 4.9}))
    kept = {name: (folder / name).read_bytes() for name in ("model.safetensors", "config.json", "card.json")}
    monkeypatch.setattr(kinema.domain, "REFERENCE_PICTURES", 24)
    monkeypatch.setattr(kinema.domain, "HELD_OUT_PICTURES", 12)
    measured = []
    real = kinema.domain.measure_dataset
    monkeypatch.setattr(kinema.domain, "measure_dataset", lambda *a: measured.append(a) or real(*a))
    code, out, _ = run_cli(["bundle", "domain", "cinn", "--to", tmp_path / "models"], monkeypatch, capsys)
    stored = json.loads((folder / "domain.json").read_text())
    assert code == 0 and stored["version"] == kinema.domain.VERSION
    assert stored["pictures"] == 24 + len(kinema.domain.RESAMPLED_SCALES) * 6   # and resampled drawings
    assert out.split()[:2] == ["cinn", str(len(stored["names"]))] and f"{stored['threshold']:.2f}" in out
    assert measured == [("clouds", {"num_frames": 4, "size": 8}, (8, 8), 3)]
    run_cli(["bundle", "domain", "cinn", "--to", tmp_path / "models"], monkeypatch, capsys)
    assert len(measured) == 2                                  # current, and measured again
    assert {name: (folder / name).read_bytes() for name in kept} == kept
    code, _, err = run_cli(["bundle", "domain", "ile", "--to", tmp_path / "models"], monkeypatch, capsys)
    assert code != 0 and "ile/config.json is missing: export the bundled model first" in err


def test_export_of_a_run_not_trained_names_its_file_and_the_make_target(tmp_path):
    from kinema.bundled.export import export

    with pytest.raises(KinemaError) as info:
        export(["ile", "gendef"], tmp_path / "runs", tmp_path / "models")
    message = str(info.value)
    assert message.startswith(f"{tmp_path / 'runs' / 'gendef-video-small' / 'model' / 'config.json'} is missing")
    assert "2 of 2 runs not trained" in message and MAKE_TARGET in message
    assert not (tmp_path / "models").exists()
    with pytest.raises(KinemaError, match="'nope': no bundled model of that name"):
        export(["nope"], tmp_path / "runs", tmp_path / "models")


def test_bundle_commands(tiny_runs, tiny_bundle, tmp_path, monkeypatch, capsys):
    import kinema.domain
    from tests.commands import run_cli

    bundle, cards = tiny_bundle
    monkeypatch.setenv("KINEMA_BUNDLED", str(bundle))
    code, out, _ = run_cli(["bundle", "list"], monkeypatch, capsys)
    lines = {line.split()[0]: line for line in out.splitlines()}
    assert code == 0 and list(lines) == ["dynamics", "cinn", "cinn-control", "gendef", "latentgan", "ile"]
    assert "missing" in lines["dynamics"] and MAKE_TARGET in lines["dynamics"]
    assert str(bundle / "cinn") in lines["cinn"] and "animate" in lines["cinn"]
    monkeypatch.setattr(kinema.domain, "REFERENCE_PICTURES", 24)
    monkeypatch.setattr(kinema.domain, "HELD_OUT_PICTURES", 12)
    code, out, err = run_cli(["bundle", "export", "ile", "--runs", tiny_runs, "--to", tmp_path / "m"],
                             monkeypatch, capsys)
    assert code == 0 and out.split()[:2] == ["ile", "float16"]
    assert "ile: fidelity check" in err and (tmp_path / "m" / "ile" / "card.json").is_file()


def test_fidelity_check_without_training_data_is_one_sentence(tiny_runs, tmp_path):
    from kinema.bundled.export import fidelity_check

    with pytest.raises(KinemaError, match="the run's training data .* cannot be read, so the "
                                          "fidelity check has no held-out input"):
        fidelity_check(tiny_runs / "ile-small" / "model", None)


def test_fidelity_check_writes_nothing_into_the_run(tiny_runs):
    """The pipeline runs without its provenance line, whose domain check would measure the
    training data and write domain.json into the run's model folder."""
    from kinema.bundled.export import fidelity_check
    from kinema.provenance import read_recipe

    folder = tiny_runs / "cinn-flow-small-clouds" / "model"      # image-to-video: a picture
    before = sorted(p.name for p in folder.iterdir())
    assert fidelity_check(folder, read_recipe(folder))["storage"] == "float16"
    assert sorted(p.name for p in folder.iterdir()) == before and "domain.json" not in before
