"""A MelGAN-style mel-to-waveform generator of TFGAN size, for timing only.

Zhang et al. repair phase with a TFGAN vocoder (Tian et al., 2020): about
6M parameters, a MelGAN-style generator (Kumar et al., 2019) that upsamples
the mel frames to audio with transposed convolutions, each followed by a
stack of dilated residual units. Every layer runs at a growing time
resolution and the last ones at the full 16 kHz rate, which is why it costs
far more per second of audio than a Vocos-style vocoder whose network stays
at the frame rate.

This module is benchmark-only: random weights, never loaded by tdpr. It
follows the ``tdpr_cli.models.vocoder.Vocoder`` call contract, so a
``Restorer`` runs it unchanged.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

SLOPE = 0.2  # LeakyReLU slope of MelGAN


class ResidualUnit(nn.Module):
    """LeakyReLU -> dilated conv(3) -> LeakyReLU -> conv(1), plus identity; (B, C, T) -> (B, C, T)."""

    def __init__(self, ch: int, dilation: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv1d(ch, ch, 3, dilation=dilation, padding=dilation)
        self.conv2 = nn.Conv1d(ch, ch, 1)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.conv2(F.leaky_relu(self.conv1(F.leaky_relu(x, SLOPE)), SLOPE))


class MelGanGenerator(nn.Module):
    """(B, n_mels, N) log-mel -> (B, length) waveform; upsampling ``prod(ratios)`` = the STFT hop.

    ``channels`` is the width after the input convolution; each upsampling
    stage halves it. ``channels=632`` with ratios (8, 8, 2, 2) gives 6.0M
    parameters (MelGAN's own 512 gives 4.3M).
    """

    def __init__(self, n_mels: int = 80, channels: int = 632, ratios: tuple[int, ...] = (8, 8, 2, 2)) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv1d(n_mels, channels, 7, padding=3)]
        ch = channels
        for r in ratios:
            layers += [
                nn.LeakyReLU(SLOPE),
                nn.ConvTranspose1d(ch, ch // 2, 2 * r, stride=r, padding=r // 2 + r % 2, output_padding=r % 2),
                *(ResidualUnit(ch // 2, d) for d in (1, 3, 9)),
            ]
            ch //= 2
        layers += [nn.LeakyReLU(SLOPE), nn.Conv1d(ch, 1, 7, padding=3), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        self.hop = 1
        for r in ratios:
            self.hop *= r

    def forward(self, mel: Tensor, length: int) -> Tensor:
        # N centred frames span (N - 1) * hop samples; the generator makes N * hop, so crop.
        return self.net(mel)[:, 0, :length]


if __name__ == "__main__":
    import torch

    g = MelGanGenerator()
    print(f"{sum(p.numel() for p in g.parameters()) / 1e6:.2f}M parameters")
    print(tuple(g(torch.zeros(1, 80, 11), 2560).shape))
