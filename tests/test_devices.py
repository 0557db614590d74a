"""``--device`` (kinema.devices): the parser's answers, every verb refusing a bogus device in
one line before it reads or writes anything, and the verbs moving their models to the device
they were given."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from kinema.devices import default_device_name, rank_device, resolve_device
from kinema.errors import KinemaError

from tests.commands import run_cli


# ------------------------------------------------------------------ the parser

def test_cpu_names_resolve_to_the_cpu():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(" cpu ") == torch.device("cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")


@pytest.mark.parametrize("name", ["bogus", "gpu", "cuda:x", "meta", "cpu:zero", ""])
def test_unknown_names_are_refused_with_what_is_accepted(name):
    with pytest.raises(KinemaError, match=r"use cpu, cuda, cuda:N or mps \(present: cpu"):
        resolve_device(name)


@pytest.fixture
def two_gpus(monkeypatch):
    """torch answering as a machine with two CUDA GPUs would (nothing runs on them)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 1)


def test_cuda_is_the_default_where_a_gpu_is_present(two_gpus):
    assert default_device_name() == "cuda"
    assert resolve_device(None) == torch.device("cuda", 1)      # the current GPU
    assert resolve_device("cuda:0") == torch.device("cuda", 0)
    with pytest.raises(KinemaError, match=r"there is no GPU 2 \(present: cpu, cuda:0, cuda:1"):
        resolve_device("cuda:2")
    assert rank_device(torch.device("cuda", 0), 1) == torch.device("cuda", 1)
    assert rank_device(torch.device("cpu"), 1) == torch.device("cpu")
    with pytest.raises(KinemaError, match="local rank 2 has no GPU"):
        rank_device(torch.device("cuda", 0), 2)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_cpu_is_the_default_without_a_gpu():
    assert default_device_name() == "cpu" and resolve_device(None) == torch.device("cpu")
    with pytest.raises(KinemaError, match="no CUDA GPU"):
        resolve_device("cuda")


def test_move_uses_to_and_refuses_to_leave_an_immovable_object_behind():
    from kinema.devices import move

    class Plain:
        pass

    plain, layer = Plain(), torch.nn.Linear(2, 2).double()
    assert move(plain, "cpu") is plain
    with pytest.raises(KinemaError, match="Plain cannot be moved to cuda:0"):
        move(plain, torch.device("cuda", 0))
    assert move(layer, torch.device("meta")) is layer and layer.weight.device.type == "meta"


# ------------------------------------------------------------------ every verb refuses

VERBS = {
    "eval": ["eval", "repeat-last", "--data", "bouncing-digits", "--out", "{out}/r.json"],
    "bench": ["bench", "metrics-sanity", "--out-dir", "{out}"],
    "animate": ["animate", "{out}/x.png", "--model", "{out}/m", "--out", "{out}/a"],
    "sample": ["sample", "{out}/m", "--out", "{out}/s"],
    "transfer": ["transfer", "{out}/v.mp4", "{out}/x.png", "--model", "{out}/m", "--out", "{out}/t"],
    "poke": ["poke", "{out}/x.png", "--model", "{out}/m", "--at", "1,1", "--force", "1,0",
             "--out", "{out}/p"],
    "edit": ["edit", "{out}/m", "--canonical-edit", "{out}/x.png", "--out", "{out}/e"],
    "track": ["track", "{out}/m", "--points", "1,1", "--out", "{out}/k"],
    "studio": ["studio", "--models", "{out}"],
    "train": ["train", "ile", "--out", "{out}/run"],
}


@pytest.mark.parametrize("verb", sorted(VERBS))
def test_every_verb_refuses_a_bogus_device_in_one_line(verb, tmp_path, monkeypatch, capsys):
    import uvicorn

    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: pytest.fail("the studio started"))
    args = [a.format(out=tmp_path) for a in VERBS[verb]] + ["--device", "tpu:0"]
    code, printed, err = run_cli(args, monkeypatch, capsys)
    assert code == 2 and printed == ""
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        "error: --device 'tpu:0' is not a device kinema runs on: use cpu, cuda, cuda:N or mps "
        "(present: cpu")
    assert list(tmp_path.iterdir()) == []       # nothing written, nothing read first


# ------------------------------------------------------------------ the verbs move their models

@pytest.fixture(scope="module")
def cinn(tmp_path_factory):
    import cv2

    from kinema.data.io import write_video
    from kinema.methods.cinn.config import autoencoder_config, flow_config, image_encoder_config
    from kinema.methods.cinn.model import CINN

    root = tmp_path_factory.mktemp("cinn")
    torch.manual_seed(0)
    config = dataclasses.replace(flow_config("tiny-clouds"),
                                 autoencoder=autoencoder_config("tiny-clouds"),
                                 image_encoder=image_encoder_config("tiny-clouds"))
    CINN(config).save_pretrained(root / "run" / "model")
    cv2.imwrite(str(root / "x0.png"),
                np.random.default_rng(0).integers(0, 255, (24, 24, 3), dtype=np.uint8))
    write_video(root / "source.mp4", torch.rand(6, 3, 8, 8) * 2 - 1, fps=8)
    return root


