"""SEANet generator used as a time-domain CNN (TD-CNN) for bandwidth extension.

After Tagliasacchi et al., "SEANet: a multi-modal speech enhancement network"
(2020), as used by Zhang et al. for music super-resolution: a 1-D U-Net whose
encoder blocks are three dilated residual units (dilations 1, 3, 9) followed by
a strided convolution that doubles the channels, and whose decoder mirrors it
with learned upsampling and additive skip connections. The output is added to
the input (residual), and the final convolution starts at zero so an untrained
model is exactly the identity.

The upsampler is configurable because transposed convolutions leave tonal
"checkerboard" artifacts at multiples of the stride frequency (Pons et al.,
"Upsampling artifacts in neural audio synthesis"); nearest-neighbour plus
convolution, and sub-pixel convolution, are the alternatives measured there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import torch.nn.functional as F
from torch import Tensor, nn

from tdpr_cli.errors import UsageError
from tdpr_cli.models.base import TdcnnBase
from tdpr_cli.models.condition import Film, cutoff_features
from tdpr_cli.models.level import LevelHead

Upsampler = Literal["transposed", "nearest", "subpixel"]


@dataclass(frozen=True)
class SeanetConfig:
    """Architecture hyper-parameters; ``channels`` is the width of the first level."""

    channels: int = 12
    strides: tuple[int, ...] = (2, 4, 8, 8)
    dilations: tuple[int, ...] = (1, 3, 9)
    kernel: int = 7
    # A 150-step probe at width 8 (docs/models.md): transposed and subpixel reached
    # validation LSD 1.93, nearest 3.73, and transposed was the cheapest per step.
    upsampler: Upsampler = "transposed"
    max_channels: int = 512
    # Signal channels in and out; the residual adds the first ``out_channels``
    # inputs (the subband TD-CNN feeds exciter channels after its bands).
    in_channels: int = 1
    out_channels: int = 1
    # FiLM on the input's cutoff at every U-Net level (models/condition.py); forward then
    # needs ``cutoff_hz``.
    condition: bool = False
    # A learned 2-8 kHz gain curve read from the input's band levels (models/level.py);
    # full-band, one-channel models only.
    level_head: bool = False

    def __post_init__(self) -> None:
        if not 1 <= self.out_channels <= self.in_channels:
            raise UsageError(f"SEANet needs 1 <= out_channels <= in_channels, got {self}")
        if self.level_head and (self.in_channels, self.out_channels) != (1, 1):
            raise UsageError("the level head needs a full-band SEANet (one channel in and out)")
        if self.channels < 1 or not self.strides or any(s < 1 for s in self.strides):
            raise UsageError(f"invalid SEANet config {self}")
        if self.upsampler not in ("transposed", "nearest", "subpixel"):
            raise UsageError(f"unknown upsampler {self.upsampler!r}")
        if self.kernel % 2 == 0:
            raise UsageError("SEANet kernel size must be odd")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SeanetConfig:
        d = dict(d)
        d["strides"] = tuple(d.get("strides", cls.strides))
        d["dilations"] = tuple(d.get("dilations", cls.dilations))
        return cls(**d)


class ResUnit(nn.Module):
    """ELU -> dilated conv(k) -> ELU -> conv(1), plus identity; (B, C, T) -> (B, C, T)."""

    def __init__(self, ch: int, kernel: int, dilation: int) -> None:
        super().__init__()
        pad = dilation * (kernel - 1) // 2
        self.conv1 = nn.Conv1d(ch, ch, kernel, dilation=dilation, padding=pad)
        self.conv2 = nn.Conv1d(ch, ch, 1)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.conv2(F.elu(self.conv1(F.elu(x))))


class Up(nn.Module):
    """Upsample by ``stride`` and map ``c_in`` -> ``c_out`` channels: (B, c_in, T) -> (B, c_out, T*stride)."""

    def __init__(self, c_in: int, c_out: int, stride: int, kind: Upsampler) -> None:
        super().__init__()
        self.kind, self.stride, self.c_out = kind, stride, c_out
        self.conv: nn.Module
        if kind == "transposed":
            self.conv = nn.ConvTranspose1d(
                c_in, c_out, 2 * stride, stride=stride, padding=stride // 2, output_padding=stride % 2
            )
        elif kind == "nearest":
            self.conv = nn.Conv1d(c_in, c_out, 7, padding=3)
        else:  # subpixel: predict ``stride`` phases per input step, then interleave
            self.conv = nn.Conv1d(c_in, c_out * stride, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        if self.kind == "transposed":
            return self.conv(x)
        if self.kind == "nearest":
            return self.conv(F.interpolate(x, scale_factor=self.stride, mode="nearest"))
        y = self.conv(x)
        b, _, t = y.shape
        return y.view(b, self.c_out, self.stride, t).transpose(2, 3).reshape(b, self.c_out, t * self.stride)


class Seanet(TdcnnBase):
    """SEANet TD-CNN: (B, in, T) band-limited waveform(s) -> (B, out, T) wideband (1 and 1 at 16 kHz).

    Any T is accepted: the input is zero-padded at the end to ``valid_length(T)``
    (a multiple of the product of strides) and the output cropped back to T.
    """

    arch = "seanet"

    def __init__(self, cfg: SeanetConfig = SeanetConfig()) -> None:
        super().__init__()
        self.cfg = cfg
        widths = [min(cfg.channels * 2**i, cfg.max_channels) for i in range(len(cfg.strides) + 1)]
        self.conv_in = nn.Conv1d(cfg.in_channels, widths[0], cfg.kernel, padding=cfg.kernel // 2)
        self.enc = nn.ModuleList()
        self.down = nn.ModuleList()
        for i, s in enumerate(cfg.strides):
            self.enc.append(nn.Sequential(*[ResUnit(widths[i], cfg.kernel, d) for d in cfg.dilations]))
            self.down.append(nn.Conv1d(widths[i], widths[i + 1], 2 * s, stride=s, padding=(s + 1) // 2 if s % 2 else s // 2))
        self.bottleneck = nn.Conv1d(widths[-1], widths[-1], cfg.kernel, padding=cfg.kernel // 2)
        self.up = nn.ModuleList()
        self.dec = nn.ModuleList()
        for i in reversed(range(len(cfg.strides))):
            self.up.append(Up(widths[i + 1], widths[i], cfg.strides[i], cfg.upsampler))
            self.dec.append(nn.Sequential(*[ResUnit(widths[i], cfg.kernel, d) for d in cfg.dilations]))
        self.conv_out = nn.Conv1d(widths[0], cfg.out_channels, cfg.kernel, padding=cfg.kernel // 2)
        # One FiLM after the input conv, after each downsampling and after each upsampling.
        levels = [widths[0], *widths[1:], *reversed(widths[:-1])]
        self.films = nn.ModuleList([Film(w) for w in levels]) if cfg.condition else None
        self.level = LevelHead() if cfg.level_head else None
        nn.init.zeros_(self.conv_out.weight)
        if self.conv_out.bias is not None:
            nn.init.zeros_(self.conv_out.bias)

    @property
    def total_stride(self) -> int:
        """Product of strides: chunk boundaries on this grid keep outputs shift-consistent."""
        out = 1
        for s in self.cfg.strides:
            out *= s
        return out

    @property
    def conditioned(self) -> bool:
        return self.cfg.condition

    def forward(self, x: Tensor, cutoff_hz: Tensor | None = None) -> Tensor:
        """(B, in, T) -> (B, out, T); ``cutoff_hz`` (B,) in Hz, needed when ``cfg.condition``."""
        y = self.body(x, cutoff_hz)
        return y if self.level is None else self.level(x, y)

    def body(self, x: Tensor, cutoff_hz: Tensor | None = None) -> Tensor:
        """The U-Net without the level head: (B, in, T) -> (B, out, T), as ``forward``."""
        feats = None
        if self.films is not None:
            if cutoff_hz is None:
                raise UsageError("this TD-CNN is conditioned on the cutoff: pass cutoff_hz")
            feats = cutoff_features(cutoff_hz.to(x.device))
        films = iter(self.films if self.films is not None else [])

        def film(h: Tensor) -> Tensor:
            return h if feats is None else next(films)(h, feats)

        length = x.shape[-1]
        h = F.pad(x, (0, self.valid_length(length) - length))
        h = film(self.conv_in(h))
        skips = []
        for enc, down in zip(self.enc, self.down):
            h = enc(h)
            skips.append(h)
            h = film(down(F.elu(h)))
        h = self.bottleneck(F.elu(h))
        for up, dec, skip in zip(self.up, self.dec, reversed(skips)):
            h = dec(film(up(F.elu(h))) + skip)
        return x[:, : self.cfg.out_channels] + self.conv_out(F.elu(h))[..., :length]
