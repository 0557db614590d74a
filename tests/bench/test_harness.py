import json

import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio
from typer.testing import CliRunner

from kinema.bench.harness import Protocol, evaluate
from kinema.cli import app
from kinema.data import load_dataset

PROTOCOL = Protocol(task="prediction", num_videos=6, num_frames=6, context_frames=2,
                    batch_size=4, fit_videos=8, data_options={"size": 16})


def test_repeat_last_psnr_matches_a_direct_computation():
    record = evaluate("repeat-last", "bouncing-digits", ["psnr"], PROTOCOL, progress=False)
    test = load_dataset("bouncing-digits", "test", num_frames=6, size=16)
    scores = np.array([[peak_signal_noise_ratio(v[t].numpy(), v[1].numpy(), data_range=2.0)
                        for t in range(2, 6)] for v in (test[i]["video"] for i in range(6))])
    np.testing.assert_allclose(record["results"]["psnr_per_step"], scores.mean(0), rtol=1e-6)
    assert record["data"] == {"name": "bouncing-digits", "split": "test", "num_videos": 6,
                              "options": {"size": 16}}
    assert record["protocol"]["context_frames"] == 2 and record["metrics"]["psnr"]["version"] == "1"
    assert record["model"]["run"] == "baselines.repeat-last"
    for key in ("command", "machine", "peak_rss_mb", "kinema_version"):
        assert key in record


