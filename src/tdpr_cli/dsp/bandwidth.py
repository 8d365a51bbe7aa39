"""Estimate a recording's effective bandwidth from its long-term spectrum.

A low-pass filter leaves a cliff in the long-term average spectrum (LTAS): a
drop of tens of dB within a few hundred Hz, with a flat noise floor above.
Natural spectral roll-off of instruments is far gentler (6-12 dB per octave),
so the steepest, deepest drop marks the cutoff; when no such drop exists below
``wideband_hz`` the input counts as wideband.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tdpr_cli.config import SAMPLE_RATE

N_FFT = 1024
#: A cliff must lose at least this much level (dB) over ``SPAN_HZ`` to count.
MIN_DROP_DB = 15.0
SPAN_HZ = 500.0
#: Envelope width in bins (about 250 Hz): wider than typical partial spacing.
ENVELOPE_BINS = 17


class SpectrumAccumulator:
    """Welch average of the power spectrum of (C, n) blocks at 16 kHz, channels pooled.

    Frames of ``N_FFT`` samples with 50 % overlap carry across block boundaries,
    so the result does not depend on how the stream was cut into blocks.
    """

    def __init__(self) -> None:
        self.window = np.hanning(N_FFT).astype(np.float64)
        self.power = np.zeros(N_FFT // 2 + 1)
        self.frames = 0
        self.tail: np.ndarray | None = None
        self.peak = 0.0

    def add(self, block: np.ndarray) -> None:
        """Accumulate a (C, n) float block."""
        if block.size:
            self.peak = max(self.peak, float(np.max(np.abs(block))))
        x = block if self.tail is None else np.concatenate([self.tail, block], axis=1)
        hop = N_FFT // 2
        n = 0 if x.shape[1] < N_FFT else 1 + (x.shape[1] - N_FFT) // hop
        if n:
            idx = np.arange(N_FFT)[None, :] + hop * np.arange(n)[:, None]
            frames = x[:, idx] * self.window  # (C, n, N_FFT)
            self.power += (np.abs(np.fft.rfft(frames, axis=-1)) ** 2).sum(axis=(0, 1))
            self.frames += n * x.shape[0]
        self.tail = x[:, n * hop :]

    def ltas_db(self) -> np.ndarray:
        """Long-term average power per bin in dB, shape (N_FFT // 2 + 1,)."""
        if self.frames == 0 and self.tail is not None and self.tail.shape[1]:
            # Shorter than one frame: analyse what there is, zero-padded.
            pad = np.zeros((self.tail.shape[0], N_FFT))
            pad[:, : self.tail.shape[1]] = self.tail
            self.power += (np.abs(np.fft.rfft(pad * self.window, axis=-1)) ** 2).sum(axis=0)
            self.frames = self.tail.shape[0]
        mean = self.power / max(self.frames, 1)
        return 10.0 * np.log10(mean + 1e-20)


@dataclass(frozen=True)
class Bandwidth:
    """Detected cutoff in Hz, and whether the input is wideband or silent."""

    cutoff_hz: float
    wideband: bool
    silent: bool


def running_max(x: np.ndarray, size: int) -> np.ndarray:
    """Centred running maximum over ``size`` (odd) samples, edges repeated; the same as
    ``scipy.ndimage.maximum_filter1d(x, size, mode="nearest")`` without its 0.5 s import."""
    half = size // 2
    padded = np.pad(x, (half, size - 1 - half), mode="edge")
    return np.lib.stride_tricks.sliding_window_view(padded, size).max(axis=-1)


def _envelope(db: np.ndarray, bins: int) -> np.ndarray:
    """Running maximum then running mean: the upper envelope of a line spectrum.

    Harmonic music has deep valleys between partials; without the maximum those
    valleys would look like cliffs.
    """
    db = running_max(db, bins)
    kernel = np.ones(bins) / bins
    padded = np.pad(db, (bins // 2, bins - 1 - bins // 2), mode="edge")
    return np.convolve(padded, kernel, mode="valid")


def detect(ltas_db: np.ndarray, peak: float, wideband_hz: float = 7000.0) -> Bandwidth:
    """Cutoff from an LTAS in dB over 0..8 kHz (``N_FFT // 2 + 1`` bins)."""
    nyq = SAMPLE_RATE / 2
    if peak <= 1e-6:
        return Bandwidth(nyq, wideband=True, silent=True)
    hz_per_bin = nyq / (len(ltas_db) - 1)
    db = _envelope(ltas_db, ENVELOPE_BINS)
    span = int(round(SPAN_HZ / hz_per_bin))
    drop = db[:-span] - db[span:]
    # Only look for cliffs above 500 Hz: below that, LTAS shape is the music's own.
    lo = int(500 / hz_per_bin)
    hi = min(len(drop), int(wideband_hz / hz_per_bin))
    if hi <= lo or drop[lo:hi].max() < MIN_DROP_DB:
        return Bandwidth(nyq, wideband=True, silent=False)
    steep = lo + int(np.argmax(drop[lo:hi]))
    # Fit the music's own roll-off well below the cliff, then call the cutoff the
    # first bin that falls 6 dB under that trend line.
    fit_lo, fit_hi = max(1, steep - 4 * span), max(2, steep - 2 * span)
    if fit_hi - fit_lo < 4:
        fit_lo, fit_hi = 1, max(5, steep - span)
    bins = np.arange(fit_lo, fit_hi)
    slope, icpt = np.polyfit(bins, db[fit_lo:fit_hi], 1)
    start = fit_hi
    trend = slope * np.arange(start, len(db)) + icpt
    below = np.nonzero(db[start:] < trend - 6.0)[0]
    idx = start + (int(below[0]) if below.size else steep - start)
    # The running maximum pushes a falling edge up by half its width; undo that.
    idx = max(1, idx - ENVELOPE_BINS // 2)
    cutoff = float(min(idx * hz_per_bin, nyq))
    return Bandwidth(cutoff, wideband=cutoff >= wideband_hz, silent=False)
