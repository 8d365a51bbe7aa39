"""Where a simulated degradation leaves the input intact: the edge of its pass band, in Hz.

The nominal cutoff is not that edge for every kind. ssr_eval's ``cheby2``
puts ``Wn`` at its *stop* band (a "3 kHz" cheby2(8, 60) after ``sosfiltfilt``
is already -3 dB at 2.07 kHz), and ``bessel`` with scipy's default phase
normalisation is -3 dB at 1.23 kHz for a "3 kHz" order 8. Measures of "the
output equals the input where the input is intact" (the eval table's
``low_keep``) need the real edge, or they count a model's correct repair of an
attenuated band as damage.

The IIR kinds are read off their exact magnitude response (squared for the
paper's zero-phase ``sosfiltfilt`` pass, the shelf included for soft kinds).
``subsample`` and ``stft`` are flat up to their brick wall, so their edge is
the cutoff itself.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy import signal

from tdpr_cli.simulate.degrade import SOFT_KINDS, ZERO_PHASE_KINDS, DegradeSpec, design, validate

#: A band counts as intact while the degradation takes away at most this much (dB).
INTACT_DB = 1.0
#: Frequency grid step of the response (Hz).
GRID_HZ = 1.0


@lru_cache(maxsize=4096)
def intact_edge_hz(kind: str, sr: int, cutoff_hz: float, order: int, shelf_db: float = 0.0) -> float:
    """The lowest frequency (Hz) where the degradation's gain falls more than ``INTACT_DB`` under
    0 dB; ``cutoff_hz`` for the brick-wall kinds and for a gain that never falls that far below it."""
    return _first_drop_hz(kind, sr, cutoff_hz, order, shelf_db, INTACT_DB, float(cutoff_hz))


def minus3_hz(kind: str, sr: int, cutoff_hz: float, order: int, shelf_db: float = 0.0) -> float:
    """Where the degradation's gain first falls 3 dB under 0 dB (Hz), searched up to Nyquist:
    where the input starts to fall, which is what detection estimates (``dsp.bandwidth``).
    ``cutoff_hz`` for the brick-wall kinds; 1.2-2.4 kHz for a "3 kHz" cheby2 or bessel."""
    return _first_drop_hz(kind, sr, cutoff_hz, order, shelf_db, 3.0, sr / 2.0 - GRID_HZ)


def _first_drop_hz(kind: str, sr: int, cutoff_hz: float, order: int, shelf_db: float, drop_db: float,
                   up_to_hz: float) -> float:
    """The lowest grid frequency up to ``up_to_hz`` where the gain is more than ``drop_db`` down;
    ``cutoff_hz`` for the brick-wall kinds and where it never falls that far.

    The gain is ``|H|`` of the kind's own design (``simulate.degrade.design``),
    squared for the zero-phase paper kinds (one forward and one backward pass).
    """
    validate(sr, DegradeSpec(kind, float(cutoff_hz), int(order), float(shelf_db)))
    if kind not in SOFT_KINDS and kind not in ZERO_PHASE_KINDS:  # subsample, stft: flat to the wall
        return float(cutoff_hz)
    freqs = np.arange(GRID_HZ, up_to_hz + GRID_HZ, GRID_HZ)
    _, h = signal.sosfreqz(design(kind, sr, float(cutoff_hz), int(order), float(shelf_db)), worN=freqs, fs=sr)
    passes = 1 if kind in SOFT_KINDS else 2
    gain_db = passes * 20.0 * np.log10(np.maximum(np.abs(h), 1e-12))
    below = np.nonzero(gain_db < -drop_db)[0]
    return float(freqs[below[0]]) if below.size else float(cutoff_hz)
