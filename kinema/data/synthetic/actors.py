"""``actors``: one articulated figure per video, walking, waving or doing jumping jacks.

A cast of ``num_identities`` actors is fixed by ``cast_seed`` (the same in train and test, as in
StyleVideoGAN's single-subject setting with an identity offset): each identity has its own skin,
hair, shirt and trouser colours, sleeve length, body proportions, height and motion style
(preferred tempo, swing amplitude). A video picks an identity, an action and a phase; its pose
then changes periodically while the body translates (walking) or bobs (jumping).

Skeleton (image coordinates: x right, y down, pixels). ``pose`` (t 9) holds angles in radians,
in the order ``POSE_ANGLES``; an absolute limb angle th points the limb along (sin th, cos th),
so 0 hangs straight down and positive swings towards +x. Shoulder and hip angles are absolute,
elbow and knee angles are relative to their parent limb (forearm = shoulder + elbow); the torso
runs from the hip up to the neck along (sin lean, -cos lean). ``root`` (t 2) is the hip.
``keypoints`` (t 11 2) are the joints in the order ``KEYPOINTS``, from ``forward_kinematics``.
"Left" limbs are the near side (drawn over the torso), "right" limbs the far side.

Ground truth: ``identity`` () int, ``action`` () int (index in ``ACTIONS``), ``pose`` (t 9),
``root`` (t 2), ``keypoints`` (t 11 2), ``tempo`` () cycles per frame.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch

from kinema.data.options import check_int
from kinema.data.synthetic._base import SyntheticVideos, video_tensor
from kinema.errors import KinemaError

ACTIONS = ("walk", "wave", "jumping-jacks")
POSE_ANGLES = ("torso_lean", "left_shoulder", "left_elbow", "right_shoulder", "right_elbow",
               "left_hip", "left_knee", "right_hip", "right_knee")
KEYPOINTS = ("head", "neck", "hip", "left_elbow", "left_hand", "right_elbow", "right_hand",
             "left_knee", "left_foot", "right_knee", "right_foot")
SKIN_TONES = np.array([[0.98, 0.85, 0.72], [0.9, 0.72, 0.55], [0.75, 0.55, 0.38], [0.5, 0.34, 0.22],
                       [0.35, 0.23, 0.15]])
SUBPIXEL_BITS = 4  # OpenCV draws at 1/16 px with shift=4


@dataclass(frozen=True)
class Appearance:
    """One identity: colours (RGB in [0, 1]), lengths as fractions of the figure's height, style."""
    skin: tuple[float, float, float]
    hair: tuple[float, float, float]
    shirt: tuple[float, float, float]
    trousers: tuple[float, float, float]
    long_sleeves: bool
    height: float        # figure height / frame size
    torso: float
    upper_arm: float
    forearm: float
    thigh: float
    shin: float
    head_radius: float
    limb_width: float
    torso_width: float
    tempo: float         # preferred cycles per frame
    swing: float         # scales every joint's amplitude

    @property
    def forearm_colour(self) -> tuple[float, float, float]:
        return self.shirt if self.long_sleeves else self.skin


@lru_cache(maxsize=256)
def appearance(identity: int, cast_seed: int = 0) -> Appearance:
    """The fixed look and style of one identity of the cast ``cast_seed``."""
    rng = np.random.default_rng(np.random.SeedSequence([cast_seed, zlib.crc32(b"actors-cast"), identity]))

    def colour(base=None, spread=1.0):
        value = rng.uniform(0.05, 0.95, 3) if base is None else base + rng.uniform(-0.04, 0.04, 3) * spread
        return tuple(float(c) for c in np.clip(value, 0.0, 1.0))

    lengths = rng.uniform(0.9, 1.1, 5) * np.array([0.3, 0.17, 0.15, 0.23, 0.22])
    return Appearance(
        skin=colour(SKIN_TONES[rng.integers(len(SKIN_TONES))]), hair=colour(rng.uniform(0.05, 0.6) * np.ones(3)),
        shirt=colour(), trousers=colour(), long_sleeves=bool(rng.random() < 0.5),
        height=float(rng.uniform(0.55, 0.72)), torso=lengths[0], upper_arm=lengths[1], forearm=lengths[2],
        thigh=lengths[3], shin=lengths[4], head_radius=float(rng.uniform(0.08, 0.1)),
        limb_width=float(rng.uniform(0.05, 0.07)), torso_width=float(rng.uniform(0.11, 0.16)),
        tempo=float(rng.uniform(0.05, 0.1)), swing=float(rng.uniform(0.8, 1.2)))


