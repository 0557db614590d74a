"""Invertible building blocks shared by ILE and the cINN (DESIGN.md, ``nn/invertible``).

One contract for every piece: ``y, logdet = layer(x, cond=None, reverse=False)`` with ``x``
either vectors ``(b d)`` or feature maps ``(b c h w)`` and ``logdet`` of shape ``(b,)``.
"""
from kinema.nn.invertible.coupling import (AffineCoupling, SeparateScaleShift, conv_subnet,
                                           fc_subnet, separate_fc_subnets)
from kinema.nn.invertible.layers import (ActNorm, FixedPermutation, Invertible1x1Conv,
                                         InvertibleLayer, InvertibleLeakyReLU, Squeeze)
from kinema.nn.invertible.sequence import InvertibleSequence

__all__ = ["ActNorm", "AffineCoupling", "FixedPermutation", "Invertible1x1Conv",
           "InvertibleLayer", "InvertibleLeakyReLU", "InvertibleSequence", "SeparateScaleShift",
           "Squeeze", "conv_subnet", "fc_subnet", "separate_fc_subnets"]
