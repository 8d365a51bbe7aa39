"""Subband TD-CNN: PQMF analysis, a SEANet U-Net at fs / bands, PQMF synthesis.

Why: a full-rate SEANet spends most of its time in narrow 16 kHz layers that
CPUs run badly. Splitting the waveform into ``bands`` critically sampled
subbands (a pseudo-QMF bank, as Multi-band MelGAN and EBEN do) lets the
U-Net run at 4 kHz with ``bands`` channels per step instead of one, so the
same compute buys wider layers and a longer receptive field in seconds.

The bank is the classic cosine-modulated near-perfect-reconstruction design:
a Kaiser-windowed sinc prototype ``h`` (``taps`` + 1 taps, cutoff ``cutoff``
x Nyquist, Kaiser ``beta``) modulated to ``bands`` channels,

    h_k[n] = 2 h[n] cos((2k + 1) pi / (2K) (n - N / 2) + (-1)^k pi / 4)   (analysis)
    g_k[n] = 2 h[n] cos((2k + 1) pi / (2K) (n - N / 2) - (-1)^k pi / 4)   (synthesis)

with ``N = taps``. Analysis filters and keeps every K-th sample; synthesis
inserts K - 1 zeros, filters and sums; both are centred (N / 2 padding), so
the round trip has no delay. The defaults (4 bands, 62 taps, 0.142, beta 9)
reconstruct white noise to about -64 dB, far below what the model changes.

The model is waveform in, waveform out at 16 kHz, so chunking and TD-PR
apply unchanged:

1. analysis of the input into K subbands (B, K, T / K); with ``exciter``
   also of ``|x|``, whose rectification puts energy on the harmonics of
   what is played (Opus BBWENet's trick), K more channels;
2. a SEANet U-Net (``SeanetConfig`` with ``in_channels`` K or 2K,
   ``out_channels`` K; residual, last layer zero so it starts as identity);
3. the lowest ``keep_low_bands`` subbands are replaced by the input's own:
   below 2 kHz (one band of four) every input of the 2.5-4 kHz range is
   intact, so the model cannot damage it;
4. synthesis back to (B, 1, T).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from tdpr_cli.errors import UsageError
from tdpr_cli.models.base import TdcnnBase
from tdpr_cli.models.seanet import Seanet, SeanetConfig


def pqmf_filters(bands: int, taps: int, cutoff: float, beta: float) -> tuple[np.ndarray, np.ndarray]:
    """(analysis, synthesis) filters, each (bands, taps + 1) float64."""
    n = np.arange(taps + 1) - taps / 2
    with np.errstate(invalid="ignore", divide="ignore"):
        proto = np.sin(np.pi * cutoff * n) / (np.pi * n)
    proto[n == 0] = cutoff  # the limit of sin(pi c n) / (pi n) at n = 0
    proto = proto * np.kaiser(taps + 1, beta)
    k = np.arange(bands)[:, None]
    phase = (2 * k + 1) * np.pi / (2 * bands) * n[None, :]
    sign = np.where(k % 2 == 0, 1.0, -1.0) * np.pi / 4
    return 2 * proto * np.cos(phase + sign), 2 * proto * np.cos(phase - sign)


class Pqmf(nn.Module):
    """Pseudo-QMF bank: ``analysis`` (B, 1, T) -> (B, K, T / K); ``synthesis`` the inverse.

    T must be a multiple of K (the subband model pads to its stride first).
    Analysis correlates with ``h_k``; synthesis, a transposed convolution with
    the same filters, convolves the zero-stuffed bands with ``h_k``, which is
    correlation with ``g_k`` (``g_k`` is ``h_k`` reversed).
    """

    def __init__(self, bands: int = 4, taps: int = 62, cutoff: float = 0.142, beta: float = 9.0) -> None:
        super().__init__()
        if bands < 2 or taps < 2 or taps % 2 or not 0 < cutoff < 1:
            raise UsageError(f"invalid PQMF settings: bands {bands}, taps {taps}, cutoff {cutoff}")
        self.bands, self.pad = bands, taps // 2
        ana, _ = pqmf_filters(bands, taps, cutoff, beta)
        self.filters: Tensor
        self.register_buffer("filters", torch.tensor(ana, dtype=torch.float32)[:, None], persistent=False)

    def analysis(self, x: Tensor) -> Tensor:
        return F.conv1d(F.pad(x, (self.pad, self.pad)), self.filters.to(x.dtype), stride=self.bands)

    def synthesis(self, y: Tensor) -> Tensor:
        length = y.shape[-1] * self.bands
        # x K restores the power that keeping one sample in K removed.
        full = F.conv_transpose1d(y, self.filters.to(y.dtype) * self.bands, stride=self.bands)
        return full[..., self.pad : self.pad + length]


@dataclass(frozen=True)
class SubbandConfig:
    """Bank settings, the U-Net (``SeanetConfig`` fields) and what is fed and kept."""

    bands: int = 4
    taps: int = 62
    cutoff: float = 0.142
    beta: float = 9.0
    exciter: bool = False
    keep_low_bands: int = 1
    unet: dict[str, Any] = field(default_factory=lambda: {"channels": 16, "strides": (2, 4, 4)})

    def __post_init__(self) -> None:
        if not 0 <= self.keep_low_bands < self.bands:
            raise UsageError(f"keep_low_bands must lie in 0..{self.bands - 1}, got {self.keep_low_bands}")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SubbandConfig:
        d = dict(d)
        d["unet"] = dict(d.get("unet", {"channels": 16, "strides": (2, 4, 4)}))
        return cls(**d)

    def unet_config(self) -> SeanetConfig:
        inputs = self.bands * (2 if self.exciter else 1)
        return SeanetConfig.from_dict({**self.unet, "in_channels": inputs, "out_channels": self.bands})


class SubbandTdcnn(TdcnnBase):
    """(B, 1, T) band-limited waveform at 16 kHz -> (B, 1, T) wideband, through K subbands."""

    arch = "subband"

    def __init__(self, cfg: SubbandConfig = SubbandConfig()) -> None:
        super().__init__()
        self.cfg = cfg
        self.pqmf = Pqmf(cfg.bands, cfg.taps, cfg.cutoff, cfg.beta)
        self.unet = Seanet(cfg.unet_config())

    @property
    def total_stride(self) -> int:
        return self.cfg.bands * self.unet.total_stride

    @property
    def conditioned(self) -> bool:
        return self.unet.conditioned

    def forward(self, x: Tensor, cutoff_hz: Tensor | None = None) -> Tensor:
        """(B, 1, T) -> (B, 1, T); ``cutoff_hz`` (B,) in Hz reaches a conditioned U-Net."""
        length = x.shape[-1]
        h = F.pad(x, (0, self.valid_length(length) - length))
        sub = self.pqmf.analysis(h)
        feats = torch.cat([sub, self.pqmf.analysis(h.abs())], dim=1) if self.cfg.exciter else sub
        out = self.unet(feats, cutoff_hz)
        keep = self.cfg.keep_low_bands
        if keep:
            out = torch.cat([sub[:, :keep], out[:, keep:]], dim=1)
        return self.pqmf.synthesis(out)[..., :length]


def macs_per_second(model: nn.Module, seconds: float = 1.0, sr: int = 16000) -> float:
    """Multiply-accumulates of the model's convolutions per second of audio (counted with hooks)."""
    total = 0

    def hook(mod: nn.Module, inp: tuple[Tensor, ...], out: Tensor) -> None:
        nonlocal total
        w = cast(Tensor, mod.weight)
        if isinstance(mod, nn.ConvTranspose1d):  # each input sample feeds out_ch x kernel products
            total += inp[0].numel() * w.shape[1] * w.shape[2]
        else:
            total += out.numel() * w.shape[1] * w.shape[2]

    kinds = (nn.Conv1d, nn.ConvTranspose1d)
    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, kinds)]
    try:
        with torch.no_grad():
            model(torch.zeros(1, 1, int(math.ceil(seconds * sr))))
    finally:
        for h in handles:
            h.remove()
    return total / seconds
