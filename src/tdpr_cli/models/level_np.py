"""The level head's analysis and gain curve in numpy, and the constants both versions share.

``models/level.py`` gives the method and the reasons. The torch-free CPU runtime
(``models/graph.py``, issue 14) computes the head's input features and applies its gain curve
with these functions; its small MLP runs inside the TD-CNN's ONNX graph. The torch module takes
its fixed tables from here, so both read one definition.
"""

from __future__ import annotations

import numpy as np

from tdpr_cli.config import SAMPLE_RATE
from tdpr_cli.dsp.stft_np import hann, istft, stft

N_FFT, HOP = 512, 128
#: Edges (Hz) of the input's feature bands, and of the reference band (its first five).
FEATURE_EDGES_HZ: tuple[float, ...] = (125, 250, 500, 1000, 1500, 2000, 2500, 3000, 3500, 4000, 4500, 5000, 6000, 8000)
REF_BAND_HZ = (125.0, 2000.0)
N_FEATURES = len(FEATURE_EDGES_HZ) - 1
#: Where the gain curve has its knots (Hz); the first is pinned at 0 so the band under 2 kHz,
#: which every input keeps, is never touched.
GAIN_CENTRES_HZ: tuple[float, ...] = tuple(2000.0 + 500.0 * i for i in range(13))
HIDDEN = 64
#: Frames more than 40 dB under the segment's loudest (in the reference band) are left out.
ACTIVE_LOG10 = -4.0
#: Features are log10 power ratios; empty bands are floored this far under the reference band.
#: 40 dB down a band counts as empty: deeper values only tell filter stopbands and hiss levels
#: apart, and a first head keyed on them (joint training, floor -80 dB) came out worse.
FLOOR_LOG10 = -4.0
#: Scale of the output. Adam moves each weight by about the LR per step whatever its gradient;
#: at fine-tuning LRs (5e-5) a zero-started last layer would take tens of thousands of steps to
#: reach the 1-1.5 (log10) corrections measured, so its output is multiplied up.
HEAD_GAIN = 10.0
#: Frames (hop ``HOP``) the features average over, centred: 0.8 s, near the 1 s training
#: segments, and reaching 50 * 128 + 256 = 6656 samples either way, inside restore's 8192-sample
#: chunk context, so the head sees the same input whatever the chunking.
WINDOW_FRAMES = 101


def band_matrix(edges: tuple[float, ...], bins: int) -> np.ndarray:
    """(bands, bins) float32 0/1 rows selecting the STFT bins of each band, normalised to a mean."""
    freqs = np.arange(bins) * SAMPLE_RATE / N_FFT
    rows = [((freqs >= lo) & (freqs < hi)).astype(np.float32) for lo, hi in zip(edges[:-1], edges[1:])]
    m = np.stack(rows)
    return m / m.sum(axis=1, keepdims=True)


def interp_matrix(bins: int) -> np.ndarray:
    """(knots, bins) float32 linear interpolation weights from the gain knots onto the STFT bins."""
    freqs = np.arange(bins) * SAMPLE_RATE / N_FFT
    knots = np.asarray(GAIN_CENTRES_HZ)
    eye = np.eye(len(knots), dtype=np.float32)
    # np.interp holds the end values outside the knots: 0 under 2 kHz (knot 0 is pinned at 0).
    return np.stack([np.interp(freqs, knots, row) for row in eye]).astype(np.float32)


BINS = N_FFT // 2 + 1
_WINDOW = hann(N_FFT)
_BANDS = band_matrix(FEATURE_EDGES_HZ, BINS)
_REF = band_matrix(REF_BAND_HZ, BINS)
_INTERP = interp_matrix(BINS)


def _window_sum(v: np.ndarray) -> np.ndarray:
    """(B, K, N) -> (B, K, N): sums over ``WINDOW_FRAMES`` centred frames, zeros past the ends."""
    half = WINDOW_FRAMES // 2
    c = np.cumsum(np.pad(v, ((0, 0), (0, 0), (half + 1, half))), axis=-1, dtype=np.float64)
    return (c[..., WINDOW_FRAMES:] - c[..., :-WINDOW_FRAMES]).astype(np.float32)


def features(x: np.ndarray) -> np.ndarray:
    """(B, T) input at 16 kHz -> (B, frames, N_FEATURES) float32: ``LevelHead.features``, frames
    last-but-one (the MLP's layout)."""
    power = np.square(np.abs(stft(x, N_FFT, HOP, _WINDOW, pad="reflect")))  # (B, bins, frames)
    bands = np.einsum("kf,bft->bkt", _BANDS, power)
    ref = np.einsum("kf,bft->bkt", _REF, power)  # (B, 1, frames)
    log_ref = np.log10(ref + 1e-20)
    half = WINDOW_FRAMES // 2
    padded = np.pad(log_ref, ((0, 0), (0, 0), (half, half)), constant_values=-np.inf)
    loudest = np.lib.stride_tricks.sliding_window_view(padded, WINDOW_FRAMES, axis=-1).max(axis=-1)
    active = (log_ref > loudest + ACTIVE_LOG10).astype(np.float32)
    ratio = np.log10(bands + ref * 10.0**FLOOR_LOG10 + 1e-20) - log_ref
    # Every window holds its own loudest frame, so the count is at least 1.
    feats = _window_sum(ratio * active) / np.maximum(_window_sum(active), 1.0)
    return np.ascontiguousarray(feats.transpose(0, 2, 1)).astype(np.float32, copy=False)


def apply(y: np.ndarray, knots: np.ndarray) -> np.ndarray:
    """(B, T) TD-CNN output, (B, frames, knots - 1) gains (log10 power, the MLP's output) ->
    (B, T) with the per-frame gain curve applied (``LevelHead.forward``)."""
    full = np.concatenate([np.zeros_like(knots[..., :1]), knots], axis=-1)  # knot 0 pinned at 0
    gains = (full @ _INTERP).transpose(0, 2, 1)  # (B, bins, frames)
    spec = stft(y, N_FFT, HOP, _WINDOW, pad="reflect") * np.power(10.0, 0.5 * gains, dtype=np.float32)
    return istft(spec, N_FFT, HOP, _WINDOW, y.shape[-1])
