"""The fixed validation set of the paper's Table 1 protocol (issue 3, §2).

From the held-out ``valid`` split of the corpus (``data/manifest.json``) we
cut ``clips`` excerpts of ``seconds`` each and simulate, for every excerpt,
its low-resolution (LR) versions at each cutoff of ``CUTOFFS_HZ`` with each
low-pass kind of ``train.degrade.FILTERS`` (orders drawn from each kind's
family: 6..10 for the paper's seven, 2..5 for the two soft kinds, whose
cutoff is their -3 dB point): 40 clips x 4 cutoffs x 9 kinds = 1440 LR files
plus 40 references by default.

Everything is a pure function of the source manifest, the source audio and
the seed, so the set is regenerated bit-identically:

- selection walks sorted lists shuffled by one seeded generator, round robin
  over soundfonts, then over pieces, then over a piece's clips, so every
  soundfont and as many pieces as possible are covered before any repeats;
- a clip offers a seeded tiling of disjoint excerpts first, then starts on
  a 1 s grid; chosen excerpts of one clip never overlap;
- excerpts in which any ssr_eval STFT frame is digital silence are skipped:
  ssr_eval's LSD charges an all-zero reference frame 12 however good the
  estimate is (see ``evaluate``), and the renders do hold such rests;
- each LR file's order comes from a hash of (seed, clip, cutoff, kind).

This module makes the choices; ``valset_build`` writes the files and
``valset_index`` reads a built set.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from tdpr_cli.config import SAMPLE_RATE
from tdpr_cli.corpus.manifest import MANIFEST_NAME as CORPUS_MANIFEST
from tdpr_cli.digest import derive_seed, sha256_bytes, sha256_file
from tdpr_cli.errors import InputError, UsageError
from tdpr_cli.evaluation.metrics import ssr_stft_params
from tdpr_cli.simulate.degrade import FILTERS, family_of

#: The four representative input bandwidths of the paper's Table 1, in Hz.
CUTOFFS_HZ: tuple[float, ...] = (2500.0, 3000.0, 3500.0, 4000.0)
#: Candidate excerpts start on a grid of this step, in seconds.
STEP_S = 1.0


@dataclass(frozen=True)
class ValsetConfig:
    """What to build: counts, excerpt length in seconds, seed, cutoffs (Hz), kinds."""

    clips: int = 40
    seconds: float = 10.0
    seed: int = 0
    cutoffs_hz: tuple[float, ...] = CUTOFFS_HZ
    kinds: tuple[str, ...] = tuple(FILTERS)

    def __post_init__(self) -> None:
        if self.clips < 1:
            raise UsageError(f"--clips must be >= 1, got {self.clips}")
        if not 0.5 <= self.seconds <= 600:
            raise UsageError(f"--seconds must lie in 0.5..600, got {self.seconds:g}")
        if not self.cutoffs_hz or not self.kinds:
            raise UsageError("a validation set needs at least one cutoff and kind")
        unknown = [k for k in self.kinds if k not in FILTERS]
        if unknown:
            raise UsageError(f"unknown filter kind(s) {unknown}; choose from {', '.join(FILTERS)}")
        if any(not 0 < c < SAMPLE_RATE / 2 for c in self.cutoffs_hz):
            raise UsageError(f"cutoffs must lie in 0..{SAMPLE_RATE // 2} Hz, got {self.cutoffs_hz}")

    @property
    def length(self) -> int:
        """Excerpt length in samples at 16 kHz."""
        return round(self.seconds * SAMPLE_RATE)


@dataclass(frozen=True)
class Excerpt:
    """A span [start, start + length) samples of one corpus clip (path relative to data/)."""

    source: str
    source_sha256: str
    piece: str
    soundfont: str
    start: int
    length: int


@dataclass
class Selection:
    """The chosen excerpts plus what the source manifest offered."""

    excerpts: list[Excerpt]
    manifest_sha256: str
    valid_pieces: int
    valid_clips: int
    soundfonts_all: list[str]
    notes: list[str] = field(default_factory=list)


def _round_robin(queues: Sequence[Iterator[Any]]) -> Iterator[Any]:
    """Take one item from each queue in turn until all are empty."""
    active = list(queues)
    while active:
        for queue in list(active):
            item = next(queue, None)
            if item is None:
                active.remove(queue)
            else:
                yield item


def _clip_excerpts(clip: dict, length: int, rng: np.random.Generator) -> Iterator[Excerpt]:
    """Candidate excerpts of one clip, in a seeded order: first a tiling of
    disjoint spans (one seeded offset), then every start on the ``STEP_S``
    grid as a fallback for spans lost to silence (``select`` keeps disjoint ones)."""
    total = round(float(clip["duration_s"]) * SAMPLE_RATE)
    if total < length:
        return iter(())
    slots = total // length
    offset = int(rng.integers(0, total - slots * length + 1))
    tiling = offset + length * rng.permutation(slots)
    grid = np.arange(offset % round(STEP_S * SAMPLE_RATE), total - length + 1, round(STEP_S * SAMPLE_RATE))
    starts = np.concatenate([tiling, rng.permutation(grid)])
    return (
        Excerpt(clip["path"], clip["sha256"], clip["piece"], clip["soundfont"], int(t), length) for t in starts
    )


def _candidates(valid: list[dict], cfg: ValsetConfig, accept: Callable[[Excerpt], bool]) -> Iterator[Excerpt]:
    """The accepted excerpts of the valid clips, interleaved soundfont > piece > clip.

    Filtering inside each clip's queue keeps the round robin fair: a
    soundfont whose candidates are often silent still gets every other turn.
    All random draws happen here, before anything is consumed, so the order
    does not depend on which candidates ``accept`` rejects.
    """
    rng = np.random.default_rng(cfg.seed)
    by_font: dict[str, dict[str, list[dict]]] = {}
    for clip in sorted(valid, key=lambda c: c["path"]):
        by_font.setdefault(clip["soundfont"], {}).setdefault(clip["piece"], []).append(clip)
    fonts = []
    for font in sorted(by_font):
        pieces = sorted(by_font[font])
        pieces = [pieces[i] for i in rng.permutation(len(pieces))]
        queues = []
        for piece in pieces:
            clips = by_font[font][piece]
            clips = [clips[i] for i in rng.permutation(len(clips))]
            queues.append(_round_robin([filter(accept, _clip_excerpts(c, cfg.length, rng)) for c in clips]))
        fonts.append(_round_robin(queues))
    return _round_robin(fonts)


def read_excerpt(data_dir: Path, ex: Excerpt) -> np.ndarray:
    """(length,) int16 samples of an excerpt; InputError if the source is not 16 kHz mono."""
    path = data_dir / ex.source
    try:
        info = sf.info(path)
        if info.samplerate != SAMPLE_RATE or info.channels != 1:
            raise InputError(f"{path}: expected 16 kHz mono, got {info.samplerate} Hz x {info.channels}")
        pcm = sf.read(path, start=ex.start, frames=ex.length, dtype="int16", always_2d=True)[0][:, 0]
    except (OSError, RuntimeError, sf.LibsndfileError) as exc:
        raise InputError(f"cannot read {path}: {exc}") from exc
    if pcm.shape[0] != ex.length:
        raise InputError(f"{path}: shorter than its manifest says ({pcm.shape[0]} < {ex.length} samples)")
    return pcm


def has_silent_frame(pcm: np.ndarray) -> bool:
    """True if a centred ssr_eval STFT frame of (T,) int16 audio is all zeros.

    Such a frame scores LSD 12 against any estimate, identical ones included,
    so it would swamp the differences the table is meant to show.
    """
    n_fft, _ = ssr_stft_params(SAMPLE_RATE)
    half = n_fft // 2
    zero = np.concatenate([np.ones(half, bool), pcm == 0, np.ones(half, bool)])  # centred frames see zero padding
    edges = np.diff(np.concatenate([[0], zero.astype(np.int8), [0]]))
    runs = np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1)
    return bool(runs.max(initial=0) >= n_fft)


def _read_source_manifest(data_dir: Path) -> tuple[list[dict], str]:
    """(clips, sha256 of the file) of ``data_dir/manifest.json``."""
    path = data_dir / CORPUS_MANIFEST
    try:
        raw = path.read_bytes()  # hash and parse the same bytes: the renderer may replace the file
        clips = list(json.loads(raw)["clips"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(f"{path}: not a readable corpus manifest ({exc!r})") from exc
    keys = ("path", "split", "piece", "soundfont", "duration_s", "sha256")
    broken = next((c for c in clips if not isinstance(c, dict) or any(k not in c for k in keys)), None)
    if broken is not None:
        raise InputError(f"{path}: clip record {broken!r} lacks one of {', '.join(keys)}")
    return clips, sha256_bytes(raw)


def select(data_dir: Path, cfg: ValsetConfig) -> Selection:
    """Choose ``cfg.clips`` silence-free, disjoint excerpts of the valid split (fewer if it is short)."""
    clips, digest = _read_source_manifest(data_dir)
    valid = [c for c in clips if c["split"] == "valid"]
    taken: dict[str, list[Excerpt]] = {}  # source -> its chosen excerpts

    def accept(ex: Excerpt) -> bool:
        if ex.source not in taken:  # the renderer may still be writing: trust only finished files
            if sha256_file(data_dir / ex.source) != ex.source_sha256:
                raise InputError(f"{data_dir / ex.source}: sha256 differs from the manifest")
            taken[ex.source] = []
        if any(abs(ex.start - t.start) < ex.length for t in taken[ex.source]):
            return False
        if has_silent_frame(read_excerpt(data_dir, ex)):
            return False
        taken[ex.source].append(ex)
        return True

    chosen = list(itertools.islice(_candidates(valid, cfg, accept), cfg.clips))
    selection = Selection(
        chosen, digest, len({c["piece"] for c in valid}), len(valid), sorted({c["soundfont"] for c in clips})
    )
    if len(chosen) < cfg.clips:
        selection.notes.append(
            f"incomplete: the valid split offers only {len(chosen)} of {cfg.clips} excerpts of "
            f"{cfg.seconds:g} s; regenerate once the corpus has more valid pieces"
        )
    missing = sorted(set(selection.soundfonts_all) - {e.soundfont for e in chosen})
    if missing:
        selection.notes.append(f"no excerpt from soundfont(s) {', '.join(missing)}")
    return selection


def lr_order(cfg: ValsetConfig, clip_id: str, cutoff_hz: float, kind: str) -> int:
    """The filter order of one LR file: a hash of (seed, clip, cutoff, kind), not call order."""
    orders = family_of(kind).orders
    return orders[derive_seed(cfg.seed, "valset-order", clip_id, f"{cutoff_hz:g}", kind) % len(orders)]
