"""A method added with no edit outside its own folder: a package written into tmp_path (a
model and a registry entry), put on sys.path and imported, gets its own command, the shared
`kinema animate` verb, a benchmark and a demo section, each exercised through the real CLI
and the real benchmark and demo runners."""
from __future__ import annotations

import json
import sys
import textwrap

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

PACKAGE = "dummy_kinema_method"
FILES = {
    "__init__.py": '''
        from kinema.registry import MethodEntry, register_method

        register_method(MethodEntry(
            name="dummy-still",
            model_class="dummy_kinema_method.model:StillVideo",
            recipe="dummy_kinema_method.model:recipe",
            tasks=("ImageToVideo",),
            summary="a still video that brightens by a learnt step per frame",
            commands="dummy_kinema_method.cli:register",
            apps={"animate": "dummy_kinema_method.cli:animate",
                  "sample": "dummy_kinema_method.cli:sample"},
            benchmarks={"dummy-bench": "dummy_kinema_method.bench:run"},
            demo="dummy_kinema_method.demo:section",
            demo_order=5,
            presets=("tiny",),
        ))
    ''',
    "model.py": '''
        from dataclasses import dataclass

        import torch
        from torch import nn

        from kinema.config import DataConfig, Recipe, TrainConfig
        from kinema.pretrained import Pretrained


        @dataclass
        class StillConfig:
            step: float = 0.25


        class StillVideo(nn.Module, Pretrained):
            """Frame t = x0 + t * step (clamped): learns the mean brightening per frame."""
            config_class = StillConfig

            def __init__(self, config: StillConfig):
                super().__init__()
                self.config = config
                self.step = nn.Parameter(torch.tensor(float(config.step)))

            def sample(self, x0, num_frames, num_samples=1, control=None, generator=None):
                t = torch.arange(num_frames, dtype=x0.dtype).view(1, 1, -1, 1, 1, 1)
                video = x0[:, None, None] + t * self.step
                return video.expand(-1, num_samples, -1, -1, -1, -1).clamp(-1, 1)

            def parameter_groups(self):
                return {"model": [self.step]}

            def training_step(self, batch, group):
                video = batch["video"]
                fake = self.sample(video[:, 0], video.shape[1])[:, 0]
                return {"loss": ((fake - video) ** 2).mean()}


        def recipe(preset):
            if preset != "tiny":
                raise ValueError(f"unknown preset {preset!r}; known: tiny")
            return Recipe(method="dummy-still", preset=preset, model=StillConfig(),
                          train=TrainConfig(steps=2, batch_size=2), data=DataConfig())
    ''',
    "cli.py": '''
        from pathlib import Path

        import typer


        def register(app):
            @app.command("dummy-step")
            def step_command(model: Path = typer.Argument(...)):
                """Print the brightening per frame of a trained model."""
                from kinema.pretrained import load_pretrained
                typer.echo(f"step {load_pretrained(model).step.item():.4f}")


        def animate(image: Path, model: Path, out: Path, options) -> list[Path]:
            import torch
            from kinema.data.io import write_video
            from kinema.pretrained import load_pretrained

            options.refuse(unsupported=("loop", "slowmo", "magnify", "control"), method="dummy")
            options = options.with_defaults(num=1, frames=4, fps=8.0)
            net = load_pretrained(model)
            x0 = torch.full((1, 3, 8, 8), float(image.read_text()))   # "image": one grey level
            videos = net.sample(x0, options.frames, options.num)[0]
            out.mkdir(parents=True, exist_ok=True)
            return [write_video(out / f"still-{i}.mp4", v, fps=options.fps)
                    for i, v in enumerate(videos.detach())]


        def sample(model: Path, out: Path, options) -> list[Path]:
            import torch
            from kinema.data.io import write_video
            from kinema.pretrained import load_pretrained

            options.refuse(unsupported=("identity",), method="dummy")
            options = options.with_defaults(num=1, frames=4)
            with torch.no_grad():            # from black: x0 = -1
                videos = load_pretrained(model).sample(torch.full((1, 3, 8, 8), -1.0),
                                                       options.frames, options.num)[0]
            out.mkdir(parents=True, exist_ok=True)
            return [write_video(out / f"from-black-{i}.mp4", v) for i, v in enumerate(videos)]
    ''',
    "bench.py": '''
        import torch

        from kinema.bench.harness import write_benchmark


        def run(out_dir, steps: float = 0.5, **options):
            from dummy_kinema_method.model import StillConfig, StillVideo
            model = StillVideo(StillConfig(step=steps))
            with torch.no_grad():
                last = float(model.sample(torch.full((1, 1, 2, 2), -1.0), 5)[0, 0, -1].mean())
            return write_benchmark(out_dir, "dummy-bench", "Dummy benchmark",
                                   [f"last frame: {last:.3f}"], {"last_frame": last})
    ''',
    "demo.py": '''
        import torch

        from kinema.viz.sections import DemoContext, score_predictions, train_quickly


        def section(ctx: DemoContext) -> None:
            from dummy_kinema_method.model import StillConfig, StillVideo
            steps = 3 if ctx.settings.quick else 30
            t = torch.arange(4.0).view(1, 4, 1, 1, 1)
            clips = (-0.5 + 0.1 * t).expand(6, 4, 1, 12, 12).contiguous()  # brightens by 0.1
            model = StillVideo(StillConfig(step=0.0))
            history = train_quickly(model, clips, steps, batch_size=2, lr=0.05)
            ctx.report.section("Dummy on brightening clips")
            ctx.report.text(f"learnt step {model.step.item():.3f}")
            with torch.no_grad():
                predicted = model.sample(clips[:, 0], 4)[:, 0, 1:]
            score_predictions(ctx, "brightening", {"dummy": predicted}, clips[:, 1:])
            ctx.log(f"dummy: loss {history['model/loss'][0]:.4f} -> {history['model/loss'][-1]:.4f}")
    ''',
}


