"""Low-resolution simulation: the paper's seven low-passes plus a soft family.

**Paper family** (TD-PR §3.2, which uses the filters of Liu et al.'s
ssr_eval): a kind, an order drawn from 6..10 and a cutoff drawn uniformly
from 2.5..4 kHz. The five IIR kinds are scipy's own designs with
``Wn = cutoff`` and are applied in **one** zero-phase ``sosfiltfilt`` pass:

- ``butterworth``: ``butter(order, cutoff)``;
- ``cheby1``: ``cheby1(order, 0.1 dB ripple, cutoff)``;
- ``cheby2``: ``cheby2(order, 60 dB stop band, cutoff)`` (cutoff = stop edge);
- ``ellip``: ``ellip(order, 0.1 dB, 60 dB, cutoff)``;
- ``bessel``: ``bessel(order, cutoff)`` (scipy's default ``norm="phase"``).

``subsample`` is ``resample_poly`` down to ``2 * cutoff`` and back up with
scipy's default anti-aliasing filter (it ignores the order, as ssr_eval
does); ``stft`` zeroes every STFT bin above the cutoff and inverts, with a
Hann window of ``16 ms * 2 ** (order - 6)`` (16..256 ms) so that the order
varies the brick wall between sharp in time and sharp in frequency.

**Soft family** (historical media roll off gently; real "3 kHz" transfers
lose only 5 dB at 2.5-2.75 kHz and 16 dB at 2.75-3 kHz): a *single causal*
pass of a Butterworth or Bessel (``norm="mag"``) low-pass of order 2..5
whose -3 dB point is the cutoff, drawn from 2.0..4.5 kHz, optionally after a
gentle high shelf (RBJ, slope 1, corner one octave below the cutoff, gain
``shelf_db`` <= 0). Causal like the analogue chains it imitates, so it
delays the band edge by a few samples; the model learns to undo that.

``degrade`` applies one spec; ``random_spec`` / ``degrade_random`` draw one
from a ``SimConfig`` mix, on the fly. Audio is (C, T) or (T,) float.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache

import numpy as np
from scipy import signal

from tdpr_cli.errors import InputError, UsageError

#: Orders accepted by ``degrade``.
MIN_ORDER, MAX_ORDER = 1, 20
PAPER_KINDS: tuple[str, ...] = ("butterworth", "cheby1", "cheby2", "ellip", "bessel", "subsample", "stft")
SOFT_KINDS: tuple[str, ...] = ("soft-butterworth", "soft-bessel")
#: The paper's IIR kinds, applied in one zero-phase forward-backward pass.
ZERO_PHASE_KINDS: tuple[str, ...] = PAPER_KINDS[:5]
CHEBY1_RIPPLE_DB = 0.1
CHEBY2_STOP_DB = 60.0
ELLIP_RIPPLE_DB, ELLIP_STOP_DB = 0.1, 60.0
SHELF_OCTAVES_BELOW = 1.0  # shelf corner relative to the cutoff
_STFT_BASE_S = 0.016  # stft window at order 6, doubled per order step

#: (C, T) float64 audio, sample rate in Hz, spec -> (C, T) float64.
FilterFn = Callable[[np.ndarray, int, "DegradeSpec"], np.ndarray]


@dataclass(frozen=True)
class DegradeSpec:
    """One simulated degradation: kind, cutoff in Hz, order, high-shelf gain in dB (soft kinds)."""

    kind: str
    cutoff_hz: float
    order: int
    shelf_db: float = 0.0


@dataclass(frozen=True)
class Family:
    """Kinds, orders and cutoff range (Hz) that are drawn together."""

    kinds: tuple[str, ...]
    orders: tuple[int, ...]
    cutoff_hz: tuple[float, float]


PAPER = Family(PAPER_KINDS, tuple(range(6, 11)), (2500.0, 4000.0))
SOFT = Family(SOFT_KINDS, (2, 3, 4, 5), (2000.0, 4500.0))
#: Kept for callers that mean "the paper's ranges".
DEFAULT_ORDERS, DEFAULT_CUTOFF_RANGE = PAPER.orders, PAPER.cutoff_hz


@dataclass(frozen=True)
class SimConfig:
    """The training mix: a ``soft_share`` of examples from ``soft``, the rest from ``paper``.

    Soft examples get a high shelf with probability ``shelf_probability``,
    its gain uniform in ``shelf_db`` (dB).
    """

    soft_share: float = 0.5
    paper: Family = PAPER
    soft: Family = SOFT
    shelf_probability: float = 0.5
    shelf_db: tuple[float, float] = (-6.0, 0.0)
    #: Relative weight of a kind within its family, as (kind, weight) pairs; unlisted kinds
    #: weigh 1. Empty: every kind of a family equally often (and the historic draw sequence).
    kind_weights: tuple[tuple[str, float], ...] = ()

    def __post_init__(self) -> None:
        if not 0.0 <= self.soft_share <= 1.0 or not 0.0 <= self.shelf_probability <= 1.0:
            raise UsageError("soft_share and shelf_probability must lie in 0..1")
        for fam in (self.paper, self.soft):
            if not fam.kinds or not fam.orders or not 0 < fam.cutoff_hz[0] <= fam.cutoff_hz[1]:
                raise UsageError(f"invalid simulation family {fam}")
        known = set(self.paper.kinds) | set(self.soft.kinds)
        for kind, weight in self.kind_weights:
            if kind not in known:
                raise UsageError(f"unknown filter kind {kind!r} (kinds: {', '.join(sorted(known))})")
            if not (np.isfinite(weight) and weight >= 0):
                raise UsageError(f"the weight of {kind} must be finite and >= 0, got {weight}")
        for fam in (self.paper, self.soft):
            if self.kind_weights and not self.family_weights(fam).sum() > 0:
                raise UsageError(f"kind weights leave no kind of {', '.join(fam.kinds)} to draw")

    def family_weights(self, fam: Family) -> np.ndarray:
        """Probability of each of ``fam.kinds`` (shape (len(kinds),)), summing to 1."""
        table = dict(self.kind_weights)
        w = np.array([table.get(k, 1.0) for k in fam.kinds], dtype=np.float64)
        return w / w.sum() if w.sum() > 0 else w


PAPER_ONLY = SimConfig(soft_share=0.0)

_IIR_DESIGNS: dict[str, Callable[[int, float, int], np.ndarray]] = {
    "butterworth": lambda n, wn, sr: signal.butter(n, wn, fs=sr, output="sos"),
    "cheby1": lambda n, wn, sr: signal.cheby1(n, CHEBY1_RIPPLE_DB, wn, fs=sr, output="sos"),
    "cheby2": lambda n, wn, sr: signal.cheby2(n, CHEBY2_STOP_DB, wn, fs=sr, output="sos"),
    "ellip": lambda n, wn, sr: signal.ellip(n, ELLIP_RIPPLE_DB, ELLIP_STOP_DB, wn, fs=sr, output="sos"),
    "bessel": lambda n, wn, sr: signal.bessel(n, wn, fs=sr, output="sos"),
    "soft-butterworth": lambda n, wn, sr: signal.butter(n, wn, fs=sr, output="sos"),
    "soft-bessel": lambda n, wn, sr: signal.bessel(n, wn, fs=sr, output="sos", norm="mag"),
}


def high_shelf(sr: int, corner_hz: float, gain_db: float) -> np.ndarray:
    """RBJ cookbook high shelf (slope 1) as one second-order section, (1, 6)."""
    a = 10.0 ** (gain_db / 40.0)
    w0 = 2 * np.pi * corner_hz / sr
    cos, alpha = np.cos(w0), np.sin(w0) / 2 * np.sqrt(2.0)
    root = 2 * np.sqrt(a) * alpha
    b = [a * ((a + 1) + (a - 1) * cos + root), -2 * a * ((a - 1) + (a + 1) * cos), a * ((a + 1) + (a - 1) * cos - root)]
    den = [(a + 1) - (a - 1) * cos + root, 2 * ((a - 1) - (a + 1) * cos), (a + 1) - (a - 1) * cos - root]
    return np.array([[*(np.array(b) / den[0]), 1.0, den[1] / den[0], den[2] / den[0]]])


@lru_cache(maxsize=1024)
def design(kind: str, sr: int, cutoff_hz: float, order: int, shelf_db: float = 0.0) -> np.ndarray:
    """Second-order sections of an IIR kind (soft kinds include their shelf), read-only."""
    sos = _IIR_DESIGNS[kind](order, cutoff_hz, sr)
    if kind in SOFT_KINDS and shelf_db != 0.0:
        corner = cutoff_hz * 2.0 ** -SHELF_OCTAVES_BELOW
        sos = np.concatenate([high_shelf(sr, corner, shelf_db), sos])
    sos.setflags(write=False)
    return sos


def _zero_phase(x: np.ndarray, sr: int, spec: DegradeSpec) -> np.ndarray:
    sos = design(spec.kind, sr, spec.cutoff_hz, spec.order).copy()  # sosfilt wants writable
    # sosfiltfilt's default padding, shortened for clips shorter than it.
    padlen = min(3 * (2 * len(sos) + 1), x.shape[-1] - 1)
    return signal.sosfiltfilt(sos, x, axis=-1, padlen=padlen)


def _causal(x: np.ndarray, sr: int, spec: DegradeSpec) -> np.ndarray:
    sos = design(spec.kind, sr, spec.cutoff_hz, spec.order, spec.shelf_db).copy()
    return signal.sosfilt(sos, x, axis=-1)


def subsample_rates(sr: int, cutoff_hz: float) -> tuple[int, int]:
    """(up, down) of ``resample_poly`` that takes ``sr`` to ``2 * cutoff`` (rounded to 1 Hz)."""
    ratio = Fraction(max(1, round(2 * cutoff_hz)), sr)
    return ratio.numerator, ratio.denominator


def _subsample(x: np.ndarray, sr: int, spec: DegradeSpec) -> np.ndarray:
    """Resample down to ``2 * cutoff`` and back up with scipy's default filter."""
    up, down = subsample_rates(sr, spec.cutoff_hz)
    low = signal.resample_poly(x, up, down, axis=-1)
    back = signal.resample_poly(low, down, up, axis=-1)
    out = np.zeros_like(x)
    n = min(x.shape[-1], back.shape[-1])
    out[..., :n] = back[..., :n]
    return out


