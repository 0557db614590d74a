"""Interactive dynamics from a single picture (Sec. 6, Eq. (6)): the spectral volume as an
image-space modal basis (Davis et al. 2015, the paper's ref. [22]).

The spectral volume at chosen frequencies f_j is a set of complex mode shapes Phi_j(p) in C^2
(x: Re dx + i Im dx, y: Re dy + i Im dy), all scaled by ONE factor, so the relative amplitudes
the spectral volume predicts between modes and pixels are kept (Davis et al.: the image-space
modal basis is the motion spectrum as observed). The displacement of the scene is their sum
weighted by complex modal coordinates, Eq. (6):

    F_t(p) = Re sum_j Phi_j(p) q_j(t)

Every q_j is a decoupled mass-spring-damper (unit mass) at the mode's own angular frequency
omega_j = 2 pi j / period (bin j of the ``period``-frame FFT, radians per frame):

    q_j'' = -k omega_j^2 q_j - 2 zeta sqrt(k) omega_j q_j' + f_j(t)

with ``stiffness`` k (1: the frequencies the picture's motion has) and damping ratio zeta. A poke
is an impulse at pixel p, projected onto the modes, f_j = Phi_j(p)^H force, which sets q_j'(0)
(Davis et al.: modal forces are the projection of the user's force on the mode shapes). With
equal modal masses, mode j then swings by |Phi_j(p)|^2 |force| / omega_j: slow modes answer
more, as an impulse on a softer spring does. The one scale of the basis is chosen so that
max_p sum_j |Phi_j(p)|^2 / omega_j = 1 frame: ``force`` (dx, dy) is in px, the most a pixel
can swing (undamped) when poked with it, reached where the picture moves most (a per-mode peak
of 1 px instead made the swing |force| / omega: ~70 px at a 150-frame period for a force of 3,
whatever the picture). Integration is semi-implicit (symplectic) Euler, the paper's "explicit
Euler" made symplectic:

    v <- v + h (-k omega^2 q - c v);   q <- q + h v

``substeps`` steps of h = 1/substeps per video frame. The step is checked: the update matrix of
every mode must have spectral radius <= 1 (undamped: h sqrt(k) omega < 2), else a KinemaError
names the substeps that are stable. Without damping this scheme conserves the modified energy
(1/2)(v^2 + k omega^2 q^2 - h k omega^2 q v) exactly and keeps the true energy within a factor
(1 +- h sqrt(k) omega / 2) of it.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import torch

from kinema.errors import KinemaError


@dataclass
class ModalBasis:
    """Mode shapes ``shapes`` (m 2 h w) complex (the spectral volume's bins times one scale,
    max_p sum_j |Phi_j(p)|^2 / omega_j = 1), angular frequencies ``omega`` (m) in radians per
    frame, and the spectral-volume bins they came from."""
    shapes: torch.Tensor
    omega: torch.Tensor
    bins: tuple[int, ...]

    @property
    def size(self) -> tuple[int, int]:
        return tuple(self.shapes.shape[-2:])


def modal_basis(volume: torch.Tensor, period: int, bins: tuple[int, ...] | None = None,
                num_modes: int = 4) -> ModalBasis:
    """The image-space modal basis of a spectral volume (k 4 h w) of ``period``-frame trajectories
    (channels [Re dx, Re dy, Im dx, Im dy]). ``bins``: the frequencies to use; default the
    ``num_modes`` non-DC bins with the most motion energy (the resonant frequencies)."""
    if volume.ndim != 4 or volume.shape[1] != 4:
        raise KinemaError(f"spectral volume must be (k 4 h w); got {tuple(volume.shape)}")
    k = volume.shape[0]
    shapes = torch.complex(volume[:, :2].double(), volume[:, 2:].double())           # (k 2 h w)
    if bins is None:
        energy = shapes.abs().square().sum(dim=(1, 2, 3))
        energy[0] = -1.0                                                              # DC is no vibration
        order = torch.argsort(energy, descending=True)
        bins = tuple(sorted(int(j) for j in order[:min(num_modes, k - 1)]))
    bins = tuple(int(j) for j in bins)
    if not bins or any(not 0 < j < k for j in bins):
        raise KinemaError(f"modal frequencies must be bins 1..{k - 1} of the spectral volume; got {bins}")
    chosen = shapes[list(bins)]                                                       # (m 2 h w)
    omega = torch.tensor([2.0 * math.pi * j / period for j in bins], dtype=torch.float64)
    # one scale for every mode: the largest undamped swing of a poke is |force| px (module docstring)
    swing = (chosen.abs().square().sum(dim=1) / omega.view(-1, 1, 1)).sum(dim=0).amax()
    return ModalBasis(chosen / swing.clamp_min(1e-24).sqrt(), omega, bins)


def update_matrix(omega: torch.Tensor, dt: float, stiffness: float, damping: float) -> torch.Tensor:
    """The (2 2) map (q, v) -> (q', v') of one semi-implicit Euler step per mode: (m 2 2)."""
    w2 = stiffness * omega.double() ** 2
    c = 2.0 * damping * math.sqrt(stiffness) * omega.double()
    one = torch.ones_like(w2)
    # v' = (1 - h c) v - h w2 q ;  q' = q + h v'
    return torch.stack([torch.stack([one - dt * dt * w2, dt * (one - dt * c)], -1),
                        torch.stack([-dt * w2, one - dt * c], -1)], -2)


def check_step(omega: torch.Tensor, dt: float, stiffness: float, damping: float) -> None:
    """KinemaError unless every mode's update matrix has spectral radius <= 1."""
    radius = torch.linalg.eigvals(update_matrix(omega, dt, stiffness, damping)).abs().amax()
    if radius > 1.0 + 1e-9:
        fastest = math.sqrt(stiffness) * float(omega.max())
        needed = math.ceil(fastest / 1.9 + 1e-9)
        raise KinemaError(f"the modal simulation is unstable with step {dt:g} frames (spectral radius "
                          f"{float(radius):.4f} > 1 at sqrt(k) omega = {fastest:.3f} rad/frame): use at "
                          f"least {needed} substeps per frame (h sqrt(k) omega < 2)")