def pose_sequence(action: str, phase: np.ndarray, swing: float) -> np.ndarray:
    """Joint angles (t 9) of an action at gait phases ``phase`` (t,) in radians, facing +x."""
    s, c = np.sin(phase), np.cos(phase)
    up = (1.0 - c) / 2.0                         # 0 -> 1 -> 0 over a cycle
    zero = np.zeros_like(phase)
    if action == "walk":
        leg, arm = 0.45 * swing * s, 0.4 * swing * s
        knee_left = -0.7 * swing * np.clip(np.sin(phase + 1.2), 0, None)   # knees bend backwards
        knee_right = -0.7 * swing * np.clip(np.sin(phase + 1.2 + np.pi), 0, None)
        angles = [0.08 + zero, -arm, 0.3 + 0.1 * s, arm, 0.3 - 0.1 * s, leg, knee_left, -leg, knee_right]
    elif action == "wave":                       # far (right) arm raised, forearm waving
        angles = [0.05 * s, 0.1 + 0.08 * s, 0.15 + zero, np.pi - 0.5 + zero, -0.7 * swing * s - 0.3,
                  0.08 + zero, zero, -0.08 + zero, zero]
    elif action == "jumping-jacks":
        arm, leg = 0.2 + 2.3 * swing * up, 0.06 + 0.35 * swing * up
        angles = [zero, -arm, -0.2 * up, arm, 0.2 * up, -leg, zero, leg, zero]
    else:
        raise KinemaError(f"unknown action {action!r}; known: {', '.join(ACTIONS)}")
    return np.stack(angles, axis=1)


def forward_kinematics(pose: np.ndarray, root: np.ndarray, look: Appearance, size: int) -> np.ndarray:
    """Keypoints (t 11 2) in px, order ``KEYPOINTS``, from pose (t 9) and hip positions (t 2)."""
    unit = look.height * size

    def along(angle, length):                    # (t 2): a segment of ``length`` at absolute ``angle``
        return length * unit * np.stack([np.sin(angle), np.cos(angle)], axis=-1)

    lean, l_sh, l_el, r_sh, r_el, l_hip, l_kn, r_hip, r_kn = pose.T
    neck = root + look.torso * unit * np.stack([np.sin(lean), -np.cos(lean)], axis=-1)
    head = neck + 1.1 * look.head_radius * unit * np.stack([np.sin(lean), -np.cos(lean)], axis=-1)
    l_elbow = neck + along(l_sh, look.upper_arm)
    r_elbow = neck + along(r_sh, look.upper_arm)
    l_knee, r_knee = root + along(l_hip, look.thigh), root + along(r_hip, look.thigh)
    return np.stack([head, neck, root, l_elbow, l_elbow + along(l_sh + l_el, look.forearm), r_elbow,
                     r_elbow + along(r_sh + r_el, look.forearm), l_knee, l_knee + along(l_hip + l_kn, look.shin),
                     r_knee, r_knee + along(r_hip + r_kn, look.shin)], axis=1)


def draw_figure(canvas: np.ndarray, points: np.ndarray, look: Appearance, size: int) -> None:
    """Draw one frame's figure (keypoints (11 2)) onto ``canvas`` (h w 3) in place."""
    import cv2

    unit = look.height * size
    fixed = np.round(points * (1 << SUBPIXEL_BITS)).astype(int)
    head, neck, hip, l_elbow, l_hand, r_elbow, r_hand, l_knee, l_foot, r_knee, r_foot = (tuple(p) for p in fixed.tolist())
    limb = max(1, round(look.limb_width * unit))

    def segment(a, b, colour, width=limb):
        cv2.line(canvas, a, b, colour, width, cv2.LINE_AA, SUBPIXEL_BITS)

    segment(hip, r_knee, look.trousers), segment(r_knee, r_foot, look.trousers)          # far side first
    segment(neck, r_elbow, look.shirt), segment(r_elbow, r_hand, look.forearm_colour)
    segment(hip, neck, look.shirt, max(2, round(look.torso_width * unit)))
    segment(hip, l_knee, look.trousers), segment(l_knee, l_foot, look.trousers)          # near side
    segment(neck, l_elbow, look.shirt), segment(l_elbow, l_hand, look.forearm_colour)
    radius = max(1, round(look.head_radius * unit * (1 << SUBPIXEL_BITS)))
    cv2.circle(canvas, head, radius, look.skin, -1, cv2.LINE_AA, SUBPIXEL_BITS)
    # hair: the upper cap of the head, above its centre
    cv2.ellipse(canvas, head, (radius, radius), 0, 200, 340, look.hair, -1, cv2.LINE_AA, SUBPIXEL_BITS)


