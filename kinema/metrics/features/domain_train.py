"""Training a domain extractor on a dataset's labels (``kinema metrics train-extractor``).

Recipes for the synthetic suite (``RECIPES``): which labels to classify and at what size.
Labels are read from the ground truth each item records (``LABELS``):

- ``eta``: the control bin the dataset records (``clouds``: 36 drift directions;
  ``bouncing-digits``: the final-position grid cell)
- ``digit``: the label of digit 0 (``bouncing-digits``, 10 classes)
- ``motion``: the direction of digit 0's first velocity in 8 sectors of 45° (``bouncing-digits``)
- ``band``: the frequency band of a ``swaying`` clip's strongest oscillation mode: its
  recorded frequency placed in one of 4 equal bands over the dataset's
  [min_frequency, max_frequency]
- ``amplitude`` (``swaying``): how much the clip moves: the mean displacement of its pixels
  over the clip (the ground-truth trajectories), as a fraction of the picture's size, in 3
  classes cut at ``AMPLITUDE_EDGES`` (about the tertiles of the default data)
- ``frequency`` (``swaying``): how fast it moves: the energy-weighted mean frequency of the
  trajectories' spectrum (cycles per frame, the DC bin left out), in 3 classes cut at
  ``FREQUENCY_EDGES`` (about the tertiles); a clip that does not move is class 0
- ``identity``: which actor of the cast an ``actors`` clip shows (StyleVideoGAN's ACD)
- ``action`` (``actors``): walk, wave or jumping jacks (the recorded ``action``)
- ``tempo`` (``actors``): how fast the pose cycles, the recorded ``tempo`` (cycles per frame) in 3
  classes cut at ``TEMPO_EDGES`` (about the tertiles of the cast's tempi): a label only the
  motion of a clip shows
- ``travel`` (``actors``): where the body goes, 0 in place (wave, jumping jacks), 1 walking
  right, 2 walking left (the sign of the hip's displacement over the clip)

Two recipes read ``actors``: ``actors`` (identity only: the frame features StyleVideoGAN's ACD
compares) and ``actors-motion`` (identity, action, tempo and travel: the clip features of a
Fréchet distance that sees motion, GenDeF's actors benchmark).

Trained by the Trainer (``kinema.train.quick.train_quickly``: Adam, cosine learning-rate decay
to 0, cross-entropy summed over the labels' heads) on clips generated once and kept in memory
as uint8; the held-out accuracy is measured on the dataset's test split and saved beside the
model (``training.json``).
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from kinema.metrics.features.domain import DomainExtractor, DomainExtractorConfig


def _eta(item, dataset=None) -> int:
    return int(item["eta"])


def _digit(item, dataset=None) -> int:
    return int(item["digits"][0])


def _motion(item, dataset=None) -> int:
    vx, vy = (float(v) for v in item["velocity"][0, 0])
    return int(((math.atan2(vy, vx) + 2 * math.pi) % (2 * math.pi)) // (math.pi / 4)) % 8


NUM_BANDS = 4


def _band(item, dataset=None) -> int:
    amplitude, frequency = item["mode_amplitude"], item["mode_frequency"]   # (r m) each
    strongest = float(frequency.flatten()[amplitude.flatten().argmax()])
    low = getattr(dataset, "min_frequency", 0.04)
    high = getattr(dataset, "max_frequency", 0.16)
    return min(max(int((strongest - low) / (high - low) * NUM_BANDS), 0), NUM_BANDS - 1)


# ``band`` learned nothing (held-out accuracy 0.43, the majority class): the strongest mode
# says little about a whole clip whose other regions move as much. Amplitude and frequency of
# the clip's motion as a whole are what a video distance should see.
AMPLITUDE_EDGES = (0.005, 0.010)   # mean displacement / picture size
FREQUENCY_EDGES = (0.09, 0.10)     # cycles per frame


def _bin(value: float, edges: tuple[float, ...]) -> int:
    return sum(value >= edge for edge in edges)


def _amplitude(item, dataset=None) -> int:
    trajectories = item["trajectories"]                                  # (t 2 h w), px
    size = max(trajectories.shape[-2:])
    return _bin(float(torch.linalg.vector_norm(trajectories, dim=1).mean()) / size, AMPLITUDE_EDGES)


def _frequency(item, dataset=None) -> int:
    trajectories = item["trajectories"]
    t = trajectories.shape[0]
    energy = torch.fft.rfft(trajectories.double(), dim=0).abs().pow(2).sum(dim=(1, 2, 3))[1:]
    if float(energy.sum()) == 0.0:
        return 0
    frequencies = torch.arange(1, len(energy) + 1, dtype=torch.float64) / t   # bin j: j / t cycles per frame
    return _bin(float((energy * frequencies).sum() / energy.sum()), FREQUENCY_EDGES)


def _identity(item, dataset=None) -> int:
    return int(item["identity"])


TEMPO_EDGES = (0.065, 0.085)    # cycles per frame; the cast's tempi are 0.05-0.1 (x 0.85-1.15)


def _action(item, dataset=None) -> int:
    return int(item["action"])


def _tempo(item, dataset=None) -> int:
    return _bin(float(item["tempo"]), TEMPO_EDGES)


def _travel(item, dataset=None) -> int:
    from kinema.data.synthetic.actors import ACTIONS

    if ACTIONS[int(item["action"])] != "walk":
        return 0
    return 1 if float(item["root"][-1, 0] - item["root"][0, 0]) > 0 else 2


LABELS = {"eta": _eta, "digit": _digit, "motion": _motion, "band": _band, "amplitude": _amplitude,
          "frequency": _frequency, "identity": _identity, "action": _action, "tempo": _tempo,
          "travel": _travel}


@dataclass
class ExtractorRecipe:
    labels: tuple[str, ...]
    size: int = 32
    num_frames: int = 16
    train_videos: int = 2000
    test_videos: int = 400
    steps: int = 600
    batch_size: int = 32
    lr: float = 3e-3
    circular: tuple[str, ...] = ()  # labels whose classes wrap around (directions)


RECIPES = {
    # 8-frame clips: a drift of 0.5-2 px/frame already moves 4-16 px; the extractor embeds
    # clips of any length (its features are means over time).
    "clouds": ExtractorRecipe(labels=("eta",), num_frames=8, batch_size=16, steps=3000,
                              train_videos=1500, test_videos=300, circular=("eta",)),
    # 3000 steps: at 600 the digit was barely above chance (0.14-0.22); at 3000 it is 0.97
    "bouncing-digits": ExtractorRecipe(labels=("digit", "motion"), steps=3000, circular=("motion",)),
    # 64 px, the small dynamics preset's size: at 32 px the median clip moves 0.3 px
    "swaying": ExtractorRecipe(labels=("amplitude", "frequency"), size=64, num_frames=32,
                               train_videos=1000, test_videos=200, batch_size=16),
    # which of the cast's actors it is (StyleVideoGAN's identity consistency, ACD); the
    # appearance branch's frame features are the identity features
    "actors": ExtractorRecipe(labels=("identity",), num_frames=4, train_videos=1500,
                              test_videos=300, batch_size=16, steps=800),
    # the actors seen in motion: 16-frame clips (GenDeF's), 0.7-1.8 pose cycles each. 3000 steps:
    # at 800, action and travel stayed at their majority rates (0.38 / 0.35 and 0.68 / 0.68);
    # at 3000, held out: identity 0.997, action 0.82, tempo 0.86, travel 0.83 (majority 0.15,
    # 0.35, 0.51, 0.68), 157 s of CPU at 1 thread (2026-12-07)
    "actors-motion": ExtractorRecipe(labels=("identity", "action", "tempo", "travel"), num_frames=16,
                                     train_videos=1500, test_videos=300, batch_size=16, steps=3000),
}


def recipe_for(dataset: str) -> ExtractorRecipe:
    return RECIPES.get(dataset, ExtractorRecipe(labels=("eta",)))


def collect(dataset, labels: tuple[str, ...], desc: str) -> tuple[torch.Tensor, torch.Tensor]:
    """All clips as uint8 (n t c h w) and their labels (n len(labels))."""
    from tqdm.auto import tqdm

    from kinema.errors import KinemaError

    videos, targets = [], []
    for i in tqdm(range(len(dataset)), desc=desc, leave=False):
        item = dataset[i]
        try:
            targets.append([LABELS[name](item, dataset) for name in labels])
        except KeyError as err:
            raise KinemaError(f"the dataset's items have no {err} field needed by the labels "
                              f"{', '.join(labels)}") from err
        videos.append(((item["video"] + 1) * 127.5).round().clamp(0, 255).to(torch.uint8))
    return torch.stack(videos), torch.tensor(targets, dtype=torch.long)


def to_float(videos: torch.Tensor) -> torch.Tensor:
    return videos.float() / 127.5 - 1


class LabelledClips(torch.utils.data.Dataset):
    """uint8 clips (n t c h w) and their labels (n k) as items {"video" in [-1, 1], "labels"}."""

    def __init__(self, videos: torch.Tensor, targets: torch.Tensor):
        self.videos, self.targets = videos, targets

    def __len__(self) -> int:
        return len(self.videos)

    def __getitem__(self, index: int) -> dict:
        return {"video": to_float(self.videos[index]), "labels": self.targets[index]}


def accuracy(model: DomainExtractor, videos: torch.Tensor, targets: torch.Tensor,
             tolerance: int = 0, circular: tuple[bool, ...] = ()) -> list[float]:
    """Per label: the fraction of clips whose predicted class is within ``tolerance`` classes
    of the truth (0: exact), counting around the circle for circular labels."""
    model.eval()
    correct = torch.zeros(targets.shape[1])
    with torch.no_grad():
        for v, y in zip(videos.split(64), targets.split(64)):
            _, logits = model(to_float(v))
            for j, lg in enumerate(logits):
                miss = (lg.argmax(1) - y[:, j]).abs()
                if j < len(circular) and circular[j]:
                    miss = torch.minimum(miss, lg.shape[1] - miss)
                correct[j] += (miss <= tolerance).sum()
    return (correct / len(targets)).tolist()


def train_extractor(data: str, out: str | Path, labels: tuple[str, ...] | None = None,
                    recipe: ExtractorRecipe | None = None, seed: int = 0,
                    progress: bool = True, data_options: dict | None = None) -> dict:
    """Train, evaluate on the test split, save to ``out``; returns the training record."""
    from kinema.data import load_dataset
    from kinema.train.quick import train_quickly

    recipe = recipe or recipe_for(data)
    labels = tuple(labels or recipe.labels)
    unknown = [n for n in labels if n not in LABELS]
    if unknown:
        from kinema.errors import KinemaError
        raise KinemaError(f"unknown label(s) {unknown}; known: {', '.join(LABELS)}")
    options = dict(num_frames=recipe.num_frames, size=recipe.size, **(data_options or {}))
    train_set = load_dataset(data, "train", num_videos=recipe.train_videos, **options)
    test_set = load_dataset(data, "test", num_videos=recipe.test_videos, **options)
    start = time.time()
    train_x, train_y = collect(train_set, labels, "train clips")
    test_x, test_y = collect(test_set, labels, "test clips")
    num_classes = tuple(int(max(train_y[:, j].max(), test_y[:, j].max())) + 1
                        for j in range(len(labels)))
    if "eta_onehot" in train_set[0] and "eta" in labels:
        j = labels.index("eta")
        num_classes = num_classes[:j] + (int(train_set[0]["eta_onehot"].numel()),) + num_classes[j + 1:]
    torch.manual_seed(seed)
    config = DomainExtractorConfig(labels=labels, num_classes=num_classes,
                                   channels=int(train_x.shape[2]), size=recipe.size,
                                   dataset=data, num_frames=recipe.num_frames)
    model = DomainExtractor(config)
    # Adam (AdamW without decay) with a cosine decay to 0, no gradient clipping
    losses = train_quickly(model, LabelledClips(train_x, train_y), recipe.steps,
                           batch_size=recipe.batch_size, lr=recipe.lr, seed=seed,
                           grad_clip=None, lr_schedule="cosine", lr_final_factor=0.0,
                           progress=progress)["model/loss"]
    model.eval()
    record = {
        "dataset": data, "labels": list(labels), "num_classes": list(num_classes),
        "chance": [1.0 / k for k in num_classes],
        # always answering the test split's most frequent class scores this much
        "majority_class_rate": [float(torch.bincount(test_y[:, j]).max()) / len(test_y)
                                for j in range(len(labels))],
        "train_accuracy": accuracy(model, train_x, train_y),
        "test_accuracy": accuracy(model, test_x, test_y),
        "test_accuracy_within_one_class": accuracy(
            model, test_x, test_y, tolerance=1, circular=tuple(n in recipe.circular for n in labels)),
        "circular_labels": [n for n in labels if n in recipe.circular],
        "train_videos": len(train_x), "test_videos": len(test_x), "steps": recipe.steps,
        "loss_first_10": sum(losses[:10]) / len(losses[:10]),
        "loss_last_10": sum(losses[-10:]) / len(losses[-10:]),
        "seed": seed, "seconds": round(time.time() - start, 1),
    }
    out = Path(out)
    model.save_pretrained(out)
    (out / "training.json").write_text(json.dumps(record, indent=2))
    return record


def accuracy_sentence(training: dict) -> str:
    """A trained extractor's held-out accuracy (its ``training.json`` record) as one sentence,
    the first thing a page quotes before any distance in that extractor's features."""
    within = training.get("test_accuracy_within_one_class") if training.get("circular_labels") else None
    majority = training.get("majority_class_rate")          # records older than the key lack it
    return (f"Extractor held-out accuracy ({', '.join(training['labels'])}): "
            f"{', '.join(f'{a:.3f}' for a in training['test_accuracy'])} "
            f"(chance {', '.join(f'{c:.3f}' for c in training['chance'])}; "
            + (f"always the majority class {', '.join(f'{m:.3f}' for m in majority)}; " if majority else "")
            + f"{training['test_videos']} test clips, {training['steps']} training steps)"
            + (f"; within one class (circular labels counted around): {', '.join(f'{a:.3f}' for a in within)}"
               if within else "") + ".")


def trained_extractor(data: str, folder: str | Path, recipe_name: str | None = None, progress: bool = False):
    """(the domain extractor in ``folder``, its training record): trained there first by the
    recipe ``recipe_name`` (``RECIPES``; default ``data``) on ``data`` when the folder holds none."""
    from kinema.errors import KinemaError
    from kinema.metrics.features.domain import load_domain_extractor

    folder = Path(folder)
    if not (folder / "config.json").is_file():
        print(f"training the {recipe_name or data} domain extractor into {folder}")
        train_extractor(data, folder, recipe=recipe_for(recipe_name or data), progress=progress)
    record = folder / "training.json"
    if not record.is_file():
        raise KinemaError(f"{record} is missing: a page quotes the extractor's held-out accuracy before its "
                          f"distances; retrain it (kinema metrics train-extractor) into {folder}")
    return load_domain_extractor(folder), json.loads(record.read_text())

