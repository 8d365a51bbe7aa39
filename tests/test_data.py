"""Tests of the corpus builder that need neither music21 nor fluidsynth (those skip cleanly)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

mido = pytest.importorskip("mido")

from tdpr_cli.config import SAMPLE_RATE  # noqa: E402
from tdpr_cli.corpus import (  # noqa: E402
    augment,
    procedural,
    render,  # noqa: E402
)
from tdpr_cli.corpus.build import Job, RenderContext, plan_jobs, procedural_piece, render_job  # noqa: E402
from tdpr_cli.corpus.manifest import (  # noqa: E402
    ClipRecord,
    Manifest,
    load_manifest,
    save_manifest,
    split_of,
)
from tdpr_cli.corpus.sources import Piece, concatenate, piece_id_for  # noqa: E402
from tdpr_cli.digest import derive_seed  # noqa: E402
from tdpr_cli.errors import InputError  # noqa: E402


def _notes(mid) -> list:
    return [m for t in mid.tracks for m in t if m.type == "note_on" and m.velocity > 0]


def test_procedural_covers_keyboard_velocities_and_pedal():
    pitches, velocities, pedal = set(), set(), 0
    for n, kind in enumerate(procedural.GENERATORS):
        mid = procedural.generate(kind, seed=n, seconds=60.0)
        pitches |= {m.note for m in _notes(mid)}
        velocities |= {m.velocity for m in _notes(mid)}
        pedal += sum(m.type == "control_change" and m.control == 64 for t in mid.tracks for m in t)
    assert min(pitches) <= 23 and max(pitches) >= 105  # within a few keys of A0 and C8
    assert all(procedural.LOWEST <= p <= procedural.HIGHEST for p in pitches)
    assert len(pitches) > 80
    assert min(velocities) <= 20 and max(velocities) >= 115
    assert pedal > 10


def test_procedural_is_seeded():
    a, b = procedural.generate("arpeggios", 7), procedural.generate("arpeggios", 7)
    c = procedural.generate("arpeggios", 8)
    assert [str(m) for m in a.tracks[0]] == [str(m) for m in b.tracks[0]]
    assert [str(m) for m in a.tracks[0]] != [str(m) for m in c.tracks[0]]


def test_augment_is_deterministic_and_in_range():
    mid = procedural.generate("scales", 3, seconds=30.0)
    span = augment.pitch_range(mid)

    def run(seed: int):
        rng = np.random.default_rng(seed)
        return augment.apply_augment(mid, augment.draw_augment(rng, span, max_shift=12), rng)

    a, b = run(1), run(1)
    assert [str(m) for m in a.tracks[0]] == [str(m) for m in b.tracks[0]]
    for seed in range(20):
        notes = _notes(run(seed))
        assert all(21 <= m.note <= 108 and 1 <= m.velocity <= 127 for m in notes)
        assert len(notes) == len(_notes(mid))
    assert str(mid.tracks[0][0]) == str(procedural.generate("scales", 3, seconds=30.0).tracks[0][0])


def test_augment_tempo_and_transpose():
    mid = procedural.generate("chords", 1, seconds=20.0)
    aug = augment.Augment(transpose=2, tempo_scale=1.1)
    out = augment.apply_augment(mid, aug, np.random.default_rng(0))
    assert [m.note + 2 for m in _notes(mid)] == [m.note for m in _notes(out)]
    assert out.length == pytest.approx(mid.length / 1.1, rel=1e-3)
    padded = augment.pad_end(out, 2.0)
    assert padded.length == pytest.approx(out.length + 2.0, abs=0.05)


def test_splits_deterministic_and_piece_disjoint():
    pieces = [f"m21-piece-{i}" for i in range(4000)]
    splits = {p: split_of(p, seed=0) for p in pieces}
    assert splits == {p: split_of(p, seed=0) for p in pieces}
    counts = {s: list(splits.values()).count(s) for s in ("train", "valid", "test")}
    assert 0.87 < counts["train"] / 4000 < 0.93 and counts["valid"] > 120 and counts["test"] > 120
    assert {p: split_of(p, seed=1) for p in pieces} != splits  # the seed matters
    # Every take of a piece lands in the piece's split, so no piece straddles two.
    jobs = list(plan_jobs([Piece(p, f"music21:x/{p}.krn") for p in pieces[:50]], seed=0))
    by_piece: dict[str, set[str]] = {}
    for j in jobs:
        by_piece.setdefault(j.piece.piece_id, set()).add(split_of(j.piece.piece_id, 0))
    assert all(len(s) == 1 for s in by_piece.values())
    assert any(j.piece.source.startswith("procedural:") for j in jobs)


def test_seeds_do_not_depend_on_order():
    assert derive_seed(0, "a", 1) == derive_seed(0, "a", 1) != derive_seed(0, "a", 2)
    assert piece_id_for("bach/bwv1.6.mxl") == "m21-bach-bwv1.6-mxl"
    assert procedural_piece(5).piece_id == procedural_piece(5).piece_id


def test_manifest_round_trip(tmp_path: Path):
    clip = ClipRecord("train/p__musescore__0_0.flac", "train", "p", "procedural:chords:0", "musescore", 12.5, "ab")
    m = Manifest(seed=4)
    m.add_job("p#0", [clip])
    m.add_job("p#0", [clip])  # a re-rendered job replaces, never duplicates
    save_manifest(m, tmp_path / "manifest.json")
    back = load_manifest(tmp_path / "manifest.json", seed=4)
    assert back.clips == [clip] and back.done == {"p#0"} and back.sample_rate == SAMPLE_RATE
    assert back.hours == pytest.approx(12.5 / 3600)
    with pytest.raises(InputError):
        load_manifest(tmp_path / "manifest.json", seed=5)
    assert [p.name for p in tmp_path.iterdir()] == ["manifest.json"]  # no temporary left


@pytest.mark.parametrize("target", [-30.0, -24.0, -18.0])
def test_loudness_hits_target_rms(target: float):
    t = np.arange(SAMPLE_RATE * 2) / SAMPLE_RATE
    x = (0.01 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    y = render.normalise_loudness(x, target)
    assert 20 * np.log10(np.sqrt(np.mean(y.astype(np.float64) ** 2))) == pytest.approx(target, abs=0.01)


def test_loudness_respects_peak_limit():
    x = np.zeros(SAMPLE_RATE, np.float32)
    x[100] = 1.0  # a click: reaching -18 dBFS RMS would need a peak far above full scale
    y = render.normalise_loudness(x, -18.0)
    assert np.max(np.abs(y)) < 10 ** (-1 / 20)


def test_trim_split_and_silence():
    x = np.zeros(SAMPLE_RATE * 70, np.float32)
    x[SAMPLE_RATE * 5 : SAMPLE_RATE * 66] = np.random.default_rng(0).normal(0, 0.1, SAMPLE_RATE * 61)
    trimmed = render.trim_silence(x)
    assert abs(len(trimmed) - SAMPLE_RATE * 61) <= 2 * 1600
    clips = render.split_clips(trimmed)
    assert len(clips) == 3 and all(len(c) <= 30 * SAMPLE_RATE for c in clips)
    assert sum(map(len, clips)) == len(trimmed)
    assert render.is_near_silent(np.zeros(SAMPLE_RATE, np.float32), ref_db=-20.0)
    assert not render.is_near_silent(clips[0], ref_db=-20.0)


def test_soundfont_draws_follow_weights():
    rng = np.random.default_rng(0)
    names = [render.draw_soundfont(rng) for _ in range(3000)]
    assert 0.55 < names.count("musescore") / 3000 < 0.65 and names.count("timgm6mb") > 200


def test_concatenate_plays_in_sequence():
    a, b = procedural.generate("chords", 1, 10.0), procedural.generate("scales", 2, 10.0)
    both = concatenate([a, b], gap_beats=2.0)
    assert len(_notes(both)) == len(_notes(a)) + len(_notes(b))
    assert both.length == pytest.approx(a.length + b.length + 1.0, abs=0.05)


@pytest.mark.skipif(shutil.which("fluidsynth") is None, reason="fluidsynth not installed")
def test_tiny_render_end_to_end(tmp_path: Path, monkeypatch):
    try:
        render.find_soundfont("fluidr3"), render.find_soundfont("musescore"), render.find_soundfont("timgm6mb")
    except InputError:
        pytest.skip("soundfonts not installed")
    sketch = procedural.Sketch([procedural.Note(0.0, 1.0, 60, 90), procedural.Note(1.0, 1.0, 96, 60)], [])
    monkeypatch.setattr(procedural, "generate", lambda kind, seed, seconds=None: procedural.sketch_to_midi(sketch))
    job = Job(Piece("proc-test-0", "procedural:chords:0"), 0)
    result = render_job(RenderContext(tmp_path, 0), job)
    assert not result.error and len(result.clips) == 1
    import soundfile as sf

    clip = result.clips[0]
    audio, rate = sf.read(tmp_path / clip.path)
    assert rate == SAMPLE_RATE and audio.ndim == 1 and 2.0 < clip.duration_s < 6.0
    assert -31 < 20 * np.log10(np.sqrt(np.mean(audio**2))) < -17 or np.max(np.abs(audio)) > 0.85
    assert np.max(np.abs(audio)) < 10 ** (-1 / 20)
    again = render_job(RenderContext(tmp_path / "again", 0), job)
    assert again.clips[0].sha256 == clip.sha256  # deterministic given the seed


@pytest.mark.parametrize(("error", "marked"), [(ValueError("bad score"), True), (TimeoutError("slow"), True),
                                               (OSError("MThd not found"), True),
                                               (OSError(28, "No space left on device"), False)])
def test_a_score_is_marked_unconvertible_only_for_its_own_faults(tmp_path, monkeypatch, error, marked):
    from tdpr_cli.corpus import sources

    def fail(rel, out, seed):
        raise error

    monkeypatch.setattr(sources, "convert_score", fail)
    piece = Piece(piece_id="p1", source="music21:x/y.krn")
    if marked:
        assert sources.cached_midi(piece, tmp_path, 0) is None
    else:  # a full disk says nothing about the score: the next run tries it again
        with pytest.raises(OSError):
            sources.cached_midi(piece, tmp_path, 0)
    assert (tmp_path / "p1.failed").exists() == marked
    assert not list(tmp_path.glob("*.mid"))
