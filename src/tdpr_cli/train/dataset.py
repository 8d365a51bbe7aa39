"""Training batches: random corpus segments, coloured, gained and degraded on the fly.

Every example is a pure function of ``(seed, step, index)`` and the frozen
clip list: its generator is ``numpy.random.default_rng([seed, step, index])``.
So there is no sampler state to save, ``--resume`` continues the exact
sequence, and any batch can be recomputed for debugging.

One example, 16 kHz mono, float32:

1. pick a clip with probability proportional to its soundfont's realism
   weight (spread over that soundfont's clips by duration), then a start;
   segments that are nearly silent are redrawn;
2. colour the target (``train.timbre``: random 4-8 kHz share, EQ bumps);
3. scale its peak to a random level in dBFS;
4. degrade it with the simulation mix (``train.degrade.SimConfig``: the
   paper's seven filters at 2.5-4 kHz, order 6-10, or the soft family) to
   make the input;
5. state its cutoff as a cutoff-conditioned TD-CNN is told it at restore
   time: the filter's design cutoff (``stated_cutoff="design"``: ``Wn``, as
   ssr_eval labels its files) or where its gain first falls 3 dB (``"edge"``:
   what detection estimates; 1.2-2.4 kHz for a "3 kHz" cheby2 or bessel), off
   by up to ``cutoff_jitter_octaves`` as a detected one would be (drawn last,
   so steps 1-4 do not depend on it).

Steps 2-4 run on the segment plus ``MARGIN`` real neighbouring samples on
each side, cut off at the end, so filter and FFT edge effects never reach the
kept part.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tdpr_cli.config import SAMPLE_RATE
from tdpr_cli.errors import InputError, UsageError
from tdpr_cli.simulate import degrade as deg
from tdpr_cli.simulate.hiss import HissConfig, add_hiss
from tdpr_cli.simulate.response import minus3_hz
from tdpr_cli.train.timbre import ColourRange, apply_colour, draw_colour

#: What the stated cutoff of a training input is (``SegmentConfig.stated_cutoff``).
STATED_CUTOFFS = ("design", "edge")
#: Realism weights: the share of segments drawn from each soundfont, before normalising.
#: MuseScore General is the most piano-like render; FluidR3 is the brightest.
SOUNDFONT_WEIGHTS: dict[str, float] = {"musescore": 0.6, "fluidr3": 0.2, "timgm6mb": 0.2}
DEFAULT_WEIGHT = 0.1  # soundfonts not listed above
MARGIN = 2048  # samples of real context on each side of a segment
SILENT_RMS = 10.0 ** (-55.0 / 20.0)  # segments quieter than -55 dBFS RMS are redrawn
_REDRAWS = 8


@dataclass(frozen=True)
class Clip:
    """One rendered file: absolute ``path``, ``soundfont`` name, length in samples at 16 kHz."""

    path: Path
    soundfont: str
    frames: int
    sha256: str


def read_clips(manifest: Path, root: Path, split: str) -> list[Clip]:
    """The clips of one split of ``manifest`` (paths relative to ``root``), sorted by path.

    The corpus manifest may still be growing while rendering; a training run
    reads a frozen copy of it so that its clip list never changes.
    """
    try:
        raw = json.loads(Path(manifest).read_text())
        clips = [
            Clip(Path(root) / c["path"], str(c["soundfont"]), int(round(float(c["duration_s"]) * SAMPLE_RATE)), c["sha256"])
            for c in raw["clips"]
            if c["split"] == split
        ]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(f"{manifest}: cannot read the corpus manifest ({exc})") from None
    return sorted(clips, key=lambda c: str(c.path))


@dataclass(frozen=True)
class SegmentConfig:
    """Batch shape and augmentation ranges; lengths in seconds, levels in dBFS, frequencies in Hz."""

    batch: int = 8
    seconds: float = 1.0
    degrade: bool = True  # False for the vocoder: targets only
    peak_dbfs: tuple[float, float] = (-24.0, -1.0)
    colour: ColourRange = field(default_factory=ColourRange)
    sim: deg.SimConfig = field(default_factory=deg.SimConfig)
    soundfont_weights: tuple[tuple[str, float], ...] = tuple(SOUNDFONT_WEIGHTS.items())
    # The stated cutoff is the filter's times 2**u, u uniform in +-this (0.1: about +-7 %).
    cutoff_jitter_octaves: float = 0.1
    stated_cutoff: str = "design"  # design (Wn) | edge (the -3 dB point): see the module docstring
    hiss: HissConfig = field(default_factory=HissConfig)  # a noise floor in references, before degrading

    def __post_init__(self) -> None:
        if self.batch < 1 or not 0.1 <= self.seconds <= 60.0:
            raise UsageError(f"need batch >= 1 and 0.1 <= segment seconds <= 60, got {self.batch}, {self.seconds}")
        if not 0.0 <= self.cutoff_jitter_octaves <= 1.0:
            raise UsageError(f"cutoff jitter must lie in 0..1 octave, got {self.cutoff_jitter_octaves}")
        if self.stated_cutoff not in STATED_CUTOFFS:
            raise UsageError(f"--stated-cutoff must be one of {', '.join(STATED_CUTOFFS)}, got {self.stated_cutoff!r}")

    @property
    def length(self) -> int:
        return int(round(self.seconds * SAMPLE_RATE))


def read_segment(clip: Clip, start: int, length: int) -> np.ndarray:
    """Samples ``start .. start + length`` of a clip as float64 (T,), zeros outside the file."""
    import soundfile as sf

    lo, hi = max(0, start), min(clip.frames, start + length)
    try:
        data = sf.read(str(clip.path), start=lo, stop=max(lo, hi), dtype="float64", always_2d=True)[0]
    except (OSError, RuntimeError, sf.LibsndfileError) as exc:
        raise InputError(f"{clip.path}: cannot read training audio ({exc})") from None
    out = np.zeros(length)
    mono = data.mean(axis=1)
    out[lo - start : lo - start + len(mono)] = mono
    return out


_HISS_STREAM = 1  # the hiss's random stream: (seed, step, index, this)


class SegmentSampler:
    """Deterministic batches from a frozen clip list.

    ``batch(step)`` -> (inputs, targets, cutoffs): float32 (B, 1, T) each at 16 kHz and
    (B,) stated cutoffs in Hz; inputs are the degraded targets (or, without ``degrade``,
    the targets themselves, with the cutoff at the Nyquist frequency).
    """

    def __init__(self, clips: list[Clip], cfg: SegmentConfig, seed: int) -> None:
        usable = [c for c in clips if c.frames > 0]
        if not usable:
            raise UsageError("the training split has no clips; render the corpus first (tdpr data render)")
        self.clips, self.cfg, self.seed = usable, cfg, seed
        weights = dict(cfg.soundfont_weights)
        per_font: dict[str, int] = {}
        for c in usable:
            per_font[c.soundfont] = per_font.get(c.soundfont, 0) + c.frames
        # Each soundfont gets its weight in total, spread over its clips by length.
        p = np.array([weights.get(c.soundfont, DEFAULT_WEIGHT) * c.frames / per_font[c.soundfont] for c in usable])
        if p.sum() <= 0:
            raise UsageError(f"no clip of the training split has a soundfont weighted above 0 ({weights})")
        self.probs = p / p.sum()

    def _draw_target(self, rng: np.random.Generator) -> np.ndarray:
        """A non-silent raw segment with margins: (T + 2 * MARGIN,) float64."""
        total = self.cfg.length + 2 * MARGIN
        seg = np.zeros(total)
        for _ in range(_REDRAWS):
            clip = self.clips[int(rng.choice(len(self.clips), p=self.probs))]
            start = int(rng.integers(-MARGIN, max(1, clip.frames - self.cfg.length - MARGIN)))
            seg = read_segment(clip, start, total)
            if np.sqrt(np.mean(seg[MARGIN:-MARGIN] ** 2)) > SILENT_RMS:
                break
        return seg

    def _stated(self, spec: deg.DegradeSpec) -> float:
        """The cutoff (Hz) a degradation is stated at, before the jitter."""
        if self.cfg.stated_cutoff == "design":
            return spec.cutoff_hz
        return minus3_hz(spec.kind, SAMPLE_RATE, spec.cutoff_hz, spec.order, spec.shelf_db)

    def example(self, step: int, index: int) -> tuple[np.ndarray, np.ndarray, float]:
        """One (input, target) pair, float32 (T,) each, and the input's stated cutoff in Hz."""
        rng = np.random.default_rng([self.seed, step, index])
        target = apply_colour(self._draw_target(rng), draw_colour(rng, self.cfg.colour))
        peak = np.abs(target[MARGIN:-MARGIN]).max()
        level = 10.0 ** (rng.uniform(*self.cfg.peak_dbfs) / 20.0)
        target = target * (level / peak if peak > 1e-4 else 1.0)  # never amplify near-silence
        if self.cfg.degrade and self.cfg.hiss.probability > 0:
            target = self._hiss(target, step, index)
        source, cutoff = target, SAMPLE_RATE / 2.0
        if self.cfg.degrade:
            source, spec = deg.degrade_random(target, SAMPLE_RATE, rng, self.cfg.sim)
            jitter = self.cfg.cutoff_jitter_octaves
            cutoff = self._stated(spec) * 2.0 ** rng.uniform(-jitter, jitter)
        keep = slice(MARGIN, MARGIN + self.cfg.length)
        return np.asarray(source[keep], np.float32), np.asarray(target[keep], np.float32), float(cutoff)

    def _hiss(self, target: np.ndarray, step: int, index: int) -> np.ndarray:
        """The recording's own noise floor, in the reference before it is band-limited (as in real
        recordings, whose references carry it across the band), with probability
        ``cfg.hiss.probability``. Its own random stream, so that the music, colour, level and
        filter draws stay those of a run without hiss."""
        rng = np.random.default_rng([self.seed, step, index, _HISS_STREAM])
        if rng.random() >= self.cfg.hiss.probability:
            return target
        return add_hiss(target, SAMPLE_RATE, rng, self.cfg.hiss, slice(MARGIN, MARGIN + self.cfg.length))

    def batch(self, step: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        examples = [self.example(step, i) for i in range(self.cfg.batch)]
        inputs = np.stack([e[0] for e in examples])[:, None]
        targets = np.stack([e[1] for e in examples])[:, None]
        return inputs, targets, np.array([e[2] for e in examples], np.float32)


@dataclass(frozen=True)
class ValidItem:
    """A fixed validation pair at 16 kHz: float32 (T,) input and target, with its degradation."""

    degraded: np.ndarray
    target: np.ndarray
    kind: str
    cutoff_hz: float


def validation_set(clips: list[Clip], count: int, seconds: float, cutoff_hz: float, seed: int) -> list[ValidItem]:
    """``count`` fixed, uncoloured segments of the valid split, degraded at ``cutoff_hz``.

    Clips are visited round-robin and the filter kinds cycle through all
    of ``train.degrade.FILTERS`` (the paper's seven at order 8, the soft
    ones at order 3), so every kind is represented. Empty without valid clips.
    """
    usable = [c for c in clips if c.frames > 0]
    items: list[ValidItem] = []
    kinds = list(deg.FILTERS)
    length = int(round(seconds * SAMPLE_RATE))
    rng = np.random.default_rng([seed, 0x7A11D])
    for i in range(count if usable else 0):
        clip = usable[i % len(usable)]
        for _ in range(_REDRAWS):
            start = int(rng.integers(0, max(1, clip.frames - length - 2 * MARGIN)))
            seg = read_segment(clip, start, length + 2 * MARGIN)
            if np.sqrt(np.mean(seg[MARGIN:-MARGIN] ** 2)) > SILENT_RMS:
                break
        kind = kinds[i % len(kinds)]
        low = deg.degrade(seg, SAMPLE_RATE, cutoff_hz, kind, deg.middle_order(kind))
        keep = slice(MARGIN, MARGIN + length)
        items.append(ValidItem(np.asarray(low[keep], np.float32), np.asarray(seg[keep], np.float32), kind, cutoff_hz))
    return items
