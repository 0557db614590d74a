"""train_quickly is the Trainer, only quiet and in a temporary folder: the same weights as a
Trainer run into a real folder, the history its metrics.jsonl logs, nothing printed."""
from __future__ import annotations

import json

import torch

from kinema.config import TrainConfig
from kinema.train.quick import ClipDataset, train_quickly
from kinema.train.trainer import Trainer
from tests.train.toy import ShiftingVideos, ToyConfig, ToyPredictor


def _model(adversarial: bool = False) -> ToyPredictor:
    torch.manual_seed(3)
    return ToyPredictor(ToyConfig(adversarial=adversarial))


def test_same_weights_and_losses_as_a_trainer_run(tmp_path, capfd):
    data = ShiftingVideos(num_videos=8)
    quick = _model(adversarial=True)
    history = train_quickly(quick, data, steps=5, batch_size=4, lr=1e-2, seed=1, grad_clip=None)
    assert capfd.readouterr().err == ""                     # no bar, no messages

    slow = _model(adversarial=True)
    config = TrainConfig(steps=5, batch_size=4, lr=1e-2, seed=1, grad_clip=None, log_every=1)
    Trainer(slow, data, config, tmp_path / "run", device="cpu", tensorboard=False,
            progress=False).fit()
    for (name, a), b in zip(quick.state_dict().items(), slow.state_dict().values()):
        assert torch.equal(a, b), name
    logged = [json.loads(line)["losses"] for line in
              (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert set(history) == set(logged[0]) >= {"generator/loss", "discriminator/loss"}
    for key, values in history.items():
        assert values == [row[key] for row in logged], key
    assert not quick.training                              # returned in eval mode


def test_first_loss_is_the_untrained_models_loss_on_the_first_batch():
    data = ShiftingVideos(num_videos=6)
    model = _model()
    fresh = _model()
    history = train_quickly(model, data, steps=3, batch_size=6, lr=1e-2, seed=0)
    # one batch holds the whole dataset, so step 1 sees every clip in the permutation's order
    batch = torch.stack([data[i]["video"] for i in range(6)])
    fresh.on_train_start({"video": batch})
    with torch.no_grad():
        expected = ((fresh.next_frames(batch) - batch[:, 1:]) ** 2).mean()
    assert abs(history["model/loss"][0] - float(expected)) < 1e-6
    assert history["model/loss"][-1] < history["model/loss"][0]   # the weights did change


def test_tensor_and_dict_data():
    clips = torch.randn(5, 3, 1, 4, 4)
    eta = torch.arange(5)
    assert torch.equal(ClipDataset(clips)[2]["video"], clips[2])
    item = ClipDataset({"video": clips, "eta": eta})[4]
    assert torch.equal(item["video"], clips[4]) and int(item["eta"]) == 4
    model = _model()
    history = train_quickly(model, torch.stack([ShiftingVideos(num_videos=4)[i]["video"]
                                                for i in range(4)]), steps=2, batch_size=2)
    assert len(history["model/loss"]) == 2
