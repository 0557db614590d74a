"""train.precision, the fp32 islands, train.accumulate and train.activation_checkpointing.

Tolerance of a bf16 step against fp32 (same weights, batch and random draws): every group's
loss within 3 % (rtol) + 0.02 (atol). bfloat16 keeps 8 significant bits (~0.4 %); a loss is a
mean of many such rounded terms through several layers, and the tiny stages' losses were
measured 0.01-0.4 % apart, so 3 % leaves room for a different machine while a loss computed
without the islands (a bf16 log-determinant, a bf16 warp) or a wrong cast is caught by the
dtype checks below.
"""
from __future__ import annotations

import copy
import json

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from kinema.config import TrainConfig
from kinema.errors import KinemaError
from kinema.nn.precision import observe_islands
from kinema.train.precision import MixedPrecision
from kinema.train.quick import train_quickly
from kinema.train.trainer import Trainer
from tests.commands import torchrun
from tests.train import toy

BF16 = dict(device_type="cpu", dtype=torch.bfloat16)
STAGES = ["baselines.mathieu", "cinn-autoencoder", "cinn-flow", "cinn-image-encoder",
          "dynamics-attention", "dynamics-diffusion", "dynamics-render", "dynamics-vae",
          "gendef-image", "gendef-video", "ile", "latentgan-image", "latentgan-temporal"]
# islands a stage's training step must pass through (every island it enters is checked)
EXPECTED_ISLANDS = {
    "ile": {"affine coupling scale and shift", "ile linear system", "loss reduction"},
    "cinn-flow": {"affine coupling scale and shift", "loss reduction"},
    "gendef-video": {"backward warp positions", "motion-code sinusoids", "loss reduction"},
    "dynamics-render": {"softmax splatting"},
    "dynamics-vae": {"loss reduction"},
    "latentgan-temporal": {"latentgan hallucinator batch norm", "loss reduction"},
    "baselines.mathieu": {"loss reduction"},
}


@pytest.fixture(scope="module")
def builder(tmp_path_factory):
    from kinema.bench.precision import StageBuilder

    return StageBuilder("tiny", tmp_path_factory.mktemp("precision-stages"))


def test_the_stage_list_is_every_trainable_stage():
    from kinema.bench.precision import trainable_stages

    assert sorted(trainable_stages()) == sorted(STAGES)


@pytest.mark.parametrize("stage", [pytest.param(s, marks=pytest.mark.slow)   # (~7 s: two U-Nets)
                                   if s == "dynamics-attention" else s for s in STAGES])
def test_bf16_step_matches_fp32_and_islands_stay_fp32(builder, stage):
    model, batch = builder.model_and_batch(stage)
    for group in model.parameter_groups():
        fp32_model, bf16_model = copy.deepcopy(model), copy.deepcopy(model)
        torch.manual_seed(7)
        reference = float(fp32_model.training_step(batch, group)["loss"].detach())
        torch.manual_seed(7)
        with observe_islands() as visits, torch.autocast(**BF16):
            loss = bf16_model.training_step(batch, group)["loss"]
        assert loss.dtype == torch.float32, (stage, group)
        assert abs(float(loss.detach()) - reference) <= 0.02 + 0.03 * abs(reference), \
            (stage, group, float(loss), reference)
        for visit in visits:                      # inside every island: float32, no autocast
            assert not visit.autocast, visit
            assert set(visit.dtypes) <= {torch.float32, torch.float64}, visit
        entered = {v.name for v in visits}
        if group in ("model", "generator", "flow", "attention"):
            assert EXPECTED_ISLANDS.get(stage, set()) <= entered, (stage, group, entered)