def stft_window(sr: int, order: int) -> int:
    """Window (= FFT) length of the ``stft`` kind, in samples."""
    return max(16, 2 * round(sr * _STFT_BASE_S * 2.0 ** (order - 6) / 2))


def _stft(x: np.ndarray, sr: int, spec: DegradeSpec) -> np.ndarray:
    """Brick wall: zero every STFT bin above the cutoff, then invert."""
    n_fft = stft_window(sr, spec.order)
    length = x.shape[-1]
    if length < n_fft:  # scipy shortens the window otherwise
        x = np.pad(x, ((0, 0), (0, n_fft - length)))
    common = {"fs": sr, "window": "hann", "nperseg": n_fft, "noverlap": 3 * n_fft // 4}
    freqs, _, stft = signal.stft(x, axis=-1, **common)
    stft[..., freqs > spec.cutoff_hz, :] = 0.0
    _, y = signal.istft(stft, time_axis=-1, freq_axis=-2, **common)
    return y[..., :length]


#: Registry of every low-pass kind.
FILTERS: dict[str, FilterFn] = {
    **{k: _zero_phase for k in ZERO_PHASE_KINDS},
    "subsample": _subsample,
    "stft": _stft,
    **{k: _causal for k in SOFT_KINDS},
}


def validate(sr: int, spec: DegradeSpec) -> None:
    """Raise ``UsageError`` unless ``spec`` names a valid low-pass at ``sr`` Hz."""
    if spec.kind not in FILTERS:
        raise UsageError(f"unknown filter kind {spec.kind!r}; choose one of {', '.join(FILTERS)}")
    if sr <= 0:
        raise UsageError(f"sample rate must be positive, got {sr}")
    if not 0 < spec.cutoff_hz < sr / 2:
        raise UsageError(
            f"cutoff {spec.cutoff_hz:g} Hz must lie between 0 and the Nyquist frequency "
            f"{sr / 2:g} Hz of {sr} Hz audio"
        )
    order = spec.order
    if isinstance(order, bool) or int(order) != order or not MIN_ORDER <= order <= MAX_ORDER:
        raise UsageError(f"filter order must be an integer in {MIN_ORDER}..{MAX_ORDER}, got {order}")
    if spec.shelf_db != 0.0 and spec.kind not in SOFT_KINDS:
        raise UsageError(f"a high shelf applies to the soft kinds only ({', '.join(SOFT_KINDS)})")
    if not -24.0 <= spec.shelf_db <= 24.0:
        raise UsageError(f"shelf gain must lie in -24..24 dB, got {spec.shelf_db:g}")


def degrade(x: np.ndarray, sr: int, cutoff_hz: float, kind: str, order: int, shelf_db: float = 0.0) -> np.ndarray:
    """Low-pass ``x`` with one registered kind.

    Args:
        x: (C, T) or (T,) audio, any real dtype, at ``sr`` Hz.
        sr: sample rate in Hz.
        cutoff_hz: band limit in Hz, 0 < cutoff < sr / 2.
        kind: a key of ``FILTERS``.
        order: filter order, 1..20 (paper 6..10, soft 2..5).
        shelf_db: high-shelf gain in dB, soft kinds only.

    Returns:
        A new float32 array with the shape of ``x``.
    """
    spec = DegradeSpec(kind, float(cutoff_hz), order, float(shelf_db))
    validate(sr, spec)
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
    out = FILTERS[kind](batch, int(sr), DegradeSpec(kind, spec.cutoff_hz, int(order), spec.shelf_db))
    return out.reshape(wave.shape).astype(np.float32)


def _draw(rng: np.random.Generator, fam: Family, p: np.ndarray | None = None) -> tuple[str, float, int]:
    # Uniform draws keep rng.integers, so runs without kind weights repeat their old sequences.
    i = int(rng.integers(len(fam.kinds))) if p is None else int(rng.choice(len(fam.kinds), p=p))
    kind = str(fam.kinds[i])
    cutoff = float(rng.uniform(*fam.cutoff_hz))
    order = int(fam.orders[int(rng.integers(len(fam.orders)))])
    return kind, cutoff, order


def random_spec(rng: np.random.Generator, cfg: SimConfig = SimConfig()) -> DegradeSpec:
    """Draw a family, then a kind, a cutoff (uniform in Hz), an order and, if soft, a shelf."""
    soft = rng.uniform() < cfg.soft_share
    fam = cfg.soft if soft else cfg.paper
    kind, cutoff, order = _draw(rng, fam, cfg.family_weights(fam) if cfg.kind_weights else None)
    shelf = 0.0
    if soft and rng.uniform() < cfg.shelf_probability:
        shelf = float(rng.uniform(*cfg.shelf_db))
    return DegradeSpec(kind, cutoff, order, shelf)


def degrade_random(
    x: np.ndarray, sr: int, rng: np.random.Generator, cfg: SimConfig = SimConfig()
) -> tuple[np.ndarray, DegradeSpec]:
    """On-the-fly training degradation: ``(degrade(x, ...), spec)``.

    ``x`` is (C, T) or (T,) at ``sr`` Hz; the result is float32 of the same
    shape. The same ``rng`` state always gives the same spec and output.
    """
    spec = random_spec(rng, cfg)
    return degrade(x, sr, spec.cutoff_hz, spec.kind, spec.order, spec.shelf_db), spec


def family_of(kind: str) -> Family:
    """The family a kind belongs to."""
    return SOFT if kind in SOFT_KINDS else PAPER


def middle_order(kind: str) -> int:
    """The order that fixed sets (validation) use for a kind: 8 for paper kinds, 3 for soft."""
    orders = family_of(kind).orders
    return orders[len(orders) // 2]

