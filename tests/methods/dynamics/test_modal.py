"""Interactive dynamics (Eq. (6)): the modal basis, the poke, semi-implicit Euler's energy
behaviour with and without damping, the checked step size, and frames streamed as simulated."""
from __future__ import annotations

import math

import pytest
import torch

from kinema.errors import KinemaError
from kinema.methods.dynamics.modal import (PLAYBACK_BATCH, ModalBasis, ModalSimulator, check_step, modal_basis,
                                           poke_frames, simulate, simulate_batches)


def _volume(seed: int = 0) -> torch.Tensor:
    torch.manual_seed(seed)
    return torch.randn(8, 4, 12, 10)                       # (k 4 h w), period 16


def test_basis_takes_the_strongest_bins_keeps_their_relative_amplitudes_and_one_scale():
    volume = _volume()
    volume[3] *= 10.0
    volume[6] *= 5.0
    basis = modal_basis(volume, period=16, num_modes=2)
    assert basis.bins == (3, 6)
    omega = torch.tensor([2 * math.pi * 3 / 16, 2 * math.pi * 6 / 16], dtype=torch.float64)
    assert torch.allclose(basis.omega, omega)
    # the modes are bins 3 and 6 as complex fields (Re dx + i Im dx, Re dy + i Im dy), both
    # divided by the same c, with max_p sum_j |Phi_j(p)|^2 / omega_j = 1
    raw = torch.complex(volume[[3, 6], :2].double(), volume[[3, 6], 2:].double())
    c = (raw.abs().square().sum(1) / omega.view(2, 1, 1)).sum(0).max().sqrt()
    assert torch.allclose(basis.shapes, raw / c)
    with pytest.raises(KinemaError, match="bins 1..7"):
        modal_basis(volume, 16, bins=(0,))


def test_a_poke_is_two_damped_oscillators_in_the_predicted_proportions():
    """Two modes (bins 1 and 3 of a 150-frame period, the paper's regime) with the second at half
    the first's amplitude: the poked pixel follows sum_j |Phi_j|^2 d e^(-zeta w t) sin(w_d t) / w_d
    (period 2 pi / w_d, decay zeta w), and an undamped poke at the pixel that moves most swings
    it by at most |force| px."""
    period, h, w = 150, 4, 5
    volume = torch.zeros(4, 4, h, w, dtype=torch.float64)
    volume[1, 0] = torch.linspace(0.0, 1.0, h * w, dtype=torch.float64).reshape(h, w) * 30.0
    volume[3, 0] = 0.5 * volume[1, 0]
    basis = modal_basis(volume, period, bins=(1, 3))
    assert torch.allclose(basis.shapes[1], 0.5 * basis.shapes[0])        # the predicted proportion kept
    omega = basis.omega
    # max_p sum_j |Phi_j|^2 / w_j = 1 at the pixel that moves most, (x 4, y 3)
    phi = basis.shapes[:, 0, 3, 4].real
    assert float((phi ** 2 / omega).sum()) == pytest.approx(1.0, rel=1e-12)
    zeta, force = 0.05, 3.0
    sim = ModalSimulator(basis, damping=zeta, substeps=100)
    sim.poke(4, 3, (force, 0.0))
    omega_d = omega * math.sqrt(1 - zeta ** 2)
    for t in range(1, 151):
        sim.step()
        exact = float((phi ** 2 * force * torch.exp(-zeta * omega * t) * torch.sin(omega_d * t) / omega_d).sum())
        assert sim.displacement()[0, 3, 4].item() == pytest.approx(exact, abs=2e-3 * force)
    undamped = ModalSimulator(basis, damping=0.0, substeps=100)
    undamped.poke(4, 3, (force, 0.0))
    swing = max(abs(d[0, 3, 4].item()) for d in simulate(undamped, 2 * period))
    frames = torch.arange(2 * period, dtype=torch.float64)[:, None]
    analytic = (phi ** 2 * force * torch.sin(omega * frames) / omega).sum(1).abs().max().item()
    assert swing == pytest.approx(analytic, abs=2e-3 * force)
    assert 0.8 * force < swing <= force                  # the modes do not peak together: 0.85 |force|