def test_flow_logdet_and_state_are_fp32_while_the_subnets_run_in_bf16():
    from kinema.methods.ile.config import ile_config
    from kinema.methods.ile.model import ILE

    torch.manual_seed(0)
    model = ILE(ile_config("tiny"))
    frames = torch.rand(4, model.config.channels, model.config.image_size, model.config.image_size)
    subnet_dtypes = []
    coupling = next(m for m in model.modules() if type(m).__name__ == "AffineCoupling")
    coupling.subnet.register_forward_hook(lambda m, i, out: subnet_dtypes.append(out.dtype))
    z32, logdet32 = model.flow.encode(frames)
    with torch.autocast(**BF16):
        z, logdet = model.flow.encode(frames)
    assert subnet_dtypes == [torch.float32, torch.bfloat16]
    assert z.dtype == logdet.dtype == torch.float32
    assert torch.allclose(logdet, logdet32, rtol=2e-2, atol=0.5)
    with torch.autocast(**BF16):
        residual = model.system.residual(z.reshape(2, 2, -1))
    assert residual.dtype == torch.float64


def test_memory_saving_backward_under_bf16_equals_the_plain_backward():
    """The inversion in the memory-saving backward runs under the forward's autocast, so each
    coupling inverts exactly what its bf16 subnet computed."""
    from kinema.methods.ile.config import ile_config
    from kinema.methods.ile.model import ILE

    torch.manual_seed(0)
    model = ILE(ile_config("tiny"))
    with torch.no_grad():       # the subnets' zero-initialised last layers moved off zero
        for name, p in model.flow.named_parameters():
            if "subnet" in name:
                p.add_(torch.randn_like(p) * 0.1)
    frames = torch.rand(4, model.config.channels, model.config.image_size, model.config.image_size)
    grads = {}
    for saving in (False, True):
        model.flow.set_memory_saving(saving)
        model.zero_grad(set_to_none=True)
        with torch.autocast(**BF16):
            z, logdet = model.flow.encode(frames)
        (z.square().mean() - logdet.mean()).backward()     # outside autocast, as the trainer
        grads[saving] = [p.grad.clone() for p in model.flow.parameters() if p.grad is not None]
    assert len(grads[True]) == len(grads[False]) > 0
    for a, b in zip(grads[False], grads[True]):
        assert torch.allclose(a, b, rtol=1e-4, atol=1e-6)


# ------------------------------------------------------------------------------ fp16 scaler

class Overflowing(nn.Module):
    """A linear map fitted by MSE; on call ``overflow_at`` the loss gets a term whose gradient
    (1e36 per weight, times the scale 65536) overflows while the loss itself stays finite."""

    def __init__(self, overflow_at: int):
        super().__init__()
        self.linear = nn.Linear(4, 4)
        self.overflow_at, self.calls = overflow_at, 0

    def parameter_groups(self):
        return {"model": list(self.parameters())}

    def training_step(self, batch, group):
        x = batch["video"].flatten(1)                                    # (b 4)
        loss = F.mse_loss(self.linear(x).float(), x)
        if self.calls == self.overflow_at:
            loss = loss + 1e36 * self.linear.weight.sum()
        self.calls += 1
        return {"loss": loss}


def _fit_overflowing(tmp_path, steps: int, overflow_at: int):
    torch.manual_seed(0)
    model = Overflowing(overflow_at)
    clips = torch.rand(8, 1, 1, 2, 2)
    config = TrainConfig(steps=steps, batch_size=4, precision="fp16", log_every=1,
                         checkpoint_every=0, lr=1e-2)
    trainer = Trainer(model, _Clips(clips), config, tmp_path / f"run{steps}",
                      device="cpu", tensorboard=False, progress=False, quiet=True)
    trainer.fit()
    log = [json.loads(line) for line in (tmp_path / f"run{steps}" / "metrics.jsonl").read_text().splitlines()]
    return model, trainer, log


class _Clips(torch.utils.data.Dataset):
    def __init__(self, clips):
        self.clips = clips

    def __len__(self):
        return len(self.clips)

    def __getitem__(self, i):
        return {"video": self.clips[i]}