def test_eval_command_writes_results_and_reports_bad_metrics(tmp_path):
    runner = CliRunner()
    out = tmp_path / "results.json"
    args = ["eval", "repeat-last", "--data", "bouncing-digits", "--metrics", "ssim,position-error",
            "--num-videos", "4", "--num-frames", "5", "--context-frames", "1", "--batch-size", "2",
            "--option", "size=16", "--out", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    record = json.loads(out.read_text())
    assert len(record["results"]["ssim_per_step"]) == 4
    # repeat-last keeps the digit where it was: the error grows with the time step
    steps = record["results"]["position_error_per_step"]
    assert steps[-1] > steps[0]
    bad = runner.invoke(app, args[:5] + ["nonsense"] + args[6:])
    assert "unknown metric 'nonsense'" in str(bad.exception)


def test_image_to_video_uses_the_whole_clip():
    p = Protocol(task="image-to-video", num_videos=2, num_frames=4, batch_size=2, num_samples=2,
                 fit_videos=4, data_options={"size": 16})
    record = evaluate("repeat-last", "bouncing-digits", ["psnr"], p, progress=False)
    per_step = record["results"]["psnr_per_step"]
    assert len(per_step) == 4 and per_step[0] > 100  # frame 0 is the given x0 itself


def test_protocol_checks_its_numbers():
    from kinema.errors import KinemaError

    with pytest.raises(KinemaError, match="context_frames"):
        Protocol(num_frames=4, context_frames=4)
    with pytest.raises(KinemaError, match="task"):
        Protocol(task="dreaming")
    for name in ("num_videos", "num_frames", "num_samples", "batch_size", "fit_videos"):
        with pytest.raises(KinemaError, match=f"{name} must be at least 1, got 0"):
            Protocol(**{name: 0})


def test_a_model_without_the_task_is_a_clear_error(tmp_path):
    from kinema.errors import KinemaError
    from kinema.metrics.features.domain import DomainExtractor, DomainExtractorConfig

    class OnlyGenerates(torch.nn.Module):
        def generate(self, num_videos, num_frames, generator=None):
            return torch.zeros(num_videos, num_frames, 1, 16, 16)

    with pytest.raises(KinemaError, match="does not serve the task 'prediction'.*generation"):
        evaluate("x", "bouncing-digits", ["psnr"], PROTOCOL, model=OnlyGenerates(), progress=False)
    p = Protocol(task="generation", num_videos=2, num_frames=3, batch_size=2, data_options={"size": 16})
    # generation is scored by distributions only: every generated frame against every test frame
    DomainExtractor(DomainExtractorConfig(channels=1, size=16)).save_pretrained(tmp_path / "ext")
    record = evaluate("x", "bouncing-digits", ["domain-fid"], p, model=OnlyGenerates(),
                      extractor=str(tmp_path / "ext"), progress=False)
    assert record["results"]["domain_fid_fake_count"] == record["results"]["domain_fid_real_count"] == 6


def test_a_saved_model_folder_is_evaluated(tmp_path):
    from kinema.methods.baselines.config import DynamicTextureConfig
    from kinema.methods.baselines.dynamic_texture import LinearDynamicTexture

    train = load_dataset("bouncing-digits", "train", num_videos=8, num_frames=6, size=16)
    model = LinearDynamicTexture(DynamicTextureConfig(height=16, width=16, num_components=8))
    model.fit(train, progress=False).save_pretrained(tmp_path / "dt")
    record = evaluate(str(tmp_path / "dt"), "bouncing-digits", ["psnr"], PROTOCOL, progress=False)
    assert record["model"] == {"run": str(tmp_path / "dt"), "kind": "model folder"}
    direct = evaluate("x", "bouncing-digits", ["psnr"], PROTOCOL, progress=False, model=model.eval())
    assert record["results"]["psnr_per_step"] == direct["results"]["psnr_per_step"]


def test_metric_options_reach_only_the_metrics_that_take_them(tmp_path):
    from kinema.errors import KinemaError
    from kinema.metrics.features.domain import DomainExtractor, DomainExtractorConfig

    DomainExtractor(DomainExtractorConfig(channels=1, size=16)).save_pretrained(tmp_path / "ext")
    p = Protocol(task="prediction", num_videos=4, num_frames=8, context_frames=2, batch_size=4,
                 fit_videos=4, data_options={"size": 16})
    record = evaluate("repeat-last", "bouncing-digits", ["psnr", "domain-fid-sliding"], p,
                      extractor=str(tmp_path / "ext"), progress=False,
                      metric_options={"window": 3, "stride": 3})
    assert record["results"]["domain_fid_sliding_window_starts"] == [0, 3]
    assert record["metrics"]["domain-fid-sliding"]["options"]["window"] == 3
    assert "window" not in record["metrics"]["psnr"]["options"]
    with pytest.raises(KinemaError, match="domain-fid-sliding: a window of 8 frames is longer "
                                          "than the 6 compared frames"):
        evaluate("repeat-last", "bouncing-digits", ["domain-fid-sliding"], p,
                 extractor=str(tmp_path / "ext"), progress=False, metric_options={"window": 8})
    for options, message in (({"windw": 3}, "metric option.s. windw taken by none of psnr, "
                                             "domain-fid-sliding"),
                             ({"window": "abc"}, "window='abc' .domain-fid-sliding. must be a number")):
        with pytest.raises(KinemaError, match=message):
            evaluate("repeat-last", "bouncing-digits", ["psnr", "domain-fid-sliding"], p,
                     extractor=str(tmp_path / "ext"), progress=False, metric_options=options)


def test_bad_metrics_and_missing_weights_fail_before_the_baseline_is_fitted(monkeypatch, tmp_path):
    import kinema.bench.harness as harness
    from kinema.errors import KinemaError, MissingWeightsError

    def no_fitting(*args, **kwargs):
        raise AssertionError("the model was loaded before the metrics were checked")

    monkeypatch.setattr(harness, "load_model", no_fitting)
    monkeypatch.delenv("KINEMA_WEIGHTS", raising=False)
    protocol = Protocol(num_videos=2, num_frames=4, data_options={"size": 16})
    with pytest.raises(KinemaError, match="unknown metric 'nope'"):
        evaluate("repeat-last", "bouncing-digits", ["psnr", "nope"], protocol, progress=False)
    with pytest.raises(MissingWeightsError, match="i3d_pretrained_400.pt"):
        evaluate("repeat-last", "bouncing-digits", ["fvd"], protocol, weights=str(tmp_path),
                 progress=False)
    from kinema.metrics.features.domain import DomainExtractor, DomainExtractorConfig

    DomainExtractor(DomainExtractorConfig(channels=1, size=16)).save_pretrained(tmp_path / "ext")
    with pytest.raises(KinemaError, match="domain-diversity compare samples of one input: pass "
                                          "--num-samples 2 or more"):
        evaluate("repeat-last", "bouncing-digits", ["psnr", "domain-diversity"], protocol,
                 extractor=str(tmp_path / "ext"), progress=False)


def test_generation_refuses_metrics_that_need_the_same_inputs_truth():
    from kinema.errors import KinemaError

    protocol = Protocol(task="generation", num_videos=2, num_frames=4, fit_videos=4,
                        data_options={"size": 16})
    with pytest.raises(KinemaError, match="ssim, position-error score each video against"):
        evaluate("repeat-last", "bouncing-digits", ["ssim", "position-error"], protocol,
                 progress=False)
    with pytest.raises(KinemaError, match="^psnr score"):
        evaluate("repeat-last", "bouncing-digits", ["psnr"], protocol, progress=False)


def test_a_training_run_folder_is_read_through_its_model_folder(tmp_path):
    from kinema.errors import KinemaError
    from kinema.methods.baselines.config import RepeatLastConfig
    from kinema.methods.baselines.repeat_last import RepeatLastFrame

    RepeatLastFrame(RepeatLastConfig(channels=1, height=16, width=16)).save_pretrained(
        tmp_path / "run" / "model")
    record = evaluate(str(tmp_path / "run"), "bouncing-digits", ["psnr"], PROTOCOL, progress=False)
    assert record["model"]["run"] == str(tmp_path / "run" / "model")
    (tmp_path / "empty").mkdir()
    with pytest.raises(KinemaError, match="empty is not a model folder: no config.json"):
        evaluate(str(tmp_path / "empty"), "bouncing-digits", ["psnr"], PROTOCOL, progress=False)


def test_a_model_for_other_video_shapes_is_one_clear_error():
    from kinema.errors import KinemaError

    class GreyOnly(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(1, 1, 3, padding=1)

        def predict(self, context, num_frames, num_samples, generator=None):
            frame = self.conv(context[:, -1])  # (b c h w): needs one channel
            return frame[:, None, None].expand(-1, num_samples, num_frames, -1, -1, -1)

    with pytest.raises(KinemaError, match=r"GreyOnly failed on clouds clips of shape \(t c h w\) "
                                          r"\(6, 3, 16, 16\): .*channels.*--option size=N"):
        evaluate("x", "clouds", ["psnr"], PROTOCOL, model=GreyOnly(), progress=False)


def test_the_record_says_what_the_domain_extractor_was_trained_on(tmp_path):
    from kinema.metrics.features.domain import DomainExtractor, DomainExtractorConfig

    folder = tmp_path / "ext"
    DomainExtractor(DomainExtractorConfig(channels=1, size=16, dataset="clouds")).save_pretrained(folder)
    p = Protocol(num_videos=4, num_frames=4, context_frames=2, fit_videos=4, data_options={"size": 16})
    record = evaluate("repeat-last", "bouncing-digits", ["domain-fid"], p, extractor=str(folder),
                      progress=False)
    assert record["feature_extractors"]["extractor_training"] == {"dataset": "clouds"}
    (folder / "training.json").write_text(json.dumps(
        {"dataset": "clouds", "test_accuracy": [0.29], "chance": [0.03], "losses": [3.0, 2.0]}))
    record = evaluate("repeat-last", "bouncing-digits", ["domain-fid"], p, extractor=str(folder),
                      progress=False)
    assert record["feature_extractors"]["extractor_training"] == {
        "dataset": "clouds", "test_accuracy": [0.29], "chance": [0.03]}
    assert evaluate("repeat-last", "bouncing-digits", ["psnr"], p, extractor=str(folder),
                    progress=False)["feature_extractors"]["extractor_training"] is None


def test_eval_notes_an_extractor_trained_on_other_data(tmp_path):
    from kinema.metrics.features.domain import DomainExtractor, DomainExtractorConfig

    folder = tmp_path / "ext"
    DomainExtractor(DomainExtractorConfig(channels=1, size=16, dataset="clouds")).save_pretrained(folder)
    args = ["eval", "repeat-last", "--data", "bouncing-digits", "--metrics", "domain-fid",
            "--extractor", str(folder), "--num-videos", "2", "--num-frames", "4", "--option",
            "size=16", "--out", str(tmp_path / "r.json")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "trained on clouds, not bouncing-digits" in result.output


def test_train_summary_reads_the_run(tmp_path):
    import json

    from kinema.bench.harness import train_summary

    assert train_summary(tmp_path / "none") == "not trained"
    (tmp_path / "recipe.json").write_text(json.dumps({"train": {"steps": 300, "batch_size": 8}}))
    (tmp_path / "metrics.jsonl").write_text(json.dumps({"step": 1, "time": 10.0}) + "\n"
                                            + json.dumps({"step": 300, "time": 1500.0}) + "\n")
    assert train_summary(tmp_path) == "300 steps at batch 8, 25 min"
