"""Random spectral tilt and microphone-like colouring of training targets.

Why: the soundfont renders are brighter than recorded pianos. FluidR3 puts
about -19 dB of its energy in 4-8 kHz, MuseScore General -25 to -35 dB,
while concert-piano recordings measure -34 to -46 dB. A TD-CNN trained on the
raw renders learns one soundfont's brightness and paints it onto every input
(a probe came out 8 dB too loud at 6-8 kHz on real recordings). Tilting each
target to a randomly drawn 4-8 kHz share *before* degradation decorrelates
the high band's level from the soundfont; because the tilt starts at a pivot
well below the cutoff, the observed band carries the slope, and the model has
to extrapolate the high band from what it can hear.

The gain curve, in dB over frequency ``f`` (Hz):

    slope * log2(max(f, pivot) / pivot) + sum_k peak_k(f)

``slope`` (dB/octave) is solved by bisection so that the share of energy in
``SHARE_BAND`` hits the drawn target; the peaks are a few gentle +-dB bumps
one octave wide (microphone / room colouring). The curve is applied as a
zero-phase gain on the segment's real FFT; callers pad the segment with real
neighbouring audio so the circular wrap of this short, smooth response stays
out of the part they keep.

numpy only; (T,) float at 16 kHz in, new float64 (T,) out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tdpr_cli.config import SAMPLE_RATE

#: Band whose energy share the tilt controls, in Hz.
SHARE_BAND: tuple[float, float] = (4000.0, 8000.0)
#: Slope search range in dB per octave; targets outside it are clamped to an end.
SLOPE_RANGE: tuple[float, float] = (-18.0, 6.0)
_BISECTIONS = 30
_SILENCE = 1e-12  # total power below which a segment is left untouched


@dataclass(frozen=True)
class Colour:
    """One draw: target 4-8 kHz share (dB, None = keep), tilt pivot (Hz), peaks (centre Hz, gain dB)."""

    share_db: float | None
    pivot_hz: float
    peaks: tuple[tuple[float, float], ...] = ()


@dataclass(frozen=True)
class ColourRange:
    """Distribution of ``Colour`` draws; shares in dB, frequencies in Hz."""

    share_db: tuple[float, float] = (-46.0, -22.0)
    pivot_hz: tuple[float, float] = (500.0, 2000.0)
    probability: float = 0.9  # of tilting at all; the rest keep the render's own spectrum
    peaks: int = 2
    peak_sd_db: float = 2.0
    peak_hz: tuple[float, float] = (200.0, 6000.0)


def draw_colour(rng: np.random.Generator, r: ColourRange = ColourRange()) -> Colour:
    """Draw one colouring; pivots and peak centres are log-uniform."""
    tilt = rng.uniform() < r.probability
    share = float(rng.uniform(*r.share_db)) if tilt else None
    pivot = float(np.exp(rng.uniform(np.log(r.pivot_hz[0]), np.log(r.pivot_hz[1]))))
    peaks = tuple(
        (float(np.exp(rng.uniform(np.log(r.peak_hz[0]), np.log(r.peak_hz[1])))), float(rng.normal(0.0, r.peak_sd_db)))
        for _ in range(r.peaks)
    )
    return Colour(share, pivot, peaks)


def _peaks_db(freqs: np.ndarray, peaks: tuple[tuple[float, float], ...]) -> np.ndarray:
    """Sum of Gaussian bumps on a log-frequency axis, one octave wide (FWHM)."""
    octaves = np.log2(np.maximum(freqs, 1.0))
    sigma = 1.0 / 2.355  # FWHM of one octave
    out = np.zeros_like(freqs)
    for centre, gain in peaks:
        out += gain * np.exp(-0.5 * ((octaves - np.log2(centre)) / sigma) ** 2)
    return out


def band_share_db(power: np.ndarray, freqs: np.ndarray, band: tuple[float, float] = SHARE_BAND) -> float:
    """10 log10 of the fraction of ``power`` (per FFT bin) inside ``band``."""
    inside = (freqs >= band[0]) & (freqs < band[1])
    return float(10.0 * np.log10(max(power[inside].sum(), _SILENCE) / max(power.sum(), _SILENCE)))


def solve_slope(power: np.ndarray, freqs: np.ndarray, base_db: np.ndarray, pivot_hz: float, share_db: float) -> float:
    """Tilt (dB/octave above ``pivot_hz``) whose result has ``share_db`` in ``SHARE_BAND``.

    The share rises monotonically with the slope, so bisection converges;
    an unreachable target returns the nearer end of ``SLOPE_RANGE``.
    """
    octaves = np.log2(np.maximum(freqs, pivot_hz) / pivot_hz)
    base = power * 10.0 ** (base_db / 10.0)

    def share(slope: float) -> float:
        return band_share_db(base * 10.0 ** (slope * octaves / 10.0), freqs)

    lo, hi = SLOPE_RANGE
    if share(lo) >= share_db:
        return lo
    if share(hi) <= share_db:
        return hi
    for _ in range(_BISECTIONS):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if share(mid) < share_db else (lo, mid)
    return 0.5 * (lo + hi)


def apply_colour(x: np.ndarray, colour: Colour, sr: int = SAMPLE_RATE) -> np.ndarray:
    """Colour a (T,) segment; returns a new float64 array of the same length."""
    wave = np.asarray(x, dtype=np.float64)
    spec = np.fft.rfft(wave)
    freqs = np.fft.rfftfreq(wave.shape[-1], 1.0 / sr)
    power = np.abs(spec) ** 2
    gain_db = _peaks_db(freqs, colour.peaks)
    if colour.share_db is not None and power.sum() > _SILENCE:
        slope = solve_slope(power, freqs, gain_db, colour.pivot_hz, colour.share_db)
        gain_db = gain_db + slope * np.log2(np.maximum(freqs, colour.pivot_hz) / colour.pivot_hz)
    return np.fft.irfft(spec * 10.0 ** (gain_db / 20.0), n=wave.shape[-1])
