"""Estimate a recording's effective bandwidth under a noise floor.

Real band-limited media (78s, cylinders, tapes) rarely show a cliff: the music
rolls off from about 3 kHz and sinks into broadband surface noise. So the
detector separates music from stationary noise per 250 Hz band, by the spread
of the band's level over time: a low percentile of the frame levels is the
noise floor (minimum statistics), a high percentile the music's loud moments.
Stationary hiss spreads by about 4 dB between them; music by 15-50 dB.

- ``top_hz``: the highest frequency where music stands ``MUSIC_DB`` above the
  floor, i.e. where the roll-off reaches the floor (the slope region's end).
- ``cutoff_hz``: where the input starts to fall: the corner of a two-slope
  ("hinge") fit of the floor-subtracted long-term spectrum, in dB over
  octaves, between ``FIT_LO_HZ`` and ``top_hz`` (and ``REFIT_ABOVE_TOP_HZ`` past it
  when that fit is unsure). For a Butterworth low-pass on a straight (natural)
  roll-off the corner is exactly its -3 dB point.
- ``confidence``: the share of the spectrum's variance about one straight
  slope that the corner explains (0..1). A filter edge reads 0.7-1; a natural
  roll-off without an edge reads lower, and the cutoff is then a guess.

A file is wideband when music, not hiss, reaches ``wideband_hz`` (7 kHz).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tdpr_cli.config import SAMPLE_RATE

N_FFT = 1024
HOP = N_FFT // 2
HZ_PER_BIN = SAMPLE_RATE / N_FFT
#: Bins per analysis band (250 Hz): wide enough that hiss levels spread little.
BAND_BINS = 16
N_BANDS = (N_FFT // 2) // BAND_BINS
#: Level histogram per band: HIST_STEP dB steps from HIST_LO dB (bounded memory at any length).
HIST_LO, HIST_STEP, HIST_N = -200.0, 0.25, 1000
FLOOR_PCT, MUSIC_PCT = 10.0, 95.0
#: Music must exceed the floor by this much (dB, loud-moment minus floor) in a band.
MUSIC_DB = 9.0
#: Mean-over-10th-percentile level of stationary noise in one band (dB), measured on white
#: noise (tests/test_bandwidth.py checks it): turns the floor percentile into a mean power.
FLOOR_MEAN_OFFSET_DB = 2.2
FIT_LO_HZ = 700.0
#: Range (dB under the loudest band's loud level) where a band can hold music at all.
AUDIBLE_RANGE_DB = 90.0
#: Envelope width in bins (about 250 Hz): wider than typical partial spacing.
ENVELOPE_BINS = 17
#: A fit up to the music top explaining less than this is refitted ``REFIT_ABOVE_TOP_HZ`` further up.
REFIT_CONFIDENCE = 0.75
REFIT_ABOVE_TOP_HZ = 500.0


class SpectrumAccumulator:
    """Welch LTAS and per-band level histograms of (C, n) blocks at 16 kHz, channels pooled.

    Frames of ``N_FFT`` samples with 50 % overlap carry across block boundaries,
    so the result does not depend on how the stream was cut into blocks.
    Memory is fixed: N_BANDS x HIST_N counts, whatever the length.
    """

    def __init__(self) -> None:
        self.window = np.hanning(N_FFT).astype(np.float64)
        self.power = np.zeros(N_FFT // 2 + 1)
        self.hist = np.zeros((N_BANDS, HIST_N), dtype=np.int64)
        self.frames = 0
        self.tail: np.ndarray | None = None
        self.peak = 0.0

    def add(self, block: np.ndarray) -> None:
        """Accumulate a (C, n) float block."""
        if block.size:
            self.peak = max(self.peak, float(np.max(np.abs(block))))
        x = block if self.tail is None else np.concatenate([self.tail, block], axis=1)
        n = 0 if x.shape[1] < N_FFT else 1 + (x.shape[1] - N_FFT) // HOP
        if n:
            idx = np.arange(N_FFT)[None, :] + HOP * np.arange(n)[:, None]
            power = np.abs(np.fft.rfft(x[:, idx] * self.window, axis=-1)) ** 2  # (C, n, bins)
            self._count(power.reshape(-1, power.shape[-1]))
        self.tail = x[:, n * HOP :]

    def _count(self, power: np.ndarray) -> None:
        """Add (frames, bins) power spectra to the LTAS sum and the band histograms."""
        self.power += power.sum(axis=0)
        self.frames += power.shape[0]
        bands = power[:, 1 : 1 + N_BANDS * BAND_BINS].reshape(len(power), N_BANDS, BAND_BINS).sum(-1)
        level = 10.0 * np.log10(bands + 1e-20)
        cell = np.clip(((level - HIST_LO) / HIST_STEP).astype(np.int64), 0, HIST_N - 1)
        np.add.at(self.hist, (np.broadcast_to(np.arange(N_BANDS), cell.shape), cell), 1)

    def _flush_short(self) -> None:
        # Shorter than one frame: analyse what there is, zero-padded.
        if self.frames == 0 and self.tail is not None and self.tail.shape[1]:
            pad = np.zeros((self.tail.shape[0], N_FFT))
            pad[:, : self.tail.shape[1]] = self.tail
            self._count(np.abs(np.fft.rfft(pad * self.window, axis=-1)) ** 2)

    def ltas_db(self) -> np.ndarray:
        """Long-term average power per bin in dB, shape (N_FFT // 2 + 1,)."""
        self._flush_short()
        return 10.0 * np.log10(self.power / max(self.frames, 1) + 1e-20)

    def band_percentile(self, pct: float) -> np.ndarray:
        """The ``pct`` percentile of each band's frame levels in dB, shape (N_BANDS,)."""
        self._flush_short()
        cum = np.cumsum(self.hist, axis=1)
        rank = np.maximum(1, np.ceil(pct / 100.0 * cum[:, -1:]))
        cell = (cum < rank).sum(axis=1)
        return HIST_LO + (cell + 0.5) * HIST_STEP


@dataclass(frozen=True)
class Bandwidth:
    """Detection result, Hz: the cutoff (-3 dB corner), where music meets the floor, how sure."""

    cutoff_hz: float
    wideband: bool
    silent: bool
    top_hz: float  # where the roll-off reaches the noise floor (0 for silence)
    confidence: float  # 0..1: the edge fit's share of explained variance, or the wideband margin


def running_max(x: np.ndarray, size: int) -> np.ndarray:
    """Centred running maximum over ``size`` (odd) samples, edges repeated; the same as
    ``scipy.ndimage.maximum_filter1d(x, size, mode="nearest")`` without its 0.5 s import."""
    half = size // 2
    padded = np.pad(x, (half, size - 1 - half), mode="edge")
    return np.lib.stride_tricks.sliding_window_view(padded, size).max(axis=-1)


def _envelope(db: np.ndarray, bins: int) -> np.ndarray:
    """Running maximum then running mean: the upper envelope of a line spectrum.

    Harmonic music has deep valleys between partials; without the maximum those
    valleys would look like the spectrum falling.
    """
    db = running_max(db, bins)
    kernel = np.ones(bins) / bins
    padded = np.pad(db, (bins // 2, bins - 1 - bins // 2), mode="edge")
    return np.convolve(padded, kernel, mode="valid")


def music_top_hz(floor_db: np.ndarray, loud_db: np.ndarray) -> float:
    """Upper edge (Hz) of the highest band where music clears the floor, with the band below it too.

    Two bands in a row keep one stray tonal line (a hum harmonic, a whistle) from counting as music.
    """
    # Bands far under the loudest hold no audible music, whatever their level does (float
    # files carry numerical noise 150 dB down that swings as much as music).
    music = ((loud_db - floor_db) >= MUSIC_DB) & (loud_db >= loud_db.max() - AUDIBLE_RANGE_DB)
    both = np.nonzero(music[1:] & music[:-1])[0]
    return 0.0 if both.size == 0 else float((both[-1] + 2) * BAND_BINS * HZ_PER_BIN)


def music_spectrum_db(ltas_db: np.ndarray, floor_db: np.ndarray) -> np.ndarray:
    """The LTAS (dB per bin) with the noise floor's mean power taken out, upper envelope."""
    power = 10.0 ** (ltas_db / 10.0)
    centres = (np.arange(N_BANDS) + 0.5) * BAND_BINS + 1
    floor = np.interp(np.arange(len(power)), centres, 10.0 ** ((floor_db + FLOOR_MEAN_OFFSET_DB) / 10.0) / BAND_BINS)
    # Where the floor explains everything, keep a trace 30 dB down rather than -inf.
    clean = np.maximum(power - floor, power * 1e-3)
    return _envelope(10.0 * np.log10(clean + 1e-20), ENVELOPE_BINS)


#: Butterworth orders tried for the low-pass edge: soft analogue roll-offs up to brick walls.
ORDERS = (1, 2, 3, 4, 5, 6, 8, 12, 16, 24, 32)


def edge_fit(db: np.ndarray, lo: int, hi: int) -> tuple[float, float]:
    """Best fit of ``db[lo:hi]`` (dB per bin) by a straight slope over log2(frequency) plus a
    Butterworth-shaped edge ``-10 log10(1 + (f / fc) ** (2 n))``.

    Returns the edge's -3 dB point fc (Hz) and the confidence
    ``1 - SSE(edge) / SSE(straight slope)`` in 0..1. The slope and level are
    solved in closed form for every (n, fc) on the grid ``ORDERS`` x bins.
    (Tried and dropped: Bessel-shaped edges in the grid, and reading the -3 dB
    point off the data against a slope fitted below the edge; both were worse
    on the synthetic fixtures and on the real check set. Measured again on
    benchmarks/detection.py's held-out cases, 2026-12-06: bilinear-warped
    templates, Bessel edges, a prior on the natural slope and a fall-back to the
    music top at low confidence cut the misses from 20 of 46 to 8-9 at best, but
    then read two real-check files 1.4 kHz low; the slope a gentle edge hides
    cannot be told apart from the music's own. 2026-12-06 (2): a small MLP on the
    accumulator's band levels and this fit's result, trained on corpus renders under the
    training simulation with the training colourings and hiss, missed fewer cases of
    the corpus's test split (27 % against 44 % for the paper's kinds, 64 % against 74 %
    for the soft ones) and none of the real check set, but read the fixtures' gentle
    edges 0.7-1.2 kHz high (5 of 11, and 26 of the 48 held-out cases): it learns the
    renders' spread of natural slopes, not the fixtures'. 2026-12-06 (3): the fixtures' long-term
    spectrum is not their -9 dB/oct partial tilt: high partials decay faster, so between 1 and
    5 kHz it falls about 6 dB more than the tilt (soft-bessel4-3500, against its filter's own
    response), as a gentle edge does. Fitting the 95th-percentile band levels (the onsets, which
    that decay bends less) instead cut the held-out misses from 22 to 16 of 48, left the fixtures
    at 3 of 11 and the real check at 1 of 4, but missed more validation renders
    (``benchmarks/detection.py --valset data/valset``: clips c00-c07, every kind and cutoff, clean
    and with -50 dB hiss; 236 of 576 against 224). Bessel edge templates added to either fit
    fixed no fixture (4 and 5 of 11 missed).)
    """
    u = np.log2(np.arange(lo, hi) * HZ_PER_BIN)
    d = db[lo:hi]
    uc = np.log2(np.arange(lo + 8, hi + 1) * HZ_PER_BIN)  # corners from ~125 Hz above the fit's start
    n = np.asarray(ORDERS, dtype=np.float64)
    edge = -10.0 * np.log10(1.0 + 2.0 ** (2.0 * n[:, None, None] * (u[None, None, :] - uc[None, :, None])))
    r = d - edge  # (orders, corners, bins): what the straight slope must explain
    uu = u - u.mean()
    rr = r - r.mean(axis=-1, keepdims=True)
    sse = (rr**2).sum(-1) - (rr @ uu) ** 2 / (uu @ uu)
    dd = d - d.mean()
    sse_line = float(dd @ dd - (dd @ uu) ** 2 / (uu @ uu))
    _, j = np.unravel_index(int(np.argmin(sse)), sse.shape)
    conf = 0.0 if sse_line <= 0 else max(0.0, min(1.0, 1.0 - float(sse.min()) / sse_line))
    return float(2.0 ** uc[j]), conf


def _refit_past_top(db: np.ndarray, lo: int, hi: int, first: tuple[float, float]) -> tuple[float, float]:
    """The edge fit again, ``REFIT_ABOVE_TOP_HZ`` past the music top (bin ``hi``), when it finds
    a higher corner and explains the spectrum at least as well; else ``first``, the (cutoff Hz,
    confidence) of the fit up to the top.

    Why: when the edge sits at the music top itself (a steep filter, or hiss that hides the
    roll-off just past the corner), a fit that stops there holds no fall at all, and its
    "corner" lands on the music's own bumps, 2-3 kHz too low (held-out synthetic cases of
    benchmarks/detection.py: 812-1062 Hz for edges at 3.2-3.8 kHz). Two more bands bring the
    fall into the fit. Measured there (2026-12-07, 500 Hz, below 0.75): misses 22 -> 16 of 48,
    largest error 2860 -> 1372 Hz, median 135 -> 89 Hz; validation renders 224 -> 188 of 576;
    the fixtures and the real check set unchanged. (Keeping a higher corner whatever its
    confidence missed the same cases; the condition keeps a worse fit from moving the corner.)
    """
    end = min(hi + int(REFIT_ABOVE_TOP_HZ / HZ_PER_BIN), len(db) - 1)
    refit = edge_fit(db, lo, end)
    return refit if refit[0] > first[0] and refit[1] >= first[1] else first


def detect(acc: SpectrumAccumulator, wideband_hz: float = 7000.0) -> Bandwidth:
    """Cutoff, slope end and confidence from an accumulated 16 kHz stream.

    Wideband: music clears the floor up to ``wideband_hz`` or beyond; the
    confidence then grows with its margin over ``MUSIC_DB`` in the bands there.
    Input with no level changes in any band (a drone, a test noise) cannot be
    told from its noise floor: then every band ``MUSIC_DB`` over the quietest
    counts as content (every band, when none is), nothing is subtracted, and
    the confidence is 0.
    """
    nyq = SAMPLE_RATE / 2
    if acc.peak <= 1e-6:  # digital silence: nothing to detect, and no doubt about it
        return Bandwidth(nyq, wideband=True, silent=True, top_hz=0.0, confidence=1.0)
    floor_db = acc.band_percentile(FLOOR_PCT)
    loud_db = acc.band_percentile(MUSIC_PCT)
    top = music_top_hz(floor_db, loud_db)
    stationary = top < FIT_LO_HZ + 2 * BAND_BINS * HZ_PER_BIN
    if stationary:
        # The quietest band stands for the floor: a stop band's noise (quantisation, hiss).
        floor_db = np.full_like(loud_db, loud_db.min())
        flat = float(loud_db.max() - loud_db.min()) < MUSIC_DB  # white noise, say: content everywhere
        top = nyq if flat else music_top_hz(floor_db, loud_db)
    if top >= wideband_hz:
        margin = float((loud_db - floor_db)[int(wideband_hz / (BAND_BINS * HZ_PER_BIN)) - 1 :].max())
        conf = 0.0 if stationary else min(1.0, max(0.0, (margin - MUSIC_DB) / MUSIC_DB))
        return Bandwidth(nyq, wideband=True, silent=False, top_hz=top, confidence=round(conf, 3))
    lo, hi = int(FIT_LO_HZ / HZ_PER_BIN), int(top / HZ_PER_BIN)
    if hi - lo < 16:  # under ~250 Hz of content above the fit's start: no slope to fit
        return Bandwidth(max(top, HZ_PER_BIN), wideband=False, silent=False, top_hz=top, confidence=0.0)
    ltas = acc.ltas_db()
    db = _envelope(ltas, ENVELOPE_BINS) if stationary else music_spectrum_db(ltas, floor_db)
    cutoff, conf = edge_fit(db, lo, hi)
    if conf < REFIT_CONFIDENCE:
        cutoff, conf = _refit_past_top(db, lo, hi, (cutoff, conf))
    conf = 0.0 if stationary else conf
    return Bandwidth(round(cutoff, 1), wideband=False, silent=False, top_hz=top, confidence=round(conf, 3))


#: Below this confidence the reason line says the detection may be wrong.
LOW_CONFIDENCE = 0.85
#: What the reason line then suggests; a run that draws the file's report says to look at it.
UNSURE_HINT = "unsure: check with --report, or set --cutoff HZ"
UNSURE_HINT_REPORTED = "unsure: check its report, or set --cutoff HZ"


def describe(bw: Bandwidth) -> str:
    """The detection in words: what the cutoff rests on, and a hint when it is unsure."""
    if bw.wideband:
        text = f"music reaches {bw.top_hz:.0f} Hz above the noise floor (confidence {bw.confidence:.2f})"
    else:
        text = f"roll-off from {bw.cutoff_hz:.0f} Hz into the noise floor by {bw.top_hz:.0f} Hz (confidence {bw.confidence:.2f})"
    if bw.confidence < LOW_CONFIDENCE:
        text += f"; {UNSURE_HINT}"
    return text