def test_fp16_scaler_skips_an_overflowing_step_and_halves_the_scale(tmp_path):
    before, _, _ = _fit_overflowing(tmp_path, steps=2, overflow_at=2)
    after, trainer, log = _fit_overflowing(tmp_path, steps=3, overflow_at=2)
    for a, b in zip(before.parameters(), after.parameters()):
        assert torch.equal(a, b)                               # the overflowing step changed nothing
    assert trainer.precision.loss_scale("model") == 65536.0 / 2
    assert [r["overflow_skipped"] for r in log] == [0, 0, 1]
    assert [r["losses"]["model/loss_scale"] for r in log] == [65536.0, 65536.0, 32768.0]
    assert log[-1]["nonfinite"] == 0                           # not counted toward max_nonfinite
    state = trainer.precision.state_dict()
    fresh = MixedPrecision("fp16", torch.device("cpu"), ["model"])     # resumed: scale kept
    fresh.load_state_dict(state)
    assert fresh.loss_scale("model") == 32768.0 and fresh.skipped == 1


def test_a_bf16_run_through_the_trainer_keeps_the_weights_dtypes_and_follows_fp32(builder):
    model, _ = builder.model_and_batch("ile")
    runs = {}
    for precision in ("fp32", "bf16"):
        copy_ = copy.deepcopy(model)
        data = toy.ShiftingVideos(num_videos=4, num_frames=4, size=8)
        runs[precision] = train_quickly(copy_, data, steps=3, batch_size=2, lr=1e-3,
                                        precision=precision)["model/loss"]
        # master weights keep their dtypes (float32; the linear system's are float64)
        assert [p.dtype for p in copy_.parameters()] == [p.dtype for p in model.parameters()]
        assert {p.dtype for p in copy_.parameters()} <= {torch.float32, torch.float64}
    assert runs["bf16"] == pytest.approx(runs["fp32"], rel=0.03, abs=0.02)


def test_tf32_switches_are_left_alone_on_a_cpu():
    from kinema.train.precision import set_tf32

    before = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    set_tf32(not before[0], torch.device("cpu"))
    assert (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32) == before


def test_fp16_autocast_runs_on_this_cpu():
    with torch.autocast("cpu", dtype=torch.float16):
        assert nn.Linear(3, 3)(torch.randn(2, 3)).dtype == torch.float16


# ------------------------------------------------------------------------------ accumulation

def _fit_toy(accumulate: int, adversarial: bool):
    torch.manual_seed(0)
    model = toy.ToyPredictor(toy.ToyConfig(adversarial=adversarial)).double()
    data = toy.ShiftingVideos(num_videos=8)
    clips = torch.stack([data[i]["video"] for i in range(8)]).double()
    model.initial = [p.detach().clone() for p in model.parameters()]
    history = train_quickly(model, clips, steps=3, batch_size=4, lr=1e-2, accumulate=accumulate,
                            optimizer_impl="foreach")
    return model, history


@pytest.mark.parametrize("adversarial", [False, True])
def test_accumulation_equals_the_whole_batch_in_float64(adversarial):
    whole, whole_history = _fit_toy(1, adversarial)
    parts, parts_history = _fit_toy(2, adversarial)
    for (name, a), b in zip(whole.named_parameters(), parts.parameters()):
        assert torch.allclose(a, b, rtol=0, atol=1e-12), name
    for key in whole_history:
        if not key.endswith("grad_norm"):
            assert whole_history[key] == pytest.approx(parts_history[key], abs=1e-12), key
    assert whole_history["generator/grad_norm" if adversarial else "model/grad_norm"] == \
        pytest.approx(parts_history["generator/grad_norm" if adversarial else "model/grad_norm"],
                      abs=1e-10)
    moved = [float((p - q).abs().max()) for (name, p), q in zip(whole.named_parameters(), whole.initial)
             if name.endswith("weight")]
    assert min(moved) > 1e-4                         # every weight trained: equality means something


def test_micro_batches_split_tensors_and_lists():
    from kinema.train.step import split_batch

    batch = {"video": torch.arange(6).reshape(6, 1), "name": list("abcdef"), "size": 3}
    parts = split_batch(batch, 3)
    assert [p["video"].flatten().tolist() for p in parts] == [[0, 1], [2, 3], [4, 5]]
    assert [p["name"] for p in parts] == [["a", "b"], ["c", "d"], ["e", "f"]]
    assert all(p["size"] == 3 for p in parts)
    with pytest.raises(KinemaError, match="accumulate=4"):
        split_batch(batch, 4)