@pytest.fixture(scope="module")
def gendef(tmp_path_factory):
    import cv2

    from kinema.methods.gendef.config import video_recipe
    from kinema.methods.gendef.model import GenDeF

    root = tmp_path_factory.mktemp("gendef")
    torch.manual_seed(0)
    GenDeF(video_recipe("tiny-no-pretrain").model).save_pretrained(root / "model")
    cv2.imwrite(str(root / "edit.png"),
                np.random.default_rng(1).integers(0, 255, (20, 20, 3), dtype=np.uint8))
    return root


@pytest.fixture
def moves(monkeypatch):
    """Every ``.to(device)`` of a kinema model, as (class name, device)."""
    recorded: list[tuple[str, torch.device]] = []
    original = torch.nn.Module.to

    def to(self, *args, **kwargs):
        if type(self).__module__.startswith("kinema.methods") and args:
            recorded.append((type(self).__name__, torch.device(args[0])))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(torch.nn.Module, "to", to)
    return recorded


def test_animate_and_transfer_run_the_cinn_on_the_device(cinn, tmp_path, moves, monkeypatch,
                                                        capsys):
    code, _, err = run_cli(["animate", cinn / "x0.png", "--model", cinn / "run", "--num", "2",
                            "--frames", "3", "--device", "cpu", "--out", tmp_path / "a"],
                           monkeypatch, capsys)
    assert code == 0, err
    assert ("CINN", torch.device("cpu")) in moves
    moves.clear()
    code, _, err = run_cli(["transfer", cinn / "source.mp4", cinn / "x0.png", "--model",
                            cinn / "run", "--device", "cpu", "--out", tmp_path / "t"],
                           monkeypatch, capsys)
    assert code == 0, err
    assert ("CINN", torch.device("cpu")) in moves
    assert (tmp_path / "t" / "transfer.mp4").is_file()


@pytest.mark.parametrize("verb", ["sample", "edit", "track"])
def test_gendef_verbs_run_the_model_on_the_device(verb, gendef, tmp_path, moves, monkeypatch,
                                                 capsys):
    extra = {"sample": ["--num", "1"], "edit": ["--canonical-edit", gendef / "edit.png"],
             "track": ["--points", "2,3"]}[verb]
    code, _, err = run_cli([verb, gendef / "model", *extra, "--frames", "3", "--device", "cpu",
                            "--out", tmp_path / verb], monkeypatch, capsys)
    assert code == 0, err
    assert ("GenDeF", torch.device("cpu")) in moves
    assert any((tmp_path / verb).iterdir())


def test_poke_studio_and_bench_hand_the_device_on(tmp_path, monkeypatch, capsys):
    import uvicorn

    import kinema.bench.benchmarks as benchmarks
    import kinema.methods.dynamics.cli as dynamics_cli
    import kinema.serve.app as studio

    got = {}
    monkeypatch.setattr(dynamics_cli, "poke_to",
                        lambda *a, **k: got.setdefault("poke", k["device"]) and [])
    # (the about: line poke prints after its files would read the model folder poke_to skipped)
    monkeypatch.setattr("kinema.provenance.caption_for", lambda model, picture=None: "-")
    code, _, err = run_cli(["poke", tmp_path / "x.png", "--model", tmp_path, "--at", "1,1",
                            "--force", "1,0", "--device", "cpu"], monkeypatch, capsys)
    assert code == 0, err
    real_create = studio.create_app
    monkeypatch.setattr(studio, "create_app", lambda models, settings, **k: (
        got.setdefault("studio", settings.device), real_create(models, settings, **k))[1])
    monkeypatch.setattr(uvicorn, "run", lambda app, **k: got.setdefault(
        "served", {m.device for m in app.state.store.models.values()}))
    code, _, err = run_cli(["studio", "--models", tmp_path, "--device", "cpu"], monkeypatch, capsys)
    assert code == 0, err

    def probe(out_dir, device="unset", **_):
        got["bench"] = device
        return benchmarks.write_benchmark(out_dir, "probe", "probe", ["-"], {})

    monkeypatch.setitem(benchmarks.CORE_BENCHMARKS, "probe", probe)
    code, _, err = run_cli(["bench", "probe", "--out-dir", tmp_path / "b", "--device", "cpu"],
                           monkeypatch, capsys)
    assert code == 0, err
    assert got == {"poke": "cpu", "studio": "cpu", "served": set(), "bench": torch.device("cpu")}


def test_a_benchmark_without_a_device_parameter_is_said_to_run_on_the_cpu(monkeypatch, tmp_path,
                                                                          capsys):
    import kinema.bench.benchmarks as benchmarks

    monkeypatch.setitem(benchmarks.CORE_BENCHMARKS, "plain", lambda out_dir, **options: (
        options.setdefault("seen", sorted(options)), (out_dir, out_dir))[1])
    benchmarks.run_benchmark("plain", tmp_path, device=torch.device("cuda", 0))
    assert capsys.readouterr().err.strip() == (
        "note: benchmark plain takes no --device: what it computes in this process runs on the "
        "CPU (the kinema commands it starts get cuda:0)")


def test_the_studio_loads_its_models_on_its_device(cinn, moves):
    from kinema.serve.models import ModelStore

    store = ModelStore(cinn, device="cpu")
    [served] = store.models.values()
    assert served.device == "cpu"
    served.load()
    assert moves == [("CINN", torch.device("cpu"))]
