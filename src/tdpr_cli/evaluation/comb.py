"""The frame-rate comb: how much a signal's spectrum rises at multiples of 62.5 Hz.

TD-PR pastes a vocoder's phase into the TD-CNN's spectrum frame by frame,
every 256 samples at 16 kHz, i.e. at 62.5 Hz. A phase that is nearly periodic
in the frame (a click train) shows as stationary lines at every multiple of
62.5 Hz, heard as a buzz. The metric: from an 8192-point Welch power spectrum
(Hann, 50 % overlap; 1.95 Hz bins, so 62.5 Hz is exactly 32 bins), the mean
level in dB at the multiples of 62.5 Hz inside ``band`` minus the mean level
in dB halfway between them. White noise and real music read about 0 dB; a
62.5 Hz click train reads tens of dB.

numpy/scipy only; (C, T) or (T,) float at 16 kHz in, a float in dB out.
"""

from __future__ import annotations

import numpy as np

COMB_HZ = 62.5  # 16000 / 256, the phase-repair hop rate
COMB_BAND_HZ: tuple[float, float] = (4500.0, 7500.0)
COMB_NPERSEG = 8192


def comb_db(x: np.ndarray, sr: int = 16000, f0: float = COMB_HZ,
            band: tuple[float, float] = COMB_BAND_HZ, nperseg: int = COMB_NPERSEG) -> float:
    """Mean dB at multiples of ``f0`` in ``band`` minus mean dB halfway between them.

    Channels are pooled (their power spectra averaged). Signals shorter than
    ``nperseg`` are analysed with one zero-padded segment. Raises ValueError
    if ``f0`` does not fall on whole bins or no multiple lies in ``band``.
    """
    from scipy.signal import welch

    harmonics, between = comb_bins(sr, f0, band, nperseg)
    wave = np.atleast_2d(np.asarray(x, dtype=np.float64))
    if wave.shape[-1] < nperseg:
        wave = np.pad(wave, ((0, 0), (0, nperseg - wave.shape[-1])))
    _, power = welch(wave, sr, window="hann", nperseg=nperseg, noverlap=nperseg // 2, axis=-1)
    power = power.mean(axis=0) + 1e-30
    return float(np.mean(10 * np.log10(power[harmonics])) - np.mean(10 * np.log10(power[between])))


def comb_bins(sr: int = 16000, f0: float = COMB_HZ, band: tuple[float, float] = COMB_BAND_HZ,
              nperseg: int = COMB_NPERSEG) -> tuple[np.ndarray, np.ndarray]:
    """(harmonics, between): the ``nperseg``-point spectrum's bins at the multiples of ``f0`` inside
    ``band``, and halfway between them (those below Nyquist). Raises ValueError if ``f0`` does not
    fall on an even number of bins or no multiple lies in ``band``."""
    step = f0 * nperseg / sr  # bins per f0
    if abs(step - round(step)) > 1e-9 or round(step) % 2:
        raise ValueError(f"{f0} Hz is not an even number of bins of a {nperseg}-point spectrum at {sr} Hz")
    bins = int(round(step))
    harmonics = np.arange(int(np.ceil(band[0] / f0)), int(np.floor(band[1] / f0)) + 1) * bins
    if harmonics.size == 0:
        raise ValueError(f"no multiple of {f0} Hz lies in {band[0]:g}-{band[1]:g} Hz")
    between = harmonics + bins // 2
    return harmonics, between[between < nperseg // 2 + 1]
