"""One STFT/ISTFT pair and one mel filterbank, bound to a single ``StftConfig``.

Phase repair, the vocoder's mel input and the vocoder's ISTFT head must all
agree on window, hop and framing, or the repaired phase would belong to other
frames than the magnitude it is paired with. This module is the only place
that builds those transforms; windows and filterbanks live in buffers so they
are computed once and move with ``.to(device)``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from tdpr_cli.config import SAMPLE_RATE, StftConfig


class Stft(nn.Module):
    """Centred Hann STFT and its inverse.

    ``forward``: (B, T) real at 16 kHz -> (B, n_fft // 2 + 1, T // hop + 1) complex.
    ``inverse``: (B, F, N) complex -> (B, length) real.
    """

    def __init__(self, cfg: StftConfig = StftConfig()) -> None:
        super().__init__()
        self.cfg = cfg
        self.window: Tensor
        self.register_buffer("window", torch.hann_window(cfg.n_fft), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        return torch.stft(
            x,
            self.cfg.n_fft,
            self.cfg.hop,
            window=self.window.to(x.dtype),
            center=True,
            pad_mode="constant",
            return_complex=True,
        )

    def inverse(self, spec: Tensor, length: int) -> Tensor:
        return torch.istft(
            spec,
            self.cfg.n_fft,
            self.cfg.hop,
            window=self.window.to(spec.real.dtype),
            center=True,
            length=length,
        )


def mel_filterbank(cfg: StftConfig, sample_rate: int = SAMPLE_RATE) -> Tensor:
    """Slaney-normalised triangular mel filters, shape (n_mels, n_fft // 2 + 1), float32: the one
    filterbank (``dsp.stft_np.mel_filterbank``), which the torch-free runtime shares."""
    from tdpr_cli.dsp import stft_np

    return torch.from_numpy(stft_np.mel_filterbank(cfg, sample_rate))


class LogMel(nn.Module):
    """Log-mel magnitude of a waveform: (B, T) at 16 kHz -> (B, n_mels, T // hop + 1).

    Natural log of the mel-weighted STFT magnitude, floored at 1e-5.
    """

    def __init__(self, cfg: StftConfig = StftConfig()) -> None:
        super().__init__()
        self.stft = Stft(cfg)
        self.fb: Tensor
        self.register_buffer("fb", mel_filterbank(cfg), persistent=False)

    def from_magnitude(self, mag: Tensor) -> Tensor:
        """(B, F, N) STFT magnitude -> (B, n_mels, N) log-mel."""
        return torch.log(torch.clamp(torch.matmul(self.fb, mag), min=1e-5))

    def forward(self, x: Tensor) -> Tensor:
        return self.from_magnitude(self.stft(x).abs())
