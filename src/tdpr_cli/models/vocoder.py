"""Mel-to-waveform vocoder with a ConvNeXt backbone and an ISTFT head.

After Siuzdak, "Vocos: closing the gap between time-domain and Fourier-based
neural vocoders" (2023): the network never upsamples in time. It predicts, for
every STFT frame, a log-magnitude and a phase angle for each of the
n_fft // 2 + 1 bins, and an inverse STFT with the same window and hop as the
mel analysis makes the waveform. That keeps it fast on a CPU and free of the
upsampling artifacts of transposed-convolution vocoders, and makes its phase
live on exactly the STFT grid that phase repair uses.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from tdpr_cli.config import StftConfig
from tdpr_cli.dsp.spectral import Stft
from tdpr_cli.errors import UsageError
from tdpr_cli.models.base import ModelBase


@dataclass(frozen=True)
class VocoderConfig:
    """Hyper-parameters; STFT settings must match the mel analysis (1024/256/80 at 16 kHz)."""

    n_mels: int = 80
    dim: int = 128
    intermediate: int = 384
    layers: int = 6
    kernel: int = 7
    n_fft: int = 1024
    hop: int = 256

    def __post_init__(self) -> None:
        if min(self.n_mels, self.dim, self.intermediate, self.layers) < 1 or self.kernel % 2 == 0:
            raise UsageError(f"invalid vocoder config {self}")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> VocoderConfig:
        return cls(**d)

    @property
    def stft(self) -> StftConfig:
        return StftConfig(n_fft=self.n_fft, hop=self.hop, n_mels=self.n_mels)


class ConvNeXtBlock(nn.Module):
    """Depthwise conv -> LayerNorm -> pointwise MLP, scaled residual; (B, D, N) -> (B, D, N)."""

    def __init__(self, dim: int, intermediate: int, kernel: int, scale: float) -> None:
        super().__init__()
        self.dwconv = nn.Conv1d(dim, dim, kernel, padding=kernel // 2, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pw1 = nn.Linear(dim, intermediate)
        self.pw2 = nn.Linear(intermediate, dim)
        self.gamma = nn.Parameter(torch.full((dim,), scale))

    def forward(self, x: Tensor) -> Tensor:
        h = self.dwconv(x).transpose(1, 2)
        h = self.pw2(F.gelu(self.pw1(self.norm(h))))
        return x + (self.gamma * h).transpose(1, 2)


class Vocoder(ModelBase):
    """(B, n_mels, N) natural-log mel -> (B, length) waveform at 16 kHz.

    N frames of a centred STFT cover ``(N - 1) * hop`` samples; pass the true
    ``length`` so the output matches the analysed signal sample for sample.
    """

    kind = "vocoder"
    arch = "vocos"

    def __init__(self, cfg: VocoderConfig = VocoderConfig()) -> None:
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Conv1d(cfg.n_mels, cfg.dim, cfg.kernel, padding=cfg.kernel // 2)
        self.norm_in = nn.LayerNorm(cfg.dim, eps=1e-6)
        self.blocks = nn.ModuleList(
            ConvNeXtBlock(cfg.dim, cfg.intermediate, cfg.kernel, 1.0 / cfg.layers) for _ in range(cfg.layers)
        )
        self.norm_out = nn.LayerNorm(cfg.dim, eps=1e-6)
        self.head = nn.Linear(cfg.dim, cfg.n_fft + 2)
        self.istft = Stft(cfg.stft)


    def frames(self, mel: Tensor) -> Tensor:
        """(B, n_mels, N) log-mel -> (B, n_fft + 2, N): per frame, the bins' log-magnitudes, then
        their phase angles (the network; ``spectrum`` makes the complex STFT of them)."""
        h = self.norm_in(self.embed(mel).transpose(1, 2)).transpose(1, 2)
        for block in self.blocks:
            h = block(h)
        return self.head(self.norm_out(h.transpose(1, 2))).transpose(1, 2)

    def spectrum(self, mel: Tensor) -> Tensor:
        """(B, n_mels, N) log-mel -> (B, n_fft // 2 + 1, N) complex STFT estimate."""
        log_mag, angle = self.frames(mel).chunk(2, dim=1)
        # The clamp keeps exp() finite for a degenerate input; real spectra sit far below it.
        mag = torch.exp(torch.clamp(log_mag.float(), max=8.0))
        angle = angle.float()
        return torch.complex(mag * torch.cos(angle), mag * torch.sin(angle))

    def forward(self, mel: Tensor, length: int) -> Tensor:
        return self.istft.inverse(self.spectrum(mel), length)