def test_displacement_is_eq6_and_the_poke_projects_the_force():
    basis = modal_basis(_volume(), 16, bins=(1, 2))
    sim = ModalSimulator(basis, damping=0.0)
    sim.poke(4, 7, (1.5, -0.5))
    phi = basis.shapes[:, :, 7, 4]                                  # (m 2)
    expected_v = (phi.conj() * torch.tensor([1.5, -0.5], dtype=torch.complex128)).sum(1)
    assert torch.allclose(sim.v, expected_v)
    sim.q = torch.tensor([0.3 + 0.2j, -0.1 + 0.4j], dtype=torch.complex128)
    by_hand = (basis.shapes[0] * sim.q[0] + basis.shapes[1] * sim.q[1]).real.float()
    assert torch.allclose(sim.displacement(), by_hand, atol=1e-6)
    # just after the poke the poked pixel moves along the force
    sim = ModalSimulator(basis, damping=0.0)
    sim.poke(4, 7, (1.5, -0.5))
    sim.step()
    moved = sim.displacement()[:, 7, 4]
    assert float(moved @ torch.tensor([1.5, -0.5])) > 0


def test_energy_is_conserved_without_damping_over_1000_steps():
    basis = modal_basis(_volume(1), 16, num_modes=4)
    sim = ModalSimulator(basis, damping=0.0)
    sim.poke(3, 5, (1.0, 0.5))
    modified, energy = sim.modified_energy(), sim.energy()
    h_omega = sim.dt * float(basis.omega.max())
    worst_modified, worst_energy = 0.0, 0.0
    for _ in simulate(sim, 1001):                                    # 1000 steps after frame 0
        worst_modified = max(worst_modified, abs(sim.modified_energy() / modified - 1))
        worst_energy = max(worst_energy, abs(sim.energy() / energy - 1))
    # tolerance: semi-implicit Euler's modified energy is exact (to rounding); the true energy
    # stays within h*omega of its start (both lie within h*omega/2 of the modified one)
    assert worst_modified < 1e-9
    assert worst_energy < h_omega
    assert worst_energy > 1e-4          # the true energy does move: the two are not the same quantity


def test_energy_decays_with_damping():
    basis = modal_basis(_volume(1), 16, num_modes=4)
    sim = ModalSimulator(basis, damping=0.05)
    sim.poke(3, 5, (1.0, 0.5))
    energies = []
    for _ in simulate(sim, 1000):
        energies.append(sim.modified_energy())
    assert all(b < a for a, b in zip(energies, energies[1:]))      # falls every frame
    # the slowest mode decays as exp(-2 zeta omega t) in energy
    slowest = 2 * 0.05 * float(basis.omega.min())
    assert energies[-1] / energies[0] < 2 * math.exp(-slowest * 900)


def test_one_mode_follows_the_damped_oscillator():
    basis = ModalBasis(torch.ones(1, 2, 2, 2, dtype=torch.complex128) / math.sqrt(2),
                       torch.tensor([0.4], dtype=torch.float64), (1,))
    zeta = 0.1
    sim = ModalSimulator(basis, damping=zeta, substeps=200)
    sim.v = torch.tensor([1.0 + 0j], dtype=torch.complex128)
    omega_d = 0.4 * math.sqrt(1 - zeta ** 2)
    for t in range(1, 40):
        sim.step()
        exact = math.exp(-zeta * 0.4 * t) * math.sin(omega_d * t) / omega_d
        assert sim.q[0].real.item() == pytest.approx(exact, abs=5e-3)


def test_unstable_step_is_refused_and_the_default_is_stable():
    omega = torch.tensor([1.0, 3.0], dtype=torch.float64)
    with pytest.raises(KinemaError, match="at least 2 substeps"):
        check_step(omega, dt=1.0, stiffness=1.0, damping=0.0)      # h omega = 3 > 2
    check_step(omega, dt=0.5, stiffness=1.0, damping=0.0)          # h omega = 1.5 < 2
    basis = ModalBasis(torch.ones(2, 2, 4, 4, dtype=torch.complex128), omega, (1, 2))
    with pytest.raises(KinemaError, match="unstable"):
        ModalSimulator(basis, stiffness=4.0, substeps=2)            # sqrt(k) omega h = 3
    assert ModalSimulator(basis, stiffness=4.0).substeps == 12      # h sqrt(k) omega <= 0.5