class Actors(SyntheticVideos):
    """One actor of a fixed cast per video; see the module docstring.

    Options: ``num_videos`` (10000 train / 1000 test), ``num_frames`` (16), ``size`` (64), ``seed``,
    ``num_identities`` (8), ``cast_seed`` (0; the cast is shared by both splits), ``actions``
    (a subset of ``ACTIONS``; all by default).
    """

    def __init__(self, split: str = "train", num_videos: int | None = None, num_frames: int = 16,
                 size: int = 64, seed: int = 0, num_identities: int = 8, cast_seed: int = 0,
                 actions: tuple[str, ...] | list[str] = ACTIONS, **unknown):
        num_videos = num_videos if num_videos is not None else (10_000 if split == "train" else 1_000)
        super().__init__(split, num_videos, num_frames, size, seed, min_size=16, unknown=unknown)
        self.num_identities = check_int("num_identities", num_identities, 1)
        self.cast_seed = check_int("cast_seed", cast_seed, 0)
        actions = (actions,) if isinstance(actions, str) else tuple(actions)
        if not actions or any(a not in ACTIONS for a in actions):
            raise KinemaError(f"actions must be a non-empty subset of {', '.join(ACTIONS)}; got {actions!r}")
        self.actions = actions

    def appearance(self, identity: int) -> Appearance:
        return appearance(identity, self.cast_seed)

    def generate(self, rng: np.random.Generator, index: int) -> dict[str, torch.Tensor]:
        size = self.size
        identity = int(rng.integers(self.num_identities))
        look = self.appearance(identity)
        action = self.actions[int(rng.integers(len(self.actions)))]
        tempo = look.tempo * rng.uniform(0.85, 1.15)
        time = np.arange(self.num_frames)
        phase = 2 * np.pi * tempo * time + rng.uniform(0, 2 * np.pi)                      # (t)
        pose = pose_sequence(action, phase, look.swing)

        unit = look.height * size
        ground = size * rng.uniform(0.88, 0.95)
        root = np.zeros((self.num_frames, 2))
        root[:, 1] = ground - (look.thigh + look.shin) * unit
        margin = 0.25 * unit
        if action == "walk":
            facing = 1.0 if rng.random() < 0.5 else -1.0
            pose = pose * facing                                  # mirror the figure to face -x
            speed = min(rng.uniform(0.3, 0.8) * size / 64, (size - 2 * margin) / max(self.num_frames - 1, 1))
            travel = speed * (self.num_frames - 1)
            # max(): when the speed is capped, travel fills the free width up to rounding
            start = rng.uniform(margin, max(margin, size - margin - travel))
            root[:, 0] = start + speed * time if facing > 0 else size - start - speed * time
            root[:, 1] -= 0.02 * unit * np.abs(np.sin(phase))                     # step bob
        else:
            root[:, 0] = rng.uniform(margin, size - margin) + 0.03 * unit * np.sin(phase)
            if action == "jumping-jacks":                                              # hop as limbs spread
                root[:, 1] -= 0.06 * unit * (1.0 - np.cos(phase)) / 2.0
        keypoints = forward_kinematics(pose, root, look, size)

        top, bottom = rng.uniform(0.2, 0.9, 3), rng.uniform(0.2, 0.9, 3)
        rows = np.linspace(0.0, 1.0, size, dtype=np.float32)[:, None, None]
        background = ((1 - rows) * top + rows * bottom).astype(np.float32) * np.ones((1, size, 1), np.float32)
        frames = np.empty((self.num_frames, size, size, 3), np.float32)
        for t in range(self.num_frames):
            frames[t] = background
            draw_figure(frames[t], keypoints[t], look, size)
        return {
            "video": video_tensor(frames),
            "identity": torch.tensor(identity),
            "action": torch.tensor(ACTIONS.index(action)),
            "pose": torch.from_numpy(pose).float(),
            "root": torch.from_numpy(root).float(),
            "keypoints": torch.from_numpy(keypoints).float(),
            "tempo": torch.tensor(tempo, dtype=torch.float32),
        }
