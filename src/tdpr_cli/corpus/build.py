"""Build the rendered piano corpus: plan render jobs, run them, keep the manifest current.

A *job* is one take of one piece: ``(piece, take)``. Everything random in a job
(soundfont, augmentation, reverb, clip loudness) is drawn from
``derive_seed(seed, piece, take, purpose)``, so a job's clips are identical
whichever worker runs it and whenever. Jobs are planned so that any prefix of
the plan is a useful corpus: the genuine piano scores first (three takes
each), then score collections interleaved round-robin with procedural pieces
(one job in three), then further takes. Results are consumed in plan order, so
the clips kept when the ``--hours`` target is reached do not depend on ``--jobs``.
"""

from __future__ import annotations

import itertools
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tdpr_cli.corpus import augment, procedural, render
from tdpr_cli.corpus.manifest import MANIFEST_NAME, ClipRecord, load_manifest, save_manifest, split_of
from tdpr_cli.corpus.sources import Piece, cached_midi, corpus_pieces
from tdpr_cli.digest import derive_seed, sha256_file
from tdpr_cli.errors import OutputError

PIANO_TAKES = 3  # the real piano scores are few and precious
MAX_TAKES = 4  # passes over the whole corpus before the plan runs dry
PROCEDURAL_EVERY = 3  # one job in three is procedural: ~20 % of the audio (they are shorter)
SAVE_EVERY_S = 10.0  # manifest rewrite interval while rendering
TAIL_S = 2.0  # silence appended to each MIDI so release and reverb are rendered


@dataclass(frozen=True)
class Job:
    piece: Piece
    take: int

    @property
    def key(self) -> str:
        return f"{self.piece.piece_id}#{self.take}"


@dataclass(frozen=True)
class JobResult:
    """What one job produced; times in seconds of wall clock, audio in seconds at 16 kHz."""

    job: Job
    clips: list[ClipRecord]
    soundfont: str
    audio_s: float = 0.0
    synth_s: float = 0.0
    convert_s: float = 0.0
    error: str = ""


@dataclass
class Summary:
    """Totals of one ``render_corpus`` call (``hours`` counts the whole manifest)."""

    hours: float = 0.0
    clips: int = 0
    jobs: int = 0
    failed: int = 0
    wall_s: float = 0.0
    sf_audio_s: dict[str, float] = field(default_factory=dict)  # over the whole manifest
    sf_synth_s: dict[str, float] = field(default_factory=dict)  # this run only
    sf_run_audio_s: dict[str, float] = field(default_factory=dict)  # this run only
    convert_s: list[float] = field(default_factory=list)


def procedural_piece(n: int) -> Piece:
    kinds = list(procedural.GENERATORS)
    kind = kinds[n % len(kinds)]
    return Piece(piece_id=f"proc-{kind}-{n:05d}", source=f"procedural:{kind}:{n}")


def _round_robin(pieces: list[Piece], seed: int) -> list[Piece]:
    """Shuffle within each collection, then take one piece from each collection in turn."""
    groups: dict[str, list[Piece]] = {}
    for p in pieces:
        groups.setdefault(p.source.split(":", 1)[1].split("/")[0], []).append(p)
    order = []
    for name in sorted(groups):
        rng = np.random.default_rng(derive_seed(seed, "order", name))
        order.append([groups[name][i] for i in rng.permutation(len(groups[name]))])
    return [p for row in itertools.zip_longest(*order) for p in row if p is not None]


def plan_jobs(corpus: list[Piece], seed: int, limit_pieces: int | None = None) -> Iterator[Job]:
    """The job order described in the module docstring (finite: at most ``MAX_TAKES`` passes)."""
    piano = [p for p in corpus if p.piano]
    others = _round_robin([p for p in corpus if not p.piano], seed)
    if limit_pieces is not None:  # a quick test: a few pieces of each kind, one take
        head = list(itertools.islice(_interleave(piano + others, 0, len(others) + len(piano)), limit_pieces))
        yield from (Job(p, 0) for p in head)
        return
    yield from (Job(p, t) for t in range(PIANO_TAKES) for p in piano)
    for take in range(MAX_TAKES):
        yield from (Job(p, take) for p in _interleave(others, take, len(others)))