# Substeps per video frame at most: each is a pass over the modes, and their count grows as
# sqrt(stiffness) (a stiffness of 1e12 would ask for millions per frame)
MAX_SUBSTEPS = 1000


class ModalSimulator:
    """Modal coordinates q (m) complex and their velocities, advanced frame by frame."""

    def __init__(self, basis: ModalBasis, stiffness: float = 1.0, damping: float = 0.03,
                 substeps: int | None = None):
        # NaN passes a plain `< 0` test and makes eigvals of a NaN matrix (which crashes MKL)
        if not (isinstance(stiffness, numbers.Real) and math.isfinite(stiffness) and stiffness > 0):
            raise KinemaError(f"stiffness must be a finite number > 0; got {stiffness}")
        if not (isinstance(damping, numbers.Real) and math.isfinite(damping) and damping >= 0):
            raise KinemaError(f"damping must be a finite number >= 0; got {damping}")
        self.basis, self.stiffness, self.damping = basis, float(stiffness), float(damping)
        fastest = math.sqrt(self.stiffness) * float(basis.omega.max())
        self.substeps = max(1, math.ceil(fastest / 0.5)) if substeps is None else int(substeps)  # h w <= 0.5
        if not 1 <= self.substeps <= MAX_SUBSTEPS:
            raise KinemaError(f"substeps must be in 1..{MAX_SUBSTEPS}; got {self.substeps} (the "
                              f"stiffness {stiffness:g} makes the fastest mode sqrt(k) omega = "
                              f"{fastest:.3g} rad/frame: lower the stiffness)")
        self.dt = 1.0 / self.substeps
        check_step(basis.omega, self.dt, self.stiffness, self.damping)
        m = basis.omega.shape[0]
        self.q = torch.zeros(m, dtype=torch.complex128)
        self.v = torch.zeros(m, dtype=torch.complex128)

    def poke(self, x: float, y: float, force: tuple[float, float]) -> None:
        """An impulse ``force`` (dx, dy) at pixel (x, y), projected on the modes; in px: the most
        a pixel swings when poked with it (module docstring)."""
        h, w = self.basis.size
        if len(force) != 2 or not all(isinstance(f, numbers.Real) and math.isfinite(f) for f in force):
            raise KinemaError(f"the poke's force must be two finite numbers (dx, dy) px; "
                              f"got {str(force)[:60]}")
        if not (0 <= x <= w - 1 and 0 <= y <= h - 1) or not all(map(math.isfinite, (x, y))):
            raise KinemaError(f"the poke at ({x:g}, {y:g}) is outside the picture: x must be in 0..{w - 1} "
                              f"and y in 0..{h - 1} (pixels of the {w}x{h} picture the model sees)")
        phi = self.basis.shapes[:, :, int(round(y)), int(round(x))]                 # (m 2) complex
        d = torch.tensor(force, dtype=torch.complex128)
        self.v = self.v + (phi.conj() * d).sum(dim=1)                                # f_j = Phi_j(p)^H d

    def step(self) -> None:
        """One video frame: ``substeps`` semi-implicit Euler steps."""
        w2 = self.stiffness * self.basis.omega ** 2
        c = 2.0 * self.damping * math.sqrt(self.stiffness) * self.basis.omega
        for _ in range(self.substeps):
            self.v = self.v + self.dt * (-w2 * self.q - c * self.v)
            self.q = self.q + self.dt * self.v

    def energy(self) -> float:
        """Sum over modes of (1/2)(|v|^2 + k omega^2 |q|^2) (unit masses)."""
        w2 = self.stiffness * self.basis.omega ** 2
        return float(0.5 * (self.v.abs() ** 2 + w2 * self.q.abs() ** 2).sum())

    def modified_energy(self) -> float:
        """The quantity semi-implicit Euler conserves exactly without damping:
        (1/2) sum (|v|^2 + k omega^2 |q|^2 - h k omega^2 Re(q conj(v)))."""
        w2 = self.stiffness * self.basis.omega ** 2
        return float(0.5 * (self.v.abs() ** 2 + w2 * self.q.abs() ** 2
                            - self.dt * w2 * (self.q * self.v.conj()).real).sum())

    def displacement(self) -> torch.Tensor:
        """Eq. (6): F(p) = Re sum_j Phi_j(p) q_j, (2 h w) float32 in px."""
        return torch.einsum("m,mchw->chw", self.q, self.basis.shapes).real.float()


