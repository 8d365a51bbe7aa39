"""Cutoff conditioning for TD-CNNs: FiLM layers driven by the input's cutoff frequency.

Why: the pipeline knows where the input's band ends (detected, or ``--cutoff``), but an
unconditioned TD-CNN has to guess it from the waveform. Trained across 2-4.5 kHz cutoffs, it
cannot tell "cut at 3 kHz: generate 3-3.5 kHz" from "cut at 4 kHz: this passage is quiet at
3-3.5 kHz", and it hedges: the first 500 Hz above a steep 3 kHz edge come out about 9 dB too
quiet (docs/models.md). FiLM (Perez et al., 2018) scales and shifts each U-Net level's channels
by a learned function of the cutoff; its projection starts at zero, so a conditioned model
initialised from an unconditioned one computes exactly what that one did.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

#: Centres (Hz) and width (Hz) of the Gaussian bumps that encode the cutoff: they span the
#: cutoffs tdpr restores (2-5 kHz) with room on both sides.
CENTRES_HZ: tuple[float, ...] = tuple(1500.0 + 500.0 * i for i in range(10))
WIDTH_HZ = 500.0
N_FEATURES = len(CENTRES_HZ) + 1
#: Scale of the features. Adam moves each weight by about the LR per step whatever its
#: gradient, so at fine-tuning LRs (5e-5) zero-started FiLM layers would stay near the identity
#: for thousands of steps; features of size 10 let them move as a 10x LR would.
FEATURE_GAIN = 10.0


def cutoff_features(cutoff_hz: Tensor) -> Tensor:
    """(B,) cutoffs in Hz -> (B, N_FEATURES): Gaussian bumps at ``CENTRES_HZ`` and the cutoff / 8 kHz,
    times ``FEATURE_GAIN``."""
    c = cutoff_hz.float()[:, None]
    centres = torch.tensor(CENTRES_HZ, device=c.device)
    bumps = torch.exp(-0.5 * ((c - centres) / WIDTH_HZ) ** 2)
    return FEATURE_GAIN * torch.cat([bumps, c / 8000.0], dim=1)


def cutoff_tensor(cutoff_hz: float, n: int, device: torch.device | str) -> Tensor:
    """The same cutoff (Hz) for ``n`` batch rows: (n,) float32 on ``device``."""
    return torch.full((n,), float(cutoff_hz), dtype=torch.float32, device=device)


class Film(nn.Module):
    """(B, C, T) features, (B, N_FEATURES) cutoff features -> h * (1 + gamma) + beta, (B, C, T)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.proj = nn.Linear(N_FEATURES, 2 * channels)
        nn.init.zeros_(self.proj.weight)  # the identity at the start: see the module docstring
        nn.init.zeros_(self.proj.bias)

    def forward(self, h: Tensor, features: Tensor) -> Tensor:
        gamma, beta = self.proj(features).to(h.dtype)[..., None].chunk(2, dim=1)
        return h * (1.0 + gamma) + beta


def call_tdcnn(model: nn.Module, x: Tensor, cutoff_hz: Tensor) -> Tensor:
    """``model(x, cutoff_hz)`` for a cutoff-conditioned TD-CNN, ``model(x)`` for any other.

    (B, 1, T) and (B,) Hz -> (B, 1, T). Stand-ins and wrapped models take the waveform alone.
    """
    return model(x, cutoff_hz) if getattr(model, "conditioned", False) else model(x)