@pytest.mark.parametrize("field,value,words", [
    ("precision", "fp8", "one of fp32, bf16, fp16"), ("accumulate", 0, "an integer >= 1"),
    ("tf32", "yes", "true or false"), ("accumulate", 3, "multiple of train.accumulate=3")])
def test_bad_settings_are_one_clear_error(field, value, words):
    from kinema.train.checks import check_train_config

    with pytest.raises(KinemaError, match=words.replace(".", r"\.")):
        check_train_config(TrainConfig(batch_size=4, **{field: value}))


# ------------------------------------------------------------------ activation checkpointing

def _grads(model, loss_fn):
    model.zero_grad(set_to_none=True)
    torch.manual_seed(3)                  # the same noise in both passes
    loss_fn(model).backward()
    return [p.grad.clone() for p in model.parameters() if p.grad is not None]


@pytest.mark.parametrize("name", ["style generator", "resnet3d", "diffusers unet", "gendef video"])
def test_checkpointed_gradients_equal_the_plain_pass(builder, name):
    from kinema.nn.checkpointing import set_activation_checkpointing

    torch.manual_seed(0)
    if name == "style generator":
        from kinema.nn.modulated import StyleGenerator

        model = StyleGenerator(z_dim=8, w_dim=8, resolution=8, channel_base=64, channel_max=16,
                               mapping_layers=2).double()
        z = torch.randn(2, 8, dtype=torch.float64)
        loss_fn = lambda m: m(z).square().mean()   # noqa: E731 (noise drawn inside the layers)
    elif name == "resnet3d":
        from kinema.nn.video3d import ResNet3d

        model = ResNet3d(3, (4, 8)).double()
        video = torch.randn(2, 3, 4, 8, 8, dtype=torch.float64)
        loss_fn = lambda m: sum(f.square().mean() for f in m(video))   # noqa: E731
    elif name == "gendef video":     # the canonical generator (frozen) and G_d's layers
        model, batch = builder.model_and_batch("gendef-video")
        model.deformation.heads[-1].conv.weight.data.normal_(std=0.1)   # (zero-initialised head)
        loss_fn = lambda m: m.training_step(batch, "generator")["loss"]   # noqa: E731
    else:
        model, batch = builder.model_and_batch("dynamics-diffusion")
        loss_fn = lambda m: m.training_step(batch, "model")["loss"]   # noqa: E731
    plain = _grads(model.train(), loss_fn)
    assert set_activation_checkpointing(model, True) > 0
    checkpointed = _grads(model, loss_fn)
    assert len(plain) == len(checkpointed) > 0
    for a, b in zip(plain, checkpointed):
        assert torch.allclose(a, b, rtol=1e-5, atol=1e-12 if name in ("style generator", "resnet3d")
                              else 1e-7)
    assert set_activation_checkpointing(model, False) > 0


def _saved_elements(model, loss_fn) -> int:
    """How many tensor elements the forward pass keeps for the backward pass."""
    saved = []

    def pack(tensor):
        saved.append(tensor.numel())
        return tensor
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        loss = loss_fn(model)
    loss.backward()
    return sum(saved)


def test_checkpointed_blocks_keep_fewer_activations_for_the_backward():
    from kinema.nn.checkpointing import set_activation_checkpointing
    from kinema.nn.video3d import ResNet3d

    torch.manual_seed(0)
    model = ResNet3d(3, (4, 8)).train()
    video = torch.randn(2, 3, 4, 8, 8)
    loss_fn = lambda m: sum(f.square().mean() for f in m(video))   # noqa: E731
    plain = _saved_elements(model, loss_fn)
    set_activation_checkpointing(model, True)
    # inside a checkpointed block nothing is kept but the block's input
    assert _saved_elements(model, loss_fn) < 0.5 * plain


def test_checkpointing_a_method_without_big_blocks_is_an_error(tmp_path):
    model = toy.ToyPredictor(toy.ToyConfig())
    config = TrainConfig(steps=1, batch_size=2, activation_checkpointing=True)
    with pytest.raises(KinemaError, match="activation_checkpointing"):
        Trainer(model, toy.ShiftingVideos(num_videos=4), config, tmp_path / "run", device="cpu",
                tensorboard=False, progress=False, quiet=True)


