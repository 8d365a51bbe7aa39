"""The STFT, its inverse and the log-mel in numpy, for the torch-free CPU runtime.

Why a second implementation: ``tdpr restore`` on a CPU runs its networks through ONNX Runtime
(``models/graph.py``) so that a short file does not pay the 1-1.5 s of ``import torch``
(issue 14). Everything around the networks must then run without torch too. These functions
compute what ``dsp/spectral.py`` computes with ``torch.stft``/``torch.istft`` (centred frames,
periodic Hann window, the inverse normalised by the summed squared window), to float32
rounding; ``tests/test_graph_runtime.py`` checks each against its torch twin. Training and the
CUDA path keep the torch versions, which must stay differentiable and on the device.

The framing (``frame_spectra``) and the overlap-add keep their input's precision, so the
evaluation's float64 ssr_eval STFT (``evaluation.metrics``) is the same code.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from tdpr_cli.config import StftConfig

Pad = Literal["constant", "reflect"]


def hann(n: int, dtype: type[np.floating] = np.float32) -> np.ndarray:
    """Periodic Hann window of ``n`` samples (as ``torch.hann_window(n)``), float32 by default."""
    return (0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n) / n)).astype(dtype)


def frame_spectra(x: np.ndarray, n_fft: int, hop: int, window: np.ndarray, pad: Pad = "constant") -> np.ndarray:
    """(..., T) real -> (..., N, n_fft // 2 + 1) complex, frames first: centred frames (frame
    ``i`` on sample ``i * hop``, ``N = 1 + T // hop`` for even ``n_fft``), windowed, in the
    precision of ``x`` and ``window``.

    ``pad`` fills the n_fft // 2 samples added at both ends: zeros (the restore STFT, ssr_eval)
    or the signal mirrored (``torch.stft``'s default, which the level head uses).
    """
    half = n_fft // 2
    padded = np.pad(x, [(0, 0)] * (x.ndim - 1) + [(half, half)], mode=pad)
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft, axis=-1)[..., ::hop, :]
    return np.fft.rfft(frames * window, axis=-1)


def stft(x: np.ndarray, n_fft: int, hop: int, window: np.ndarray, pad: Pad = "constant") -> np.ndarray:
    """(B, T) float32 -> (B, n_fft // 2 + 1, T // hop + 1) complex64, centred frames
    (``frame_spectra``, bins first as ``torch.stft``)."""
    spec = frame_spectra(np.asarray(x, np.float32), n_fft, hop, window, pad)  # (B, N, F)
    return np.ascontiguousarray(spec.transpose(0, 2, 1)).astype(np.complex64, copy=False)


def overlap_add(frames: np.ndarray, hop: int) -> np.ndarray:
    """(..., N, n_fft) -> (..., n_fft + hop * (N - 1)): frames summed at their hop offsets."""
    n, n_fft = frames.shape[-2:]
    out = np.zeros((*frames.shape[:-2], n_fft + hop * (n - 1)), frames.dtype)
    if n_fft % hop == 0:
        # n_fft / hop strided adds instead of one per frame: 4 for 1024/256.
        parts = frames.reshape(*frames.shape[:-1], n_fft // hop, hop)
        view = out.reshape(*out.shape[:-1], -1, hop)
        for j in range(n_fft // hop):
            view[..., j : j + n, :] += parts[..., j, :]
        return out
    for i in range(n):
        out[..., i * hop : i * hop + n_fft] += frames[..., i, :]
    return out


def istft(spec: np.ndarray, n_fft: int, hop: int, window: np.ndarray, length: int) -> np.ndarray:
    """(B, F, N) complex -> (B, length) float32: the inverse of centred ``stft``.

    Windowed overlap-add divided by the summed squared window, the first n_fft // 2 samples
    dropped, cut or zero-padded to ``length`` (as ``torch.istft(..., center=True, length=...)``).
    """
    frames = np.fft.irfft(spec.transpose(0, 2, 1), n=n_fft, axis=-1).astype(np.float32, copy=False) * window
    out = overlap_add(frames, hop)
    env = overlap_add(np.broadcast_to(window * window, frames.shape[1:]), hop)
    half = n_fft // 2
    out, env = out[:, half : half + length], env[half : half + length]
    out = out / np.where(env > 1e-11, env, 1.0)
    if out.shape[1] < length:
        out = np.pad(out, ((0, 0), (0, length - out.shape[1])))
    return out.astype(np.float32, copy=False)


class NpStft:
    """``dsp.spectral.Stft`` in numpy: the restore STFT (zero-padded centred frames) bound to
    one ``StftConfig``, with its window computed once."""

    def __init__(self, cfg: StftConfig = StftConfig()) -> None:
        self.cfg = cfg
        self.window = hann(cfg.n_fft)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """(B, T) -> (B, F, N) complex64."""
        return stft(x, self.cfg.n_fft, self.cfg.hop, self.window)

    def inverse(self, spec: np.ndarray, length: int) -> np.ndarray:
        """(B, F, N) complex -> (B, length) float32."""
        return istft(spec, self.cfg.n_fft, self.cfg.hop, self.window, length)


def log_mel(fb: np.ndarray, magnitude: np.ndarray) -> np.ndarray:
    """(n_mels, F) filterbank, (B, F, N) magnitude -> (B, n_mels, N) natural-log mel, floored at
    1e-5 (``dsp.spectral.LogMel.from_magnitude``)."""
    return np.log(np.maximum(np.matmul(fb, magnitude), 1e-5)).astype(np.float32, copy=False)


def _hz_to_mel(f: np.ndarray) -> np.ndarray:
    # Slaney scale: linear below 1 kHz, logarithmic above.
    f_sp, logstep = 200.0 / 3, np.log(6.4) / 27.0
    log = 15.0 + np.log(np.maximum(f, 1e-9) / 1000.0) / logstep
    return np.where(f >= 1000.0, log, f / f_sp)


def _mel_to_hz(m: np.ndarray) -> np.ndarray:
    f_sp, logstep = 200.0 / 3, np.log(6.4) / 27.0
    return np.where(m >= 15.0, 1000.0 * np.exp(logstep * (m - 15.0)), f_sp * m)


def mel_filterbank(cfg: StftConfig, sample_rate: int = 16_000) -> np.ndarray:
    """Slaney-normalised triangular mel filters, (n_mels, n_fft // 2 + 1) float32; computed in
    float64. The one filterbank: ``dsp.spectral.LogMel`` takes it as a tensor."""
    freqs = np.linspace(0.0, sample_rate / 2, cfg.n_fft // 2 + 1)
    m_lo, m_hi = _hz_to_mel(np.array([cfg.f_min, cfg.f_max], np.float64))
    edges = _mel_to_hz(np.linspace(m_lo, m_hi, cfg.n_mels + 2))
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rise = (freqs[None] - lower) / (centre - lower)
    fall = (upper - freqs[None]) / (upper - centre)
    fb = np.maximum(np.minimum(rise, fall), 0.0)
    # Equal-area normalisation keeps band energies comparable across the scale.
    return (fb * (2.0 / (upper - lower))).astype(np.float32)
