"""IIR low-pass designs for the simulation, placed against one explicit spec.

The simulation (``train/degrade.py``) promises, for the zero-phase
(forward-backward) response, less than ``PASS_DB`` deviation below
``cutoff - TRANSITION_HZ`` and at least ``STOP_DB`` attenuation from
``cutoff + TRANSITION_HZ`` up to Nyquist. A forward-backward pass doubles
every attenuation in dB, so one direction needs half of each figure.

scipy's ``Wn`` means something different per kind (Butterworth: -3 dB point;
Chebyshev I / elliptic: end of the ripple band; Chebyshev II: start of the
stop band), so ``cutoff`` is not passed as ``Wn``. The design edge is found
by bisection instead: the edges that meet the spec with ``MIN_MARGIN_DB`` to
spare form an interval, and the one that puts the zero-phase response at
-6 dB (half amplitude, as for the FIR kinds) on the cutoff is clipped into
it. When the interval is empty, the edge with equal pass-band and stop-band
margins, the best the order can do, is used.
A Butterworth of order 6 cannot meet the
spec in one forward-backward pass (best: 2.2 dB droop at 39 dB at a 2.5 kHz
cutoff), so the pass is repeated until the margin reaches ``MIN_MARGIN_DB``;
a cascade of Butterworths stays monotone and maximally flat, like the
Linkwitz-Riley squares that a single forward-backward pass already gives.

A Bessel magnitude is close to a Gaussian: the ratio of stop-band to
pass-band attenuation in dB stays near (f_stop / f_pass) ** 2, about 2, at any
order or number of passes, so no Bessel meets a 1 dB / 40 dB spec over 1 kHz.
It keeps scipy's own edge instead: ``Wn = cutoff`` is -3 dB in one direction,
-6 dB zero-phase, the same half-amplitude point as the FIR kinds' cutoffs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from functools import lru_cache

import numpy as np
from scipy import signal

TRANSITION_HZ = 500.0  # half-width of the transition band around the cutoff
PASS_DB = 1.0  # max zero-phase deviation below cutoff - TRANSITION_HZ
STOP_DB = 40.0  # min zero-phase attenuation from cutoff + TRANSITION_HZ
MIN_MARGIN_DB = 0.5  # headroom kept on both figures, for measurement and rounding
MAX_PASSES = 4
HALF_AMPLITUDE_DB = 20 * np.log10(2.0)  # zero-phase attenuation at the cutoff

CHEBY1_RIPPLE_DB = 0.1  # one direction; 0.2 dB after forward-backward
CHEBY2_STOP_DB = 30.0  # one direction; 60 dB after forward-backward
ELLIP_RIPPLE_DB = 0.1
ELLIP_STOP_DB = 30.0

_GRID = 256  # frequencies per band used to evaluate a design
_BISECT_STEPS = 20  # edge to within ~5e-3 Hz

#: Zeros, poles and gain of a digital filter.
Zpk = tuple[np.ndarray, np.ndarray, float]
#: (order, edge in Hz, sample rate in Hz) -> zpk. Placement evaluates zpk
#: directly because converting to sections costs more than the evaluation.
Prototype = Callable[[int, float, int], Zpk]


class Placement(str, Enum):
    """How the design edge is chosen from the cutoff."""

    SPEC = "spec"  # balance pass-band and stop-band margins of the spec
    NATIVE = "native"  # Wn = cutoff: -3 dB one direction, -6 dB zero-phase


@dataclass(frozen=True)
class _Kind:
    prototype: Prototype
    placement: Placement


_KINDS: dict[str, _Kind] = {
    "butterworth": _Kind(
        lambda n, wn, sr: signal.butter(n, wn, fs=sr, output="zpk"), Placement.SPEC),
    "cheby1": _Kind(
        lambda n, wn, sr: signal.cheby1(n, CHEBY1_RIPPLE_DB, wn, fs=sr, output="zpk"),
        Placement.SPEC),
    "cheby2": _Kind(
        lambda n, wn, sr: signal.cheby2(n, CHEBY2_STOP_DB, wn, fs=sr, output="zpk"),
        Placement.SPEC),
    "ellip": _Kind(
        lambda n, wn, sr: signal.ellip(
            n, ELLIP_RIPPLE_DB, ELLIP_STOP_DB, wn, fs=sr, output="zpk"),
        Placement.SPEC),
    "bessel": _Kind(
        lambda n, wn, sr: signal.bessel(n, wn, fs=sr, output="zpk", norm="mag"),
        Placement.NATIVE),
}


@dataclass(frozen=True)
class Design:
    """A placed design: apply ``sos`` forward-backward ``passes`` times.

    ``margin_db`` is the smaller of the two spec margins (zero-phase, dB);
    negative means the spec is not met (always so for ``bessel``).
    """

    sos: np.ndarray
    passes: int
    edge_hz: float
    margin_db: float


def spec_edges(sr: int, cutoff_hz: float) -> tuple[float, float]:
    """Pass-band and stop-band edges in Hz, narrowed near 0 Hz and Nyquist."""
    half = min(TRANSITION_HZ, cutoff_hz / 2, (sr / 2 - cutoff_hz) / 2)
    return cutoff_hz - half, cutoff_hz + half


def _attenuation_db(zpk: Zpk, freqs: np.ndarray, sr: int) -> np.ndarray:
    """One-direction attenuation in dB (positive = quieter) at ``freqs`` Hz."""
    zeros, poles, gain = zpk
    on_circle = np.exp(2j * np.pi * np.asarray(freqs) / sr)[:, None]
    tiny = 1e-300  # a zero exactly on a grid point means infinite attenuation
    log_mag = (np.log10(np.abs(on_circle - zeros) + tiny).sum(axis=1)
               - np.log10(np.abs(on_circle - poles)).sum(axis=1))
    return -20.0 * (log_mag + np.log10(abs(gain) + tiny))


def _margins(zpk: Zpk, sr: int, cutoff_hz: float, passes: int) -> tuple[float, float]:
    """(pass-band, stop-band) spec margins in dB of the zero-phase cascade."""
    f_pass, f_stop = spec_edges(sr, cutoff_hz)
    # The stop grid stops just short of Nyquist, where IIR zeros give -inf dB.
    pass_db = _attenuation_db(zpk, np.linspace(0.0, f_pass, _GRID), sr)
    stop_db = _attenuation_db(zpk, np.linspace(f_stop, sr / 2 * 0.999, _GRID), sr)
    gain = 2 * passes  # forward-backward, repeated
    return PASS_DB - gain * np.abs(pass_db).max(), gain * stop_db.min() - STOP_DB


def _bisect(rising: Callable[[float], float], low: float, high: float) -> float:
    """Root of a non-decreasing function on [low, high], or the nearer end."""
    if rising(low) >= 0:
        return low
    if rising(high) <= 0:
        return high
    for _ in range(_BISECT_STEPS):
        mid = 0.5 * (low + high)
        low, high = (mid, high) if rising(mid) < 0 else (low, mid)
    return 0.5 * (low + high)


@dataclass(frozen=True)
class _EdgeSearch:
    """Edge searches for one kind, sample rate, cutoff, order and pass count.

    Raising the edge raises the pass-band margin and lowers the stop-band
    margin, so every condition below is one bisection over ``bounds``.
    """

    kind: _Kind
    sr: int
    cutoff_hz: float
    order: int
    passes: int

    @property
    def bounds(self) -> tuple[float, float]:
        return self.cutoff_hz / 2, (self.cutoff_hz + self.sr / 2) / 2

    def _zpk(self, edge: float) -> Zpk:
        return self.kind.prototype(self.order, edge, self.sr)

    def margins(self, edge: float) -> tuple[float, float]:
        return _margins(self._zpk(edge), self.sr, self.cutoff_hz, self.passes)

    def _centred(self, edge: float) -> float:
        at_cutoff = _attenuation_db(self._zpk(edge), np.array([self.cutoff_hz]), self.sr)[0]
        return HALF_AMPLITUDE_DB - 2 * self.passes * at_cutoff

    def spec_edge(self) -> float | None:
        """Half-amplitude edge clipped into the spec interval, or None if empty."""
        low = _bisect(lambda e: self.margins(e)[0] - MIN_MARGIN_DB, *self.bounds)
        high = _bisect(lambda e: MIN_MARGIN_DB - self.margins(e)[1], *self.bounds)
        if low > high:
            return None
        edge = min(max(_bisect(self._centred, *self.bounds), low), high)
        # 0.01 dB slack: bisection ends mid-bracket, a hair outside the interval.
        return edge if min(self.margins(edge)) >= MIN_MARGIN_DB - 0.01 else None

    def balanced_edge(self) -> float:
        """Edge with equal pass-band and stop-band margins: the best this order can do."""
        return _bisect(lambda e: self.margins(e)[0] - self.margins(e)[1], *self.bounds)


def _make(kind: _Kind, sr: int, cutoff_hz: float, order: int, passes: int, edge: float) -> Design:
    zpk = kind.prototype(order, edge, sr)
    sos = signal.zpk2sos(*zpk)
    sos.setflags(write=False)  # cached: no caller may alter it
    return Design(sos, passes, edge, min(_margins(zpk, sr, cutoff_hz, passes)))


@lru_cache(maxsize=1024)
def design(kind: str, sr: int, cutoff_hz: float, order: int) -> Design:
    """Place an IIR low-pass of ``kind`` and ``order`` for ``cutoff_hz`` at ``sr`` Hz.

    Uses the fewest forward-backward passes (1..MAX_PASSES) that meet the spec
    with ``MIN_MARGIN_DB`` to spare; when none does (orders far below the
    paper's 6..10), the pass count and edge with the best margin.
    """
    spec = _KINDS[kind]
    if spec.placement is Placement.NATIVE:
        return _make(spec, sr, cutoff_hz, order, 1, cutoff_hz)
    searches = [_EdgeSearch(spec, sr, cutoff_hz, order, p) for p in range(1, MAX_PASSES + 1)]
    for search in searches:
        edge = search.spec_edge()
        if edge is not None:
            return _make(spec, sr, cutoff_hz, order, search.passes, edge)
    fallbacks = (_make(spec, sr, cutoff_hz, order, s.passes, s.balanced_edge()) for s in searches)
    return max(fallbacks, key=lambda d: d.margin_db)


def kinds() -> tuple[str, ...]:
    """Names of the IIR kinds this module designs."""
    return tuple(_KINDS)