def _interleave(pieces: list[Piece], take: int, count: int) -> Iterator[Piece]:
    """``pieces`` with a fresh procedural piece after every ``PROCEDURAL_EVERY - 1`` of them."""
    per_take = max(1, count // (PROCEDURAL_EVERY - 1))
    proc = (procedural_piece(take * per_take + i) for i in range(per_take))
    for i, p in enumerate(pieces):
        if i % (PROCEDURAL_EVERY - 1) == 0:
            nxt = next(proc, None)
            if nxt is not None:
                yield nxt
        yield p


@dataclass(frozen=True)
class RenderContext:
    out: Path
    seed: int


def _load_midi(ctx: RenderContext, piece: Piece):
    """``(mido.MidiFile | None, conversion seconds)`` for a piece."""
    import mido

    if piece.source.startswith("procedural:"):
        _, kind, n = piece.source.split(":")
        return procedural.generate(kind, derive_seed(ctx.seed, "procedural", kind, n)), 0.0
    t0 = time.perf_counter()
    midi_dir = ctx.out / "midi"
    fresh = not (midi_dir / f"{piece.piece_id}.mid").exists()
    # The opus seed ignores --seed so the MIDI cache can be shared between runs.
    path = cached_midi(piece, midi_dir, derive_seed(0, "opus", piece.piece_id))
    elapsed = time.perf_counter() - t0 if fresh else 0.0
    return (mido.MidiFile(path) if path else None), elapsed


def render_job(ctx: RenderContext, job: Job) -> JobResult:
    """Render one job to FLAC clips under ``ctx.out/<split>/``; never raises for a bad piece."""
    key = (ctx.seed, job.piece.piece_id, job.take)
    sf_name = render.draw_soundfont(np.random.default_rng(derive_seed(*key, "soundfont")))
    try:
        mid, convert_s = _load_midi(ctx, job.piece)
        if mid is None:
            return JobResult(job, [], sf_name, error="conversion failed")
        rng = np.random.default_rng(derive_seed(*key, "augment"))
        mid = augment.pad_end(augment.apply_augment(mid, augment.draw_augment(rng, augment.pitch_range(mid)), rng),
                              TAIL_S)
        reverb = render.draw_reverb(np.random.default_rng(derive_seed(*key, "reverb")))
        with tempfile.TemporaryDirectory(prefix="tdpr-render-") as tmp:
            midi_path = Path(tmp) / "in.mid"
            mid.save(midi_path)
            t0 = time.perf_counter()
            audio = render.synthesize(midi_path, render.find_soundfont(sf_name), reverb, Path(tmp) / "out.wav")
            synth_s = time.perf_counter() - t0
        clips = render.make_clips(audio, np.random.default_rng(derive_seed(*key, "clips")))
    except Exception as exc:  # one broken piece must not stop a 20-hour render
        return JobResult(job, [], sf_name, error=f"{type(exc).__name__}: {exc}")
    return JobResult(job, _write_clips(ctx, job, sf_name, clips), sf_name, len(audio) / render.RENDER_RATE,
                     synth_s, convert_s)


def _write_clips(ctx: RenderContext, job: Job, sf_name: str, clips: list[np.ndarray]) -> list[ClipRecord]:
    split = split_of(job.piece.piece_id, ctx.seed)
    records = []
    for i, clip in enumerate(clips):
        rel = f"{split}/{job.piece.piece_id}__{sf_name}__{job.take}_{i}.flac"
        render.write_flac(ctx.out / rel, clip)
        records.append(ClipRecord(rel, split, job.piece.piece_id, job.piece.source, sf_name,
                                  round(len(clip) / render.SAMPLE_RATE, 4), sha256_file(ctx.out / rel)))
    return records


def _results(ctx: RenderContext, jobs: list[Job], workers: int) -> Iterator[JobResult]:
    """Results in plan order; with ``workers > 1`` a process pool renders ahead."""
    if workers <= 1:
        yield from (render_job(ctx, j) for j in jobs)
        return
    import functools
    import multiprocessing as mp

    with mp.get_context("spawn").Pool(workers) as pool:
        yield from pool.imap(functools.partial(render_job, ctx), jobs, chunksize=1)


def render_corpus(out: Path, hours: float, jobs: int = 1, seed: int = 0, limit_pieces: int | None = None,
                  on_result: Callable[[JobResult, float], None] | None = None) -> Summary:
    """Render until the manifest under ``out`` holds ``hours`` of audio (or the plan runs out).

    Resumes from ``out/manifest.json``; ``on_result(result, hours_so_far)`` is called per job.
    """
    start = time.perf_counter()
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # a file in the way, a read-only place
        raise OutputError(f"{out}: cannot create the data folder ({exc.strerror or exc})") from None
    path = out / MANIFEST_NAME
    manifest = load_manifest(path, seed)
    todo = [j for j in plan_jobs(corpus_pieces(), seed, limit_pieces) if j.key not in manifest.done]
    summary, last_save = Summary(), time.perf_counter()
    try:
        for result in (_results(RenderContext(out, seed), todo, jobs) if manifest.hours < hours else ()):
            manifest.add_job(result.job.key, result.clips)
            _tally(summary, result)
            if on_result:
                on_result(result, manifest.hours)
            if time.perf_counter() - last_save > SAVE_EVERY_S:
                save_manifest(manifest, path)
                last_save = time.perf_counter()
            if manifest.hours >= hours:
                break
    finally:
        save_manifest(manifest, path)
    summary.hours, summary.clips, summary.wall_s = manifest.hours, len(manifest.clips), time.perf_counter() - start
    for c in manifest.clips:
        summary.sf_audio_s[c.soundfont] = summary.sf_audio_s.get(c.soundfont, 0.0) + c.duration_s
    return summary


def _tally(summary: Summary, r: JobResult) -> None:
    summary.jobs += 1
    summary.failed += bool(r.error)
    if r.convert_s:
        summary.convert_s.append(r.convert_s)
    if r.synth_s:
        summary.sf_synth_s[r.soundfont] = summary.sf_synth_s.get(r.soundfont, 0.0) + r.synth_s
        summary.sf_run_audio_s[r.soundfont] = summary.sf_run_audio_s.get(r.soundfont, 0.0) + r.audio_s
