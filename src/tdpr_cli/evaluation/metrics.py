"""Objective metrics of the paper's evaluation (§4.3) and a trivial DSP baseline.

``lsd`` is the Log-Spectral Distance exactly as the ssr_eval toolkit computes
it (the toolkit the paper relies on): magnitude STFT with
``n_fft = int(2048 / (44100 / sr))`` (743 at 16 kHz), ``hop = sr // 100``,
periodic Hann window, centred frames with zero padding, and per bin
``log10(S_ref**2 / (S_est + 1e-12)**2 + 1e-12) ** 2``, square-rooted after the
mean over bins, then averaged over frames. Note that it is asymmetric and not
scale-free: a silent reference frame costs ``12**2`` per bin.

Everything here is numpy only; no torch, so ``tdpr eval`` stays light. All
signals are (T,) or (C, T) float at ``sr`` Hz (16 kHz unless given); metrics
of (C, T) inputs are averaged over channels.
"""

from __future__ import annotations

from typing import Union

import numpy as np

from tdpr_cli.config import SAMPLE_RATE
from tdpr_cli.dsp.stft_np import frame_spectra, hann, overlap_add
from tdpr_cli.errors import UsageError

EPS = 1e-12  # ssr_eval's epsilon
POWER_FLOOR = 1e-8  # clamp of the 2048-point LSD
MAX_LENGTH_MISMATCH = 100  # samples, as ssr_eval asserts
NOISE_FILL_REF_HZ = 500.0  # width of the band below the cutoff that sets the level
NOISE_FILL_SLOPE_DB_PER_KHZ = -6.0


