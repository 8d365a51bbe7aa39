"""Low-resolution simulation of TD-PR (paper §3.2): seven low-pass kinds.

Each training input is simulated by low-passing a full-band clip with one of
seven filters, an order drawn from 6..10 and a cutoff drawn uniformly from
2.5..4 kHz (the typical bandwidth of historical recordings). The kinds are
registered in ``FILTERS`` (name -> function); ``degrade`` applies one of them,
``degrade_random`` draws a ``DegradeSpec`` and applies it, on the fly.

Every kind is zero-phase or linear-phase with its delay removed, so output
sample ``n`` lines up with input sample ``n`` and the (input, target) pair
stays aligned. The contract, checked by the tests with Welch PSD ratios on
white noise, is written in ``train/iir.py``: less than 1 dB change below
``cutoff - 500 Hz`` and at least 40 dB attenuation from ``cutoff + 500 Hz``
to Nyquist. ``bessel`` is the one exception: a Bessel magnitude is close to a
Gaussian, so no order reaches 40 dB within 1 kHz of a flat pass-band; its
cutoff is the zero-phase -6 dB point instead (a gentle roll-off, which is
what it brings to the mix).

How ``order`` (6..10 in the paper) is read by the non-IIR kinds:

- ``subsample``: the Kaiser anti-aliasing FIR of ``resample_poly`` spans
  ``3 * order`` zero crossings of its sinc on each side (scipy's default, 10,
  is too short for a 1 kHz transition band at a 4 kHz cutoff);
- ``stft``: the Hann window lasts ``16 ms * 2 ** (order - 6)`` (16..256 ms),
  so the brick wall varies between sharp in time and sharp in frequency.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum
from fractions import Fraction

import numpy as np
from scipy import signal

from tdpr_cli.errors import InputError, UsageError
from tdpr_cli.train import iir

#: Orders accepted by ``degrade``; the paper draws from ``DEFAULT_ORDERS``.
MIN_ORDER, MAX_ORDER = 1, 20
DEFAULT_ORDERS: tuple[int, ...] = tuple(range(6, 11))
#: Cutoff range of the paper's simulation, in Hz.
DEFAULT_CUTOFF_RANGE: tuple[float, float] = (2500.0, 4000.0)

# subsample: largest denominator of the rational rate 2 * cutoff / sr. 500
# keeps the realised cutoff within 4 Hz of the requested one (64 would allow
# 32 Hz); polyphase filtering stays cheap even at ~30k taps.
_MAX_DENOMINATOR = 500
_ZERO_CROSSINGS_PER_ORDER = 3
_KAISER_BETA = 6.0  # ~63 dB stop band for the anti-aliasing FIR
# stft: window length at order 6, in seconds, doubled per order step.
_STFT_BASE_S = 0.016

#: (C, T) float64 audio, sample rate in Hz, cutoff in Hz, order -> (C, T) float64.
FilterFn = Callable[[np.ndarray, int, float, int], np.ndarray]


class FilterKind(str, Enum):
    """The seven low-pass kinds of the simulation pipeline."""

    BUTTERWORTH = "butterworth"
    CHEBY1 = "cheby1"
    CHEBY2 = "cheby2"
    ELLIP = "ellip"
    BESSEL = "bessel"
    SUBSAMPLE = "subsample"
    STFT = "stft"


@dataclass(frozen=True)
class DegradeSpec:
    """One simulated degradation: filter kind, cutoff in Hz, order."""

    kind: str
    cutoff_hz: float
    order: int


def _iir_filter(kind: str) -> FilterFn:
    """Zero-phase (forward-backward, sos) filter of an ``iir`` design kind."""

    def apply(x: np.ndarray, sr: int, cutoff_hz: float, order: int) -> np.ndarray:
        design = iir.design(kind, sr, cutoff_hz, order)
        sos = design.sos.copy()  # scipy's sosfilt wants a writable array
        # sosfiltfilt's default padding, shortened for clips shorter than it.
        padlen = min(3 * (2 * len(sos) + 1), x.shape[-1] - 1)
        y = x
        for _ in range(design.passes):
            y = signal.sosfiltfilt(sos, y, axis=-1, padlen=padlen)
        return y

    return apply


def _subsample(x: np.ndarray, sr: int, cutoff_hz: float, order: int) -> np.ndarray:
    """Resample down to ``2 * cutoff`` and back up (rational approximation)."""
    ratio = max(Fraction(2 * cutoff_hz / sr).limit_denominator(_MAX_DENOMINATOR),
                Fraction(1, _MAX_DENOMINATOR))
    up, down = ratio.numerator, ratio.denominator
    rate = max(up, down)
    half_len = _ZERO_CROSSINGS_PER_ORDER * order * rate
    # One FIR serves both directions: its cutoff is the low rate's Nyquist.
    fir = signal.firwin(2 * half_len + 1, 1.0 / rate, window=("kaiser", _KAISER_BETA))
    low = signal.resample_poly(x, up, down, axis=-1, window=fir)
    back = signal.resample_poly(low, down, up, axis=-1, window=fir)
    return back[..., : x.shape[-1]]


def _stft(x: np.ndarray, sr: int, cutoff_hz: float, order: int) -> np.ndarray:
    """Brick wall: zero every STFT bin above the cutoff, then invert."""
    n_fft = max(16, 2 * round(sr * _STFT_BASE_S * 2.0 ** (order - 6) / 2))
    length = x.shape[-1]
    if length < n_fft:  # scipy shortens the window otherwise
        x = np.pad(x, ((0, 0), (0, n_fft - length)))
    common = {"fs": sr, "window": "hann", "nperseg": n_fft, "noverlap": 3 * n_fft // 4}
    freqs, _, spec = signal.stft(x, axis=-1, **common)
    spec[..., freqs > cutoff_hz, :] = 0.0
    _, y = signal.istft(spec, time_axis=-1, freq_axis=-2, **common)
    return y[..., :length]


#: Registry of the simulation's low-pass kinds.
FILTERS: dict[str, FilterFn] = {
    FilterKind.BUTTERWORTH.value: _iir_filter(FilterKind.BUTTERWORTH.value),
    FilterKind.CHEBY1.value: _iir_filter(FilterKind.CHEBY1.value),
    FilterKind.CHEBY2.value: _iir_filter(FilterKind.CHEBY2.value),
    FilterKind.ELLIP.value: _iir_filter(FilterKind.ELLIP.value),
    FilterKind.BESSEL.value: _iir_filter(FilterKind.BESSEL.value),
    FilterKind.SUBSAMPLE.value: _subsample,
    FilterKind.STFT.value: _stft,
}


def validate(sr: int, cutoff_hz: float, kind: str, order: int) -> None:
    """Raise ``UsageError`` unless the arguments name a valid low-pass."""
    if kind not in FILTERS:
        raise UsageError(f"unknown filter kind {kind!r}; choose one of {', '.join(FILTERS)}")
    if sr <= 0:
        raise UsageError(f"sample rate must be positive, got {sr}")
    if not 0 < cutoff_hz < sr / 2:
        raise UsageError(
            f"cutoff {cutoff_hz:g} Hz must lie between 0 and the Nyquist frequency "
            f"{sr / 2:g} Hz of {sr} Hz audio"
        )
    if isinstance(order, bool) or int(order) != order or not MIN_ORDER <= order <= MAX_ORDER:
        raise UsageError(f"filter order must be an integer in {MIN_ORDER}..{MAX_ORDER}, got {order}")


def degrade(x: np.ndarray, sr: int, cutoff_hz: float, kind: str, order: int) -> np.ndarray:
    """Low-pass ``x`` with one registered kind, keeping its alignment.

    Args:
        x: (C, T) or (T,) audio, any real dtype, at ``sr`` Hz.
        sr: sample rate in Hz.
        cutoff_hz: band limit in Hz, 0 < cutoff < sr / 2.
        kind: a key of ``FILTERS``.
        order: filter order, 1..20 (the paper uses 6..10).

    Returns:
        A new float32 array with the shape of ``x``.
    """
    validate(sr, cutoff_hz, kind, order)
    wave = np.asarray(x)
    if wave.ndim not in (1, 2):
        raise InputError(f"audio must be (T,) or (C, T), got shape {wave.shape}")
    if not np.issubdtype(wave.dtype, np.number) or np.iscomplexobj(wave):
        raise InputError(f"audio must be real numbers, got dtype {wave.dtype}")
    if not np.all(np.isfinite(wave)):
        raise InputError("audio contains NaN or infinite samples")
    if wave.shape[-1] == 0:
        return np.zeros(wave.shape, dtype=np.float32)
    batch = np.atleast_2d(wave).astype(np.float64)
    out = FILTERS[kind](batch, int(sr), float(cutoff_hz), int(order))
    return out.reshape(wave.shape).astype(np.float32)


def random_spec(
    rng: np.random.Generator,
    cutoff_range: tuple[float, float] = DEFAULT_CUTOFF_RANGE,
    kinds: Sequence[str] = tuple(FILTERS),
    orders: Sequence[int] = DEFAULT_ORDERS,
) -> DegradeSpec:
    """Draw a kind, a cutoff (uniform in Hz) and an order, as in paper §3.2."""
    if not kinds or not orders:
        raise UsageError("random degradation needs at least one kind and one order")
    low, high = cutoff_range
    if not 0 < low <= high:
        raise UsageError(f"invalid cutoff range {low:g}..{high:g} Hz")
    kind = str(kinds[int(rng.integers(len(kinds)))])
    cutoff = float(rng.uniform(low, high))
    order = int(orders[int(rng.integers(len(orders)))])
    return DegradeSpec(kind=kind, cutoff_hz=cutoff, order=order)


def degrade_random(
    x: np.ndarray,
    sr: int,
    rng: np.random.Generator,
    cutoff_range: tuple[float, float] = DEFAULT_CUTOFF_RANGE,
    kinds: Sequence[str] = tuple(FILTERS),
    orders: Sequence[int] = DEFAULT_ORDERS,
) -> tuple[np.ndarray, DegradeSpec]:
    """On-the-fly training degradation: ``(degrade(x, ...), spec)``.

    ``x`` is (C, T) or (T,) at ``sr`` Hz; the result is float32 of the same
    shape. The same ``rng`` state always gives the same spec and output.
    """
    spec = random_spec(rng, cutoff_range, kinds, orders)
    return degrade(x, sr, spec.cutoff_hz, spec.kind, spec.order), spec
