"""The temporal networks of StyleVideoGAN (Sec. 3, Fig. 2; supplement Tables 4-7).

Generator G(i, s) -> w_0 .. w_{t-1} in W+:
  H (``Hallucinator``, Table 4): i ~ N(0, I)^32 -> 4 x (FC + LeakyReLU) -> BatchNorm ->
      the initial memory (h_{0,0}, h_{0,1}, h_{0,2}) of the first three GRU cells;
      h_{0,3} := i.
  P (``MotionProducer``, Table 5): a stack of 4 GRU cells; cell 0 reads s_k, cell j reads the
      new memory of cell j-1, and the top cell's memory is the motion code:
      ((h_{k+1,0..3}), l_{k+1}) := P(s_k, (h_{k,0..3})),  l_k = h_{k,3}, so l_0 = i.
  T (``LatentMapper``, Table 6): l_k -> BatchNorm + affine + PixelNorm -> 4 x (FC + LeakyReLU)
      -> BatchNorm + affine -> num_ws parallel (FC + LeakyReLU + BatchNorm) -> w_k (num_ws w_dim).
Critic C (``LatentCritic``, Table 7): a 6-layer per-step MLP E: W+ -> R^32, then DCGAN's
  discriminator turned 1-D over time, with no batch norm anywhere (it would couple the
  samples of the per-sample gradient penalties) and a raw scalar output (no sigmoid, no tanh).

Because P is recurrent, G generates any number of steps; the critic sees a fixed window.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn
from kinema.nn.precision import fp32_island


def _mlp(widths: list[int], slope: float = 0.2) -> nn.Sequential:
    layers: list[nn.Module] = []
    for a, b in zip(widths[:-1], widths[1:]):
        layers += [nn.Linear(a, b), nn.LeakyReLU(slope)]
    return nn.Sequential(*layers)


class PixelNorm(nn.Module):
    """x / sqrt(mean(x^2) + eps) over the feature axis (StyleGAN's mapping-network input norm)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(dim=1, keepdim=True) + 1e-8)


class Hallucinator(nn.Module):
    """H of Table 4: i (b d) -> the initial memory of the first ``cells`` GRU cells (b cells d).

    ``statistics`` (mean, var) replace the batch's own in the batch norm (training mode): with
    the batch's statistics passed as constants, each sample's memory is a function of its own
    i alone, which the per-sample Jacobians of L_GAP need."""

    def __init__(self, dim: int, cells: int = 3, layers: int = 4):
        super().__init__()
        self.cells = cells
        self.body = _mlp([dim] + [cells * dim] * layers)
        self.norm = nn.BatchNorm1d(cells * dim)

    @torch.no_grad()
    def batch_statistics(self, i: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The (mean, biased var) the batch norm normalises the batch ``i`` with (the global
        batch's when the norm is synchronised over ranks, ``kinema.nn.sync_batchnorm``)."""
        with fp32_island("latentgan hallucinator batch norm", self.body(i)) as h:
            moments = getattr(self.norm, "batch_moments", None)
            return moments(h) if moments is not None else (h.mean(0), h.var(0, unbiased=False))

    def forward(self, i: torch.Tensor, statistics: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        # fp32 island: the batch norm's mean and variance are reductions over the batch, and
        # its float32 parameters and running statistics need a float32 input under autocast
        with fp32_island("latentgan hallucinator batch norm", self.body(i)) as h:
            if statistics is None:
                h = self.norm(h)
            else:
                mean, var = statistics
                h = F.batch_norm(h, mean, var, self.norm.weight, self.norm.bias, False, 0.0,
                                 self.norm.eps)
        return rearrange(h, "b (n d) -> b n d", n=self.cells)


def gru_step(cell: nn.GRUCell, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """``cell(x, h)`` written out (Cho et al. 2014, torch's gate layout): the same values, but
    built from plain ops whose double backward (L_GAP differentiates gradients) is cheap."""
    gi = F.linear(x, cell.weight_ih, cell.bias_ih)
    gh = F.linear(h, cell.weight_hh, cell.bias_hh)
    i_r, i_z, i_n = gi.chunk(3, 1)
    h_r, h_z, h_n = gh.chunk(3, 1)
    r, z = torch.sigmoid(i_r + h_r), torch.sigmoid(i_z + h_z)
    n = torch.tanh(i_n + r * h_n)
    return (1 - z) * n + z * h


class MotionProducer(nn.Module):
    """P of Table 5: stacked GRU cells driven by per-step noise.

    forward(noise (b k d), memory (b cells d)) -> (l (b k+1 d), memory after the last step),
    with l[:, 0] = the top cell's initial memory (= i) and l[:, k+1] its memory after s_k."""

    def __init__(self, dim: int, cells: int = 4):
        super().__init__()
        self.cells = nn.ModuleList(nn.GRUCell(dim, dim) for _ in range(cells))

    def forward(self, noise: torch.Tensor, memory: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = list(memory.unbind(1))
        codes = [h[-1]]
        for k in range(noise.shape[1]):
            x = noise[:, k]
            for j, cell in enumerate(self.cells):
                h[j] = gru_step(cell, x, h[j])
                x = h[j]
            codes.append(x)
        return torch.stack(codes, 1), torch.stack(h, 1)


class ParallelLinear(nn.Module):
    """``n`` independent fully connected layers applied to one input: (b f) -> (b n out)."""

    def __init__(self, n: int, features: int, out: int):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(n, features, out) / features ** 0.5)
        self.bias = nn.Parameter(torch.zeros(n, out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.einsum("bf,nfo->bno", x, self.weight) + self.bias


class LatentMapper(nn.Module):
    """T of Table 6: motion codes l (b t d) -> W+ codes (b t num_ws w_dim)."""

    def __init__(self, dim: int, width: int, num_ws: int, w_dim: int, layers: int = 4):
        super().__init__()
        self.num_ws, self.w_dim = num_ws, w_dim
        self.in_norm, self.in_affine, self.pixel_norm = nn.BatchNorm1d(dim), nn.Linear(dim, width), PixelNorm()
        self.body = _mlp([width] * (layers + 1))
        self.mid_norm, self.mid_affine = nn.BatchNorm1d(width), nn.Linear(width, width)
        self.heads = ParallelLinear(num_ws, width, w_dim)
        self.out_norm = nn.BatchNorm1d(num_ws * w_dim)

    @torch.no_grad()
    def match_statistics(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        """Start the last batch norm's affine at the data's per-component mean and std
        (num_ws w_dim), so the first samples already lie where the embedding lies."""
        self.out_norm.bias.copy_(mean.reshape(-1))
        self.out_norm.weight.copy_(std.reshape(-1))

    def forward(self, l: torch.Tensor) -> torch.Tensor:
        b = l.shape[0]
        x = rearrange(l, "b t d -> (b t) d")
        x = self.pixel_norm(self.in_affine(self.in_norm(x)))
        v = self.mid_affine(self.mid_norm(self.body(x)))
        w = F.leaky_relu(self.heads(v), 0.2)
        w = self.out_norm(rearrange(w, "bt n c -> bt (n c)"))
        return rearrange(w, "(b t) (n c) -> b t n c", b=b, n=self.num_ws)


class TemporalGenerator(nn.Module):
    """G(i, s): i (b d), s (b t-1 d) -> (ws (b t num_ws w_dim), l (b t d))."""

    def __init__(self, dim: int = 32, cells: int = 4, hallucinator_layers: int = 4,
                 width: int = 512, mapper_layers: int = 4, num_ws: int = 18, w_dim: int = 512):
        super().__init__()
        self.dim = dim
        self.hallucinator = Hallucinator(dim, cells - 1, hallucinator_layers)
        self.producer = MotionProducer(dim, cells)
        self.mapper = LatentMapper(dim, width, num_ws, w_dim, mapper_layers)

    def initial_memory(self, i: torch.Tensor, statistics=None) -> torch.Tensor:
        """(h_{0,0}, h_{0,1}, h_{0,2}) := H(i), h_{0,3} := i  ->  (b cells d)."""
        return torch.cat([self.hallucinator(i, statistics), i[:, None]], dim=1)

    def motion(self, i: torch.Tensor, s: torch.Tensor, statistics=None) -> torch.Tensor:
        """The motion codes l_0 .. l_{t-1} (b t d) of P (``statistics``: see Hallucinator)."""
        return self.producer(s, self.initial_memory(i, statistics))[0]

    def forward(self, i: torch.Tensor, s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        l = self.motion(i, s)
        return self.mapper(l), l

    def noise(self, batch: int, steps: int, generator: torch.Generator | None = None,
              device=None) -> tuple[torch.Tensor, torch.Tensor]:
        """(i (b d), s (b steps-1 d)), both N(0, I), drawn i first from ``generator``."""
        i = torch.randn(batch, self.dim, generator=generator)
        s = torch.randn(batch, max(steps - 1, 0), self.dim, generator=generator)
        return i.to(device), s.to(device)


def critic_lengths(window: int) -> list[int]:
    """Sequence lengths after each stride-2 convolution of the 1-D DCGAN critic: halve while
    longer than 4 (DCGAN's 64 -> 32 -> 16 -> 8 -> 4); 25 -> 12 -> 6 -> 3."""
    lengths = [window]
    while lengths[-1] > 4:
        lengths.append((lengths[-1] + 2 - 4) // 2 + 1)
    return lengths


class LatentCritic(nn.Module):
    """C of Table 7: ws (b t num_ws w_dim) with t = ``window`` -> scores (b)."""

    def __init__(self, num_ws: int, w_dim: int, window: int = 25, width: int = 512,
                 feature_dim: int = 32, channels: int = 64):
        super().__init__()
        self.window = window
        # E: 2 x (FC + LeakyReLU) to e' (width), 4 x (FC + LeakyReLU) to e (feature_dim)
        self.extract = nn.Sequential(_mlp([num_ws * w_dim, width, width]),
                                     _mlp([width, width, width, width, feature_dim]))
        convs: list[nn.Module] = []
        c_in = feature_dim
        for n in range(len(critic_lengths(window)) - 1):
            c_out = channels * 2 ** n
            convs += [nn.Conv1d(c_in, c_out, 4, stride=2, padding=1), nn.LeakyReLU(0.2)]
            c_in = c_out
        convs.append(nn.Conv1d(c_in, 1, critic_lengths(window)[-1]))
        self.temporal = nn.Sequential(*convs)

    def forward(self, ws: torch.Tensor) -> torch.Tensor:
        if ws.shape[1] != self.window:
            raise ValueError(f"the critic reads windows of {self.window} steps, got {ws.shape[1]}")
        e = self.extract(rearrange(ws, "b t n c -> b t (n c)"))
        return self.temporal(rearrange(e, "b t d -> b d t")).reshape(-1)