def stft(x: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    """ssr_eval's STFT: centred, zero-padded, periodic Hann, float64 (``dsp.stft_np.frame_spectra``).

    (..., T) real -> (..., N, n_fft // 2 + 1) complex, frames first, with
    ``N = 1 + (T + 2 * (n_fft // 2) - n_fft) // hop`` as librosa and torch count them.
    """
    return frame_spectra(np.asarray(x, dtype=np.float64), n_fft, hop, hann(n_fft, np.float64))


def istft(spec: np.ndarray, n_fft: int, hop: int, length: int) -> np.ndarray:
    """Inverse of ``stft`` by weighted overlap-add: (..., N, F) -> (..., length) float64."""
    window = hann(n_fft, np.float64)
    frames = np.fft.irfft(spec, n=n_fft, axis=-1) * window
    out = overlap_add(frames, hop)
    norm = overlap_add(np.broadcast_to(window**2, frames.shape[-2:]), hop)
    # Samples no window covers are exactly zero; keep them so instead of 0/0.
    out = out / np.where(norm > 1e-10, norm, 1.0)
    return out[..., n_fft // 2 : n_fft // 2 + length]


def _pair(est: np.ndarray, ref: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Validate and truncate to the shorter length: (C, T) float64 each."""
    e, r = np.atleast_2d(np.asarray(est, np.float64)), np.atleast_2d(np.asarray(ref, np.float64))
    if e.ndim != 2 or r.ndim != 2:
        raise UsageError(f"audio must be (T,) or (C, T), got {np.shape(est)} and {np.shape(ref)}")
    if e.shape[0] != r.shape[0]:
        raise UsageError(f"channel counts differ: estimate {e.shape[0]}, reference {r.shape[0]}")
    diff = abs(e.shape[-1] - r.shape[-1])
    if diff >= MAX_LENGTH_MISMATCH:
        raise UsageError(
            f"lengths differ by {diff} samples ({e.shape[-1]} vs {r.shape[-1]}); "
            f"at most {MAX_LENGTH_MISMATCH - 1} are tolerated"
        )
    n = min(e.shape[-1], r.shape[-1])
    if n == 0:
        raise UsageError("cannot score empty audio")
    return e[:, :n], r[:, :n]


def _check_cutoff(cutoff_hz: float, sr: int) -> None:
    if not 0 < cutoff_hz < sr / 2:
        raise UsageError(f"cutoff {cutoff_hz:g} Hz must lie between 0 and {sr / 2:g} Hz")


def ssr_stft_params(sr: int) -> tuple[int, int]:
    """(n_fft, hop) of ssr_eval at ``sr`` Hz: (743, 160) at 16 kHz."""
    return int(2048 / (44100 / sr)), int(sr / 100)


class Spectra:
    """One signal, (C, T) float64 at a fixed rate, with its STFTs computed once each.

    ``score`` compares an estimate against a reference through ``stft`` calls
    at three settings; a table scores some 170 estimates against each
    reference, so passing a reference's ``Spectra`` instead of its samples
    computes the reference's STFTs once for all of them.
    """

    def __init__(self, x: np.ndarray) -> None:
        self.x = np.atleast_2d(np.asarray(x, np.float64))
        if self.x.ndim != 2:
            raise UsageError(f"audio must be (T,) or (C, T), got {np.shape(x)}")
        self._specs: dict[tuple[int, int], np.ndarray] = {}

    def stft(self, n_fft: int, hop: int) -> np.ndarray:
        """``stft(self.x, n_fft, hop)``, cached."""
        key = (n_fft, hop)
        if key not in self._specs:
            self._specs[key] = stft(self.x, n_fft, hop)
        return self._specs[key]

    def trimmed(self, n: int) -> Spectra:
        """The first ``n`` samples (itself when that is all of it)."""
        return self if n == self.x.shape[-1] else Spectra(self.x[:, :n])


Signal = Union[np.ndarray, Spectra]


def spectra_pair(est: Signal, ref: Signal) -> tuple[Spectra, Spectra]:
    """``_pair`` for signals or ``Spectra``: equal lengths, caches kept where nothing was cut."""
    e = est if isinstance(est, Spectra) else Spectra(est)
    r = ref if isinstance(ref, Spectra) else Spectra(ref)
    a, b = _pair(e.x, r.x)
    return e.trimmed(a.shape[-1]), r.trimmed(b.shape[-1])


def ssr_log_ratio(s_est: np.ndarray, s_ref: np.ndarray) -> np.ndarray:
    """ssr_eval's per-bin term before squaring: ``log10(S_ref**2 / (S_est + eps)**2 + eps)``.

    Magnitude STFTs of equal shape (..., frames, bins) in, the same shape out;
    positive where the estimate is too quiet.
    """
    return np.log10(s_ref**2 / (s_est + EPS) ** 2 + EPS)


def lsd_of_magnitudes(s_est: np.ndarray, s_ref: np.ndarray) -> float:
    """ssr_eval LSD of two magnitude STFTs: RMS of ``ssr_log_ratio`` over bins, mean over frames."""
    return float(np.mean(np.sqrt(np.mean(ssr_log_ratio(s_est, s_ref) ** 2, axis=-1))))


def _ssr_lsd(e: Spectra, r: Spectra, sr: int, min_hz: float) -> float:
    """ssr_eval LSD restricted to bins strictly above ``min_hz`` (-1: all bins)."""
    n_fft, hop = ssr_stft_params(sr)
    keep = np.fft.rfftfreq(n_fft, 1.0 / sr) > min_hz
    if not keep.any():
        raise UsageError(f"no STFT bin lies above {min_hz:g} Hz at {sr} Hz")
    return lsd_of_magnitudes(np.abs(e.stft(n_fft, hop)[..., keep]), np.abs(r.stft(n_fft, hop)[..., keep]))


def lsd(est: Signal, ref: Signal, sr: int = SAMPLE_RATE) -> float:
    """ssr_eval Log-Spectral Distance (lower is better, 0 for identical input)."""
    return _ssr_lsd(*spectra_pair(est, ref), sr, -1.0)


def lsd_high(est: Signal, ref: Signal, cutoff_hz: float, sr: int = SAMPLE_RATE) -> float:
    """``lsd`` over the bins above ``cutoff_hz`` only: the generated band."""
    return _ssr_lsd(*spectra_pair(est, ref), sr, cutoff_hz)


def lsd_2048(est: Signal, ref: Signal) -> float:
    """LSD as in AudioUNet-style papers: 2048/512 Hann STFT, log10 power
    clamped at 1e-8, root mean square over bins, mean over frames."""
    e, r = spectra_pair(est, ref)
    p_est = np.maximum(np.abs(e.stft(2048, 512)) ** 2, POWER_FLOOR)
    p_ref = np.maximum(np.abs(r.stft(2048, 512)) ** 2, POWER_FLOOR)
    per_frame = np.sqrt(np.mean((np.log10(p_ref) - np.log10(p_est)) ** 2, axis=-1))
    return float(np.mean(per_frame))


def _wrap(phase: np.ndarray) -> np.ndarray:
    """Wrap radians to (-pi, pi]."""
    return np.pi - np.mod(np.pi - phase, 2.0 * np.pi)


def phase_error(est: Signal, ref: Signal, band: tuple[float, float], sr: int = SAMPLE_RATE) -> dict[str, float]:
    """Phase distance in ``band`` (lo_hz, hi_hz), weighted by reference magnitude.

    1024/256 Hann STFT. ``cos``: weighted mean of ``1 - cos(phi_est - phi_ref)``
    (0 identical, ~1 for unrelated signals, 2 inverted). ``ifd``: weighted
    mean absolute difference, in radians, of the frame-to-frame phase advance
    (instantaneous frequency), each advance wrapped to (-pi, pi]; ~1.1 rad
    for unrelated noise (not pi/2: at 75 % overlap each advance clusters
    around the bin's nominal one). NaN when the reference is silent there.
    """
    e, r = spectra_pair(est, ref)
    lo, hi = band
    freqs = np.fft.rfftfreq(1024, 1.0 / sr)
    keep = (freqs >= lo) & (freqs <= hi)
    if not keep.any():
        raise UsageError(f"phase band {lo:g}..{hi:g} Hz holds no STFT bin at {sr} Hz")
    x_est, x_ref = e.stft(1024, 256)[..., keep], r.stft(1024, 256)[..., keep]
    weight = np.abs(x_ref)
    d_phase = np.angle(x_est) - np.angle(x_ref)
    advance_est = _wrap(np.diff(np.angle(x_est), axis=-2))
    advance_ref = _wrap(np.diff(np.angle(x_ref), axis=-2))
    ifd = np.abs(_wrap(advance_est - advance_ref))

    def weighted(values: np.ndarray, w: np.ndarray) -> float:
        total = w.sum()
        return float((values * w).sum() / total) if total > 0 else float("nan")

    return {"cos": weighted(1.0 - np.cos(d_phase), weight), "ifd": weighted(ifd, weight[..., 1:, :])}


def snr(est: np.ndarray, ref: np.ndarray) -> float:
    """Signal-to-noise ratio in dB of ``est`` against ``ref`` (inf if equal)."""
    e, r = _pair(est, ref)
    noise = np.sum((r - e) ** 2)
    signal = np.sum(r**2)
    if noise == 0:
        return float("inf")
    if signal == 0:
        return float("-inf")
    return float(10.0 * np.log10(signal / noise))


def noise_fill(x: np.ndarray, sr: int, cutoff_hz: float, seed: int = 0) -> np.ndarray:
    """Trivial bandwidth-extension baseline: shaped noise above the cutoff.

    Below ``cutoff_hz`` the input's STFT is kept. Above it, white noise's STFT
    is rescaled per frame to the mean magnitude of the input over the
    ``NOISE_FILL_REF_HZ`` just below the cutoff, falling
    ``NOISE_FILL_SLOPE_DB_PER_KHZ`` per kHz above it. Hann STFT of 64 ms, hop
    16 ms. (T,) or (C, T) at ``sr`` Hz -> new float32 array of the same shape;
    the same ``seed`` gives the same output.
    """
    wave = np.asarray(x, dtype=np.float64)
    _check_cutoff(cutoff_hz, sr)
    n_fft = 2 * max(8, round(sr * 0.064 / 2))
    hop = n_fft // 4
    freqs = np.fft.rfftfreq(n_fft, 1.0 / sr)
    spec = stft(wave, n_fft, hop)
    ref_bins = (freqs >= cutoff_hz - NOISE_FILL_REF_HZ) & (freqs <= cutoff_hz)
    high = freqs > cutoff_hz
    level = np.abs(spec[..., ref_bins]).mean(axis=-1, keepdims=True)  # per frame
    slope = 10.0 ** (NOISE_FILL_SLOPE_DB_PER_KHZ * (freqs[high] - cutoff_hz) / 1000.0 / 20.0)
    noise = stft(np.random.default_rng(seed).standard_normal(wave.shape), n_fft, hop)[..., high]
    noise = noise / np.abs(noise).mean()  # mean magnitude 1: matches "mean magnitude" level
    filled = spec.copy()
    filled[..., high] = noise * level * slope
    return istft(filled, n_fft, hop, wave.shape[-1]).astype(np.float32)


#: Width of the level-bias bands, in Hz; band ``k`` starts at ``k * BIAS_BAND_HZ``.
BIAS_BAND_HZ = 500.0


def bias_key(lo_hz: float) -> str:
    """Metric name of the level bias of the band starting at ``lo_hz``: ``bias_3.5k``."""
    return f"bias_{lo_hz / 1000:g}k"


def _log_ratio_bins(e: Spectra, r: Spectra, sr: int) -> tuple[np.ndarray, np.ndarray]:
    """(bin frequencies, ssr_eval's per-bin term as (frames, bins)) on its own STFT."""
    n_fft, hop = ssr_stft_params(sr)
    d = ssr_log_ratio(np.abs(e.stft(n_fft, hop)), np.abs(r.stft(n_fft, hop)))
    return np.fft.rfftfreq(n_fft, 1.0 / sr), d.reshape(-1, d.shape[-1])


def band_bias(est: Signal, ref: Signal, cutoff_hz: float, sr: int = SAMPLE_RATE) -> dict[str, float]:
    """Level bias per 500 Hz band wholly above ``cutoff_hz``: the mean of ssr_eval's per-bin
    term ``log10(S_ref**2 / S_est**2)`` (+1.0: the estimate is 10 dB too quiet), keyed ``bias_3.5k``."""
    freqs, d = _log_ratio_bins(*spectra_pair(est, ref), sr)
    out = {}
    for lo in np.arange(0.0, sr / 2, BIAS_BAND_HZ):
        if lo >= cutoff_hz - 1e-6:
            out[bias_key(lo)] = float(d[:, (freqs >= lo) & (freqs < lo + BIAS_BAND_HZ)].mean())
    return out


def band_log_rms(est: Signal, ref: Signal, band: tuple[float, float], sr: int = SAMPLE_RATE) -> float:
    """RMS over frames and the bins of ``band`` (Hz) of ssr_eval's per-bin term (log10 power)."""
    freqs, d = _log_ratio_bins(*spectra_pair(est, ref), sr)
    return float(np.sqrt(np.mean(d[:, (freqs >= band[0]) & (freqs < band[1])] ** 2)))


def score(est: Signal, ref: Signal, cutoff_hz: float | None = None, sr: int = SAMPLE_RATE) -> dict[str, float]:
    """All metrics of one (estimate, reference) pair at ``sr`` Hz.

    Each signal's STFTs are computed once; pass a reference as ``Spectra`` to
    reuse them across calls.
    Always: ``lsd``, ``lsd_2048``, ``snr`` and the estimate's 62.5 Hz ``comb`` (dB, ``comb.comb_db``). With ``cutoff_hz`` also the band
    metrics: ``lsd_high``, and ``phase_cos_high`` / ``phase_ifd_high`` over the
    generated band [cutoff, sr / 2] and ``phase_cos_low`` / ``phase_ifd_low``
    over the kept band [50, cutoff - 250] Hz, and ``band_bias``'s level per
    500 Hz band above the cutoff.
    """
    est, ref = spectra_pair(est, ref)
    from tdpr_cli.evaluation.comb import comb_db

    result = {"lsd": lsd(est, ref, sr), "lsd_2048": lsd_2048(est, ref), "snr": snr(est.x, ref.x),
              "comb": comb_db(est.x, sr)}
    if cutoff_hz is None:
        return result
    _check_cutoff(cutoff_hz, sr)
    result["lsd_high"] = lsd_high(est, ref, cutoff_hz, sr)
    bands = {"high": (cutoff_hz, sr / 2), "low": (50.0, cutoff_hz - 250.0)}
    for name, band in bands.items():
        if band[1] <= band[0]:
            continue  # cutoff below 300 Hz: no kept band to compare
        for key, value in phase_error(est, ref, band, sr).items():
            result[f"phase_{key}_{name}"] = value
    result.update(band_bias(est, ref, cutoff_hz, sr))
    return result
