"""Demucs-style TD-CNN (Défossez et al., "Demucs: deep extractor for music
sources", 2019), the paper's largest baseline, sized down by default.

Encoder blocks: strided convolution (kernel 8, stride 4) + ReLU, then a 1x1
convolution + GLU. A bidirectional LSTM runs over the bottleneck. Decoder
blocks mirror them: 1x1 convolution + GLU on the sum with the skip, then a
transposed convolution. The output is added to the input; the last layer
starts at zero so the untrained model is the identity.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import torch.nn.functional as F
from torch import Tensor, nn

from tdpr_cli.errors import UsageError
from tdpr_cli.models.base import TdcnnBase


@dataclass(frozen=True)
class DemucsConfig:
    channels: int = 16
    depth: int = 4
    kernel: int = 8
    stride: int = 4
    lstm_layers: int = 1

    def __post_init__(self) -> None:
        if self.channels < 1 or self.depth < 1 or self.stride < 1 or self.kernel < self.stride:
            raise UsageError(f"invalid Demucs config {self}")


class Demucs(TdcnnBase):
    """(B, 1, T) at 16 kHz -> (B, 1, T); pads to ``valid_length`` and crops back."""

    arch = "demucs"

    def __init__(self, cfg: DemucsConfig = DemucsConfig()) -> None:
        super().__init__()
        self.cfg = cfg
        self.encoder, self.decoder = nn.ModuleList(), nn.ModuleList()
        c_in, pad = 1, (cfg.kernel - cfg.stride) // 2
        for i in range(cfg.depth):
            c = cfg.channels * 2**i
            self.encoder.append(nn.ModuleList([
                nn.Conv1d(c_in, c, cfg.kernel, cfg.stride, padding=pad), nn.Conv1d(c, 2 * c, 1),
            ]))
            mix = nn.Conv1d(c, 2 * c, 1)
            deconv = nn.ConvTranspose1d(c, c_in, cfg.kernel, cfg.stride, padding=pad)
            if i == 0:  # the last layer of the decoder: the residual starts at zero
                nn.init.zeros_(deconv.weight)
                if deconv.bias is not None:
                    nn.init.zeros_(deconv.bias)
            self.decoder.insert(0, nn.ModuleList([mix, deconv]))
            c_in = c
        self.lstm = nn.LSTM(c_in, c_in, cfg.lstm_layers, batch_first=True, bidirectional=True)
        self.lstm_out = nn.Linear(2 * c_in, c_in)

    @property
    def total_stride(self) -> int:
        return self.cfg.stride**self.cfg.depth



    def forward(self, x: Tensor, cutoff_hz: Tensor | None = None) -> Tensor:
        """(B, 1, T) -> (B, 1, T); unconditioned, so ``cutoff_hz`` is not read."""
        length = x.shape[-1]
        h = F.pad(x, (0, self.valid_length(length) - length))
        skips = []
        for block in self.encoder:
            conv, mix = cast(nn.ModuleList, block)
            h = F.glu(mix(F.relu(conv(h))), dim=1)
            skips.append(h)
        h = self.lstm_out(self.lstm(h.transpose(1, 2))[0]).transpose(1, 2)
        for i, (block, skip) in enumerate(zip(self.decoder, reversed(skips))):
            mix, deconv = cast(nn.ModuleList, block)
            h = deconv(F.glu(mix(h + skip), dim=1))
            if i < len(self.decoder) - 1:
                h = F.relu(h)
        return x + h[..., :length]