@pytest.fixture
def dummy(tmp_path, monkeypatch):
    """The package on sys.path, registered in a copy of the registry (undone afterwards)."""
    from kinema import registry

    registry._load_builtin()
    monkeypatch.setattr(registry, "METHODS", dict(registry.METHODS))
    folder = tmp_path / "site" / PACKAGE
    folder.mkdir(parents=True)
    for name, text in FILES.items():
        (folder / name).write_text(textwrap.dedent(text).lstrip())
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    for name in [m for m in sys.modules if m.startswith(PACKAGE)]:
        monkeypatch.delitem(sys.modules, name)
    __import__(PACKAGE)
    yield registry
    for name in [m for m in sys.modules if m.startswith(PACKAGE)]:
        del sys.modules[name]


def _model_folder(tmp_path, step: float):
    module = __import__(f"{PACKAGE}.model", fromlist=["StillVideo"])
    return module.StillVideo(module.StillConfig(step=step)).save_pretrained(tmp_path / "run" / "model")


def test_its_command_and_the_shared_verb(dummy, tmp_path):
    from kinema.cli import build_app
    from kinema.data.io import read_video
    from kinema.errors import KinemaError

    app = build_app()
    _model_folder(tmp_path, step=0.125)
    runner = CliRunner()
    result = runner.invoke(app, ["dummy-step", str(tmp_path / "run" / "model")])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "step 0.1250"
    listing = runner.invoke(app, ["methods"]).output
    assert "dummy-still" in listing and "verbs: animate" in listing and "dummy-bench" in listing

    (tmp_path / "grey.txt").write_text("-0.5")
    # the method comes from the folder's config.json class (a run folder is accepted)
    result = runner.invoke(app, ["animate", str(tmp_path / "grey.txt"), "--model",
                                 str(tmp_path / "run"), "--num", "2", "--frames", "3",
                                 "--out", str(tmp_path / "anim")])
    assert result.exit_code == 0, result.output
    assert result.stdout.split() == [str(tmp_path / "anim" / f"still-{i}.mp4") for i in (0, 1)]
    assert result.stderr.startswith("about: ")            # what made them (kinema.provenance)
    video = read_video(tmp_path / "anim" / "still-0.mp4").astype(float)     # (t h w c)
    expected = (np.array([-0.5, -0.375, -0.25]) + 1) * 127.5                 # x0 + t * step
    assert np.abs(video.mean(axis=(1, 2, 3)) - expected).max() < 1.5
    result = runner.invoke(app, ["animate", str(tmp_path / "grey.txt"), "--model",
                                 str(tmp_path / "run"), "--loop", "--magnify", "2"])
    assert isinstance(result.exception, KinemaError)
    assert str(result.exception) == ("dummy does not support --loop, --magnify (they cannot be "
                                     "used with this model)")
    result = runner.invoke(app, ["sample", str(tmp_path / "run"), "--frames", "5", "--out",
                                 str(tmp_path / "samples")])
    assert result.exit_code == 0, result.output
    video = read_video(tmp_path / "samples" / "from-black-0.mp4").astype(float)
    expected = (np.clip(-1 + 0.125 * np.arange(5), -1, 1) + 1) * 127.5
    assert video.shape[0] == 5 and np.abs(video.mean(axis=(1, 2, 3)) - expected).max() < 1.5


