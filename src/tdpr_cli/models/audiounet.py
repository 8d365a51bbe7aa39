"""AudioUNet-style TD-CNN (Kuleshov, Enam and Ermon, "Audio super-resolution
using neural networks", 2017), as one of the paper's three TD-CNN baselines.

Each downsampling block is a strided convolution with LeakyReLU that doubles
the channels (capped); the bottleneck is one more; upsampling blocks use
sub-pixel convolution (a convolution to ``stride`` times the channels, then
interleaving) and concatenate the matching encoder features (stacking skips).
The output is added to the input, and the last layer starts at zero so the
untrained model is the identity, like our SEANet.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from tdpr_cli.errors import UsageError
from tdpr_cli.models.base import TdcnnBase


@dataclass(frozen=True)
class AudioUNetConfig:
    channels: int = 16
    depth: int = 4
    stride: int = 2
    kernel: int = 9
    max_channels: int = 256

    def __post_init__(self) -> None:
        if self.channels < 1 or self.depth < 1 or self.stride < 2 or self.kernel % 2 == 0:
            raise UsageError(f"invalid AudioUNet config {self}")


def _shuffle(y: Tensor, stride: int) -> Tensor:
    """(B, C*stride, T) -> (B, C, T*stride): sub-pixel interleaving."""
    b, cs, t = y.shape
    return y.view(b, cs // stride, stride, t).transpose(2, 3).reshape(b, cs // stride, t * stride)


class AudioUNet(TdcnnBase):
    """(B, 1, T) at 16 kHz -> (B, 1, T); pads to ``valid_length`` and crops back."""

    arch = "audiounet"

    def __init__(self, cfg: AudioUNetConfig = AudioUNetConfig()) -> None:
        super().__init__()
        self.cfg = cfg
        widths = [min(cfg.channels * 2**i, cfg.max_channels) for i in range(cfg.depth + 1)]
        pad = cfg.kernel // 2
        self.down = nn.ModuleList()
        c_in = 1
        for w in widths[:-1]:
            self.down.append(nn.Conv1d(c_in, w, cfg.kernel, stride=cfg.stride, padding=pad))
            c_in = w
        self.bottleneck = nn.Conv1d(c_in, widths[-1], cfg.kernel, stride=cfg.stride, padding=pad)
        self.up = nn.ModuleList()
        c_in = widths[-1]
        for w in reversed(widths[:-1]):
            self.up.append(nn.Conv1d(c_in, w * cfg.stride, cfg.kernel, padding=pad))
            c_in = 2 * w  # upsampled features concatenated with the skip
        self.out = nn.Conv1d(c_in, cfg.stride, cfg.kernel, padding=pad)
        nn.init.zeros_(self.out.weight)
        if self.out.bias is not None:
            nn.init.zeros_(self.out.bias)

    @property
    def total_stride(self) -> int:
        return self.cfg.stride ** (self.cfg.depth + 1)



    def forward(self, x: Tensor, cutoff_hz: Tensor | None = None) -> Tensor:
        """(B, 1, T) -> (B, 1, T); unconditioned, so ``cutoff_hz`` is not read."""
        length = x.shape[-1]
        h = F.pad(x, (0, self.valid_length(length) - length))
        skips = []
        for conv in self.down:
            h = F.leaky_relu(conv(h), 0.2)
            skips.append(h)
        h = F.leaky_relu(self.bottleneck(h), 0.2)
        for conv, skip in zip(self.up, reversed(skips)):
            h = torch.cat([_shuffle(F.relu(conv(h)), self.cfg.stride), skip], dim=1)
        return x + _shuffle(self.out(h), self.cfg.stride)[..., :length]
