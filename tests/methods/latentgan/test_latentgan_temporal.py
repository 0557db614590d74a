"""The temporal generator and critic: shapes for any length, seeding, the recurrence's indices."""
import pytest
import torch

from kinema.methods.latentgan.temporal import LatentCritic, TemporalGenerator, critic_lengths


def small_generator():
    torch.manual_seed(0)
    return TemporalGenerator(dim=4, width=16, num_ws=3, w_dim=5)


@pytest.mark.parametrize("steps", [1, 2, 25, 61])
def test_generator_shapes_for_any_length(steps):
    g = small_generator().eval()
    i, s = g.noise(2, steps, torch.Generator().manual_seed(0))
    assert s.shape == (2, steps - 1, 4)
    ws, l = g(i, s)
    assert ws.shape == (2, steps, 3, 5) and l.shape == (2, steps, 4)
    assert torch.equal(l[:, 0], i)                       # l_0 = h_{0,3} = i


def test_same_seed_same_trajectory():
    g = small_generator().eval()
    first = g(*g.noise(3, 30, torch.Generator().manual_seed(7)))[0]
    again = g(*g.noise(3, 30, torch.Generator().manual_seed(7)))[0]
    other = g(*g.noise(3, 30, torch.Generator().manual_seed(8)))[0]
    assert torch.equal(first, again)
    assert (first - other).abs().max() > 1e-3


def test_step_noise_only_acts_from_its_step_on():
    g = small_generator().eval()
    i, s = g.noise(1, 12, torch.Generator().manual_seed(0))
    l = g.motion(i, s)
    changed = s.clone()
    changed[:, 5] += 1.0                                 # s_5 drives l_6
    l2 = g.motion(i, changed)
    assert torch.equal(l[:, :6], l2[:, :6])
    assert (l[:, 6] - l2[:, 6]).abs().max() > 1e-4


def test_hallucinated_memory_feeds_the_lower_cells():
    g = small_generator().eval()
    i = torch.randn(2, 4)
    memory = g.initial_memory(i)
    assert memory.shape == (2, 4, 4)
    assert torch.equal(memory[:, 3], i)
    assert torch.allclose(memory[:, :3], g.hallucinator(i))


def test_mapper_starts_at_the_data_statistics():
    g = small_generator()
    mean, std = torch.randn(3, 5), torch.rand(3, 5) + 0.5
    g.mapper.match_statistics(mean, std)
    ws, _ = g(*g.noise(256, 4, torch.Generator().manual_seed(0)))   # train mode: batch statistics
    flat = ws.reshape(-1, 3, 5)
    assert torch.allclose(flat.mean(0), mean, atol=1e-4)
    assert torch.allclose(flat.std(0, unbiased=False), std, rtol=1e-3)


def test_critic_is_a_1d_dcgan_without_batch_norm():
    assert critic_lengths(25) == [25, 12, 6, 3]
    assert critic_lengths(8) == [8, 4]
    critic = LatentCritic(num_ws=3, w_dim=5, window=25, width=16, feature_dim=6, channels=8)
    assert not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in critic.modules())
    convs = [m for m in critic.temporal if isinstance(m, torch.nn.Conv1d)]
    assert [c.out_channels for c in convs] == [8, 16, 32, 1] and convs[-1].kernel_size == (3,)
    ws = torch.randn(4, 25, 3, 5)
    scores = critic(ws)
    assert scores.shape == (4,)
    # samples are scored independently (the per-sample penalties need it)
    assert torch.allclose(critic(ws[1:2]), scores[1:2], atol=1e-6)
    # a raw score: scaling the last layer scales the score (no tanh/sigmoid squashing)
    with torch.no_grad():
        convs[-1].weight *= 100.0
        convs[-1].bias *= 100.0
    assert torch.allclose(critic(ws), 100.0 * scores, rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="windows of 25"):
        critic(torch.randn(1, 24, 3, 5))


def test_stacked_cells_match_a_hand_unrolled_gru_cell_stack():
    # P of Table 5: cell 0 reads s_k, cell j reads the NEW memory of cell j - 1, and the top
    # cell's memory is l_{k+1}; l_0 is the top cell's initial memory
    g = small_generator()
    producer = g.producer
    memory = torch.randn(2, 4, 4)
    noise = torch.randn(2, 3, 4)
    codes, last = producer(noise, memory)
    h = [memory[:, j] for j in range(4)]
    want = [h[3]]
    for k in range(3):
        h[0] = producer.cells[0](noise[:, k], h[0])
        h[1] = producer.cells[1](h[0], h[1])
        h[2] = producer.cells[2](h[1], h[2])
        h[3] = producer.cells[3](h[2], h[3])
        want.append(h[3])
    assert torch.allclose(codes, torch.stack(want, 1), atol=1e-6)
    assert torch.allclose(last, torch.stack(h, 1), atol=1e-6)