def test_its_benchmark_through_kinema_bench(dummy, tmp_path):
    from kinema.bench.benchmarks import run_benchmark
    from kinema.cli import build_app

    md, js = run_benchmark("dummy-bench", tmp_path / "a", steps=0.25)
    # x0 = -1 brightened 4 times by 0.25: the last frame is 0
    assert json.loads(js.read_text())["last_frame"] == 0.0
    assert "last frame: 0.000" in md.read_text() and "## How this was made" in md.read_text()
    result = CliRunner().invoke(build_app(), ["bench", "dummy-bench", "--out-dir",
                                              str(tmp_path / "b")])
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "b" / "dummy-bench.json").read_text())["last_frame"] == 1.0


def test_its_demo_section_in_the_demo(dummy, tmp_path, monkeypatch):
    import kinema.demo as demo
    from kinema.registry import METHODS

    for name in [n for n in METHODS if n != "dummy-still"]:   # only this section (seconds)
        del METHODS[name]
    monkeypatch.setattr(demo, "CORE_STAGES", [])
    assert [name for name, _ in demo.stages()] == ["dummy-still"]
    page = demo.run_demo(tmp_path / "demo", quick=True).read_text()
    assert "Dummy on brightening clips" in page
    assert "<td>brightening</td><td>dummy</td>" in page.replace("\n", "")


def test_a_taken_command_name_is_an_error_naming_both_owners(dummy):
    from kinema.cli import CommandCollision, build_app
    from kinema.registry import MethodEntry, register_method

    register_method(MethodEntry(name="dummy-twin", model_class="x:Y", recipe="x:r", tasks=(),
                                summary="registers a command name the dummy took",
                                commands="tests.test_dummy_method:register_taken_name"))
    with pytest.raises(CommandCollision, match="command 'dummy-step' is registered twice: by "
                       "dummy_kinema_method.cli:register and by "
                       "tests.test_dummy_method:register_taken_name"):
        build_app()


def test_a_method_cannot_take_a_core_command(dummy):
    from kinema.cli import CommandCollision, build_app
    from kinema.registry import MethodEntry, register_method

    register_method(MethodEntry(name="dummy-trainer", model_class="x:Y", recipe="x:r",
                                tasks=(), summary="registers its own train",
                                commands="tests.test_dummy_method:register_train"))
    with pytest.raises(CommandCollision, match="command 'train' is registered twice: by "
                       "kinema.train.cli and by tests.test_dummy_method:register_train"):
        build_app()


def test_a_taken_benchmark_name_is_an_error(dummy):
    from kinema.bench.benchmarks import benchmarks
    from kinema.errors import KinemaError
    from kinema.registry import MethodEntry, register_method

    register_method(MethodEntry(name="dummy-twin", model_class="x:Y", recipe="x:r", tasks=(),
                                summary="", benchmarks={"dummy-bench": "elsewhere:run"}))
    with pytest.raises(KinemaError, match="benchmark 'dummy-bench' is registered twice: by the "
                       "dummy-still entry and by the dummy-twin entry"):
        benchmarks()


def register_taken_name(app):
    app.command("dummy-step")(lambda: None)


def register_train(app):
    app.command("train")(lambda: None)