@pytest.mark.parametrize("x,y", [(-1, 3), (10, 3), (4, 12), (float("nan"), 2)])
def test_a_poke_outside_the_picture_is_an_error(x, y):
    sim = ModalSimulator(modal_basis(_volume(), 16, num_modes=2))
    with pytest.raises(KinemaError, match="outside the picture"):
        sim.poke(x, y, (1.0, 0.0))


def test_frames_stream_one_at_a_time_from_the_renderer():
    from kinema.methods.dynamics.config import RenderConfig
    from kinema.methods.dynamics.render import ImageRenderer

    renderer = ImageRenderer(RenderConfig(attention_path="", widths=(4,), image_size=(12, 10))).eval()
    image = torch.rand(1, 3, 12, 10) * 2 - 1
    stream = poke_frames(renderer, image, _volume(), 16, at=(4, 6), force=(2.0, 0.0), num_frames=5)
    first = next(stream)
    assert first.shape == (3, 12, 10)
    assert torch.allclose(first, image[0], atol=1e-6)               # frame 0: before any motion
    rest = list(stream)
    assert len(rest) == 4 and not torch.allclose(rest[-1], image[0], atol=1e-3)
    with pytest.raises(KinemaError, match="outside"):
        next(poke_frames(renderer, image, _volume(), 16, at=(40, 6), force=(2.0, 0.0), num_frames=5))


def test_displacements_come_first_frame_alone_then_in_batches():
    basis = modal_basis(_volume(), 16, num_modes=2)
    one, batched = ModalSimulator(basis), ModalSimulator(basis)
    for sim in (one, batched):
        sim.poke(4, 6, (2.0, -1.0))
    expected = torch.stack(list(simulate(one, 8)))
    pieces = list(simulate_batches(batched, 8, 3))
    assert [p.shape[0] for p in pieces] == [1, 3, 3, 1]
    assert torch.equal(torch.cat(pieces), expected)
    assert [p.shape[0] for p in simulate_batches(ModalSimulator(basis), 3, 5)] == [1, 2]
    with pytest.raises(KinemaError, match="at least 1 frame"):
        next(simulate_batches(ModalSimulator(basis), 3, 0))


@pytest.mark.parametrize("batch", [3, PLAYBACK_BATCH])
def test_playback_in_batches_with_the_folded_decoder_is_the_plain_frame_by_frame_render(batch):
    """``poke_frames``' default path (frames rendered ``batch`` at a time after the first, the
    folded decoder) against one frame per call of the plain decoder, on a renderer whose decoder
    changes the frames (its heads at PyTorch's default init, scaled up, not zero)."""
    from kinema.methods.dynamics.config import RenderConfig
    from kinema.methods.dynamics.render import ImageRenderer

    torch.manual_seed(3)
    renderer = ImageRenderer(RenderConfig(attention_path="", widths=(4, 8), image_size=(12, 10))).eval()
    with torch.no_grad():
        for head in (renderer.decoder.fill, renderer.decoder.refine):
            head.reset_parameters()
            head.weight.mul_(12.0)
    image = torch.rand(1, 3, 12, 10) * 2 - 1
    args = (renderer, image, _volume(), 16, (4, 6), (2.0, -1.0), 9)
    plain = torch.stack(list(poke_frames(*args, batch=1, folded=False)))
    fast = torch.stack(list(poke_frames(*args, batch=batch)))
    assert fast.shape == plain.shape == (9, 3, 12, 10)
    assert (plain[1:] - plain[:1]).abs().amax() > 0.1                 # the poke moves the picture
    assert torch.allclose(fast, plain, atol=1e-5), (fast - plain).abs().max()
