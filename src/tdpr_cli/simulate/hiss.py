"""A recording's noise floor: shaped hiss added to a reference before it is band-limited.

Why: real recordings carry a broadband noise floor 40-60 dB under the music, in their
wideband references too, and their band-limited versions roll off into it; the soundfont
renders have none, so the filter simulation leaves the stop band empty. A TD-CNN that never saw
such a floor paints the top octave from it differently: a narrower student of the default was
2.5-3.7 dB quieter at 7-8 kHz than its teacher on renders with -50 dBFS white noise added, and as
much on the real recordings, against 0.2 dB on clean renders. Hiss added to the *input* alone,
with a clean reference, taught it to remove the floor (7 dB quieter still). Training references
get one instead (``tdpr train tdcnn --hiss-probability``), so the band above the cutoff is
expected to carry the floor on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tdpr_cli.errors import UsageError


@dataclass(frozen=True)
class HissConfig:
    """How often and how loud: ``level_db`` is the hiss's rms relative to the signal's (dB), and
    ``tilt_db_per_octave`` its spectral slope (0 white, about -3 pink)."""

    probability: float = 0.0
    level_db: tuple[float, float] = (-65.0, -35.0)
    tilt_db_per_octave: tuple[float, float] = (-4.0, 0.0)

    def __post_init__(self) -> None:
        if not 0.0 <= self.probability <= 1.0:
            raise UsageError(f"--hiss-probability must lie in 0..1, got {self.probability}")
        for lo, hi in (self.level_db, self.tilt_db_per_octave):
            if not lo <= hi:
                raise UsageError(f"hiss range {lo}..{hi} is empty")


def add_hiss(x: np.ndarray, sr: int, rng: np.random.Generator, cfg: HissConfig, reference: slice) -> np.ndarray:
    """``x`` (T,) plus hiss whose rms sits ``cfg.level_db`` (drawn uniformly) under the rms of
    ``x[reference]``, tilted by a slope drawn from ``cfg.tilt_db_per_octave`` around 1 kHz.
    Draws exactly three times from ``rng`` (level, tilt, the noise)."""
    level_db = rng.uniform(*cfg.level_db)
    tilt = rng.uniform(*cfg.tilt_db_per_octave)
    white = rng.standard_normal(len(x))
    freqs = np.fft.rfftfreq(len(x), 1.0 / sr)
    # Amplitude slope: tilt dB per octave is an exponent of tilt / 6.02 on frequency (floored
    # at 20 Hz so a negative tilt does not blow up the DC bin).
    gain = (np.maximum(freqs, 20.0) / 1000.0) ** (tilt / (20.0 * np.log10(2.0)))
    noise = np.fft.irfft(np.fft.rfft(white) * gain, len(x))
    signal_rms = float(np.sqrt(np.mean(x[reference] ** 2)))
    noise_rms = float(np.sqrt(np.mean(noise[reference] ** 2)))
    if signal_rms <= 0.0 or noise_rms <= 0.0:
        return x
    return x + noise * (signal_rms / noise_rms) * 10.0 ** (level_db / 20.0)