def simulate(simulator: ModalSimulator, num_frames: int):
    """Yield the displacement (2 h w) of frames 0 .. num_frames-1 (frame 0: right after the poke)."""
    for t in range(num_frames):
        if t:
            simulator.step()
        yield simulator.displacement()


# Frames per renderer call after the first: after the release the simulation is deterministic, so
# the next frames' displacements are known before they are shown, and fewer, larger calls keep
# two threads busier than one frame per call (256x160, widths (16, 32, 64), 2 threads, render and
# RGBA only, training paused: 24.4 fps in threes against 20.7-22.5 one at a time with the folded
# decoder, 18.8-19.4 with the plain one; fours were as fast as threes within the noise)
PLAYBACK_BATCH = 3


def simulate_batches(simulator: ModalSimulator, num_frames: int, batch: int = 1):
    """``simulate``'s displacements stacked (n 2 h w): frame 0 alone (it is shown at once), then
    ``batch`` frames at a time."""
    if batch < 1:
        raise KinemaError(f"a batch of frames needs at least 1 frame; got {batch}")
    pending = []
    for t, displacement in enumerate(simulate(simulator, num_frames)):
        pending.append(displacement)
        if t == 0 or len(pending) == batch:
            yield torch.stack(pending)
            pending = []
    if pending:
        yield torch.stack(pending)


def render_simulation(renderer, features: list[torch.Tensor], metric: torch.Tensor, simulator: ModalSimulator,
                      num_frames: int, batch: int = PLAYBACK_BATCH, decoder=None, bfloat16: bool = False):
    """Frames (3 h w) in [-1, 1] of a poked simulator, yielded one at a time, rendered
    ``simulate_batches(..., batch)`` at a time: the renderer's features (each (1 c h w)) and
    metric (1 1 h w) of the picture; ``decoder`` and ``bfloat16``: ``ImageRenderer.render_frames``."""
    for flows in simulate_batches(simulator, num_frames, batch):
        n = flows.shape[0]
        frames = renderer.render_frames([f.expand(n, -1, -1, -1) for f in features], flows.to(metric),
                                        metric.expand(n, -1, -1, -1), bfloat16=bfloat16, decoder=decoder)
        yield from frames.clamp(-1, 1)


@torch.no_grad()
def poke_frames(renderer, image: torch.Tensor, volume: torch.Tensor, period: int, at: tuple[float, float],
                force: tuple[float, float], num_frames: int, stiffness: float = 1.0, damping: float = 0.03,
                bins: tuple[int, ...] | None = None, num_modes: int = 4, bfloat16: bool = False,
                batch: int = PLAYBACK_BATCH, folded: bool = True):
    """Render a poke as it is simulated: yields frames (3 h w) in [-1, 1] one at a time (a
    browser can stream them). image (1 3 h w); volume (k 4 h w) the picture's spectral volume;
    ``renderer`` an ``ImageRenderer``. The splatting weight is the mean motion magnitude of the
    volume's own motion over one period (what moves in the picture). ``bfloat16``: the
    renderer's decoder in bfloat16 (``ImageRenderer.render_frames``). By default the playback
    path (``render_simulation``: ``batch`` frames per renderer call after the first, the
    ``folded`` decoder); ``batch=1, folded=False`` is the plain one, the same frames to float
    rounding."""
    from kinema.methods.dynamics.motion import spectral_volume_to_motion
    from kinema.methods.dynamics.render_data import motion_weight

    basis = modal_basis(volume, period, bins, num_modes)
    simulator = ModalSimulator(basis, stiffness, damping)
    simulator.poke(at[0], at[1], force)                      # before any rendering: bad pokes write nothing
    weight = motion_weight(spectral_volume_to_motion(volume[None], period, period=period))
    features = renderer.pyramid(image)
    metric = renderer.metric(image, weight.to(image))
    yield from render_simulation(renderer, features, metric, simulator, num_frames, batch,
                                 renderer.folded_decoder() if folded else None, bfloat16)