# ------------------------------------------------------------------------ preset defaults

def test_presets_take_the_precision_the_benchmark_measured():
    """small: auto (bf16 where the hardware has it) exactly where benchmarks/precision.json found
    bf16 faster with the same loss (on a CPU with AMX); every paper preset auto (bf16 on GPUs
    that have it); every tiny preset fp32."""
    from pathlib import Path

    from kinema.bench.precision import FASTER
    from kinema.train.recipes import build_recipe

    page = json.loads((Path(__file__).parents[2] / "benchmarks" / "precision.json").read_text())
    measured = {row["stage"]: row["ratio"] < FASTER and row["trains_as_well"]
                for row in page["rows"]}
    assert sorted(measured) == sorted(STAGES)
    for stage in STAGES:
        assert build_recipe(stage, "tiny").train.precision == "fp32", stage
        assert build_recipe(stage, "small").train.precision == \
            ("auto" if measured[stage] else "fp32"), stage
        assert build_recipe(stage, "paper").train.precision == "auto", stage


@pytest.mark.slow
def test_accumulation_under_torchrun_matches_one_process(tmp_path):
    """2 processes x 2 micro-batches of 2 against one process with the whole batch of 8: the
    same weights (one gradient average per group and step, after the micro-batches)."""
    from kinema.train.checkpoint import read_checkpoint
    from kinema.train.recipes import train_recipe

    out = tmp_path / "ddp"
    done = torchrun("train", "tests.train.toy:recipe", "--preset", "adversarial",
                    "--out", out, "--steps", "4", "--batch-size", "8", "--no-tensorboard",
                    "--set", "train.checkpoint_every=4", "--set", "train.accumulate=2")
    assert done.returncode == 0, done.stderr[-3000:]
    recipe = toy.recipe("adversarial")
    recipe.train.steps, recipe.train.batch_size, recipe.train.checkpoint_every = 4, 8, 4
    train_recipe(recipe, tmp_path / "single", tensorboard=False, progress=False)
    two = read_checkpoint(out / "checkpoints" / "step-000004").model
    one = read_checkpoint(tmp_path / "single" / "checkpoints" / "step-000004").model
    for key in one:     # the weights ("calls", a count of training_step calls, differs: 2 per step)
        if one[key].is_floating_point():
            assert torch.allclose(two[key], one[key], atol=1e-5), key
    assert not torch.allclose(one["net.0.weight"], toy.ToyPredictor(toy.ToyConfig()).net[0].weight)


@pytest.mark.parametrize("fast", [True, False])
def test_auto_precision_is_bf16_only_where_the_hardware_has_it(monkeypatch, fast):
    """The presets say ``auto``: emulated bf16 on a CPU without AVX512-BF16/AMX was 15-26x slower
    than fp32, so ``auto`` must resolve by the hardware check and autocast only when it resolved
    to bf16; an explicit ``bf16`` is kept as asked."""
    import kinema.train.precision as precision

    monkeypatch.setattr(precision, "bfloat16_is_fast", lambda device="cpu": fast)
    chosen = MixedPrecision("auto", torch.device("cpu"), ["model"])
    assert (chosen.requested, chosen.precision) == ("auto", "bf16" if fast else "fp32")
    with chosen.autocast():
        assert torch.is_autocast_enabled("cpu") is fast
    assert MixedPrecision("bf16", torch.device("cpu"), ["model"]).precision == "bf16"


def test_every_small_preset_that_names_bf16_says_auto():
    """No CPU preset forces bf16 (it would crawl on hardware without bf16 support)."""
    from kinema.registry import entries, resolve

    forced, checked = [], 0
    for entry in entries():
        for preset in entry.presets:
            recipe = resolve(entry.recipe)(preset)
            checked += 1
            if recipe.train.precision == "bf16":
                forced.append(f"{entry.name}:{preset}")
    assert checked >= 20 and forced == []
