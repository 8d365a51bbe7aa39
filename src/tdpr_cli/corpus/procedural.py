"""Seeded procedural piano writing: MIDI that exercises the whole keyboard.

The score corpus is mostly four-part chorales and folk tunes that stay in the
middle of the keyboard at moderate dynamics. These generators fill the gaps a
bandwidth-extension model must learn from: the lowest octave (A0 = MIDI 21,
27.5 Hz) and the top one (C8 = MIDI 108, 4186 Hz, whose harmonics are exactly
the band above 8 kHz that is restored), wide chords, fast runs, sustain-pedal
resonance (CC64) and velocities from ppp (1) to fff (127).

Every piece is a pure function of ``(kind, seed)``; notes are placed in seconds
and written at a fixed tempo of 120 bpm with 480 ticks per quarter (960 ticks/s).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

LOWEST, HIGHEST = 21, 108  # A0 and C8, the 88 keys of a piano
TICKS_PER_BEAT = 480
TEMPO_US = 500_000  # 120 bpm: one quarter = 0.5 s
_TICKS_PER_S = TICKS_PER_BEAT * 1_000_000 / TEMPO_US

_MAJOR = (0, 2, 4, 5, 7, 9, 11)
_MINOR = (0, 2, 3, 5, 7, 8, 10)
_CHORD_SHAPES = ((0, 4, 7), (0, 3, 7), (0, 4, 7, 11), (0, 3, 7, 10), (0, 4, 7, 10), (0, 5, 7))


@dataclass(frozen=True)
class Note:
    """One key press: ``start`` and ``dur`` in seconds, MIDI ``pitch`` and ``velocity``."""

    start: float
    dur: float
    pitch: int
    velocity: int


@dataclass
class Sketch:
    """What a generator writes: notes plus sustain-pedal changes ``(time_s, down)``."""

    notes: list[Note]
    pedal: list[tuple[float, bool]]


def _vel(rng: np.random.Generator, centre: float, spread: float = 18.0) -> int:
    """A velocity around ``centre``, clipped to the MIDI range 1..127."""
    return int(np.clip(round(rng.normal(centre, spread)), 1, 127))


def _dynamic_curve(rng: np.random.Generator, sections: int) -> np.ndarray:
    """Per-section velocity centres that always span ppp..fff somewhere in the piece."""
    centres = rng.uniform(10, 120, size=sections)
    centres[rng.integers(sections)] = 8  # guarantee a very soft passage
    centres[rng.integers(sections)] = 122  # and a very loud one
    return centres


def _pedal_every(rng: np.random.Generator, t0: float, t1: float, step: float) -> list[tuple[float, bool]]:
    """Pedal changes: lift briefly and re-press every ``step`` seconds (a legato pedal)."""
    out: list[tuple[float, bool]] = []
    t = t0
    while t < t1:
        out += [(t, True), (min(t + step - 0.05, t1), False)]
        t += step * (1.0 + rng.uniform(-0.1, 0.1))
    return out


def _chord(rng: np.random.Generator, highest_root: int) -> tuple[int, tuple[int, ...]]:
    """A random root (LOWEST .. highest_root - 1) and chord shape; draws in this order, always."""
    root = int(rng.integers(LOWEST, highest_root))
    return root, _CHORD_SHAPES[rng.integers(len(_CHORD_SHAPES))]


def _chords(rng: np.random.Generator, seconds: float) -> Sketch:
    """Wide chords: a bass note in the bottom octaves under spread voicings above."""
    notes: list[Note] = []
    t, dyn = 0.0, _dynamic_curve(rng, 8)
    while t < seconds:
        root, shape = _chord(rng, 48)
        top = int(rng.integers(72, HIGHEST + 1))
        pitches = {root}
        for octave in range(root + 12, top + 1, 12):
            pitches.update(p for p in (octave + s for s in shape) if p <= top and rng.random() < 0.6)
        dur = float(rng.choice([0.5, 1.0, 1.5, 2.0, 3.0]))
        centre = dyn[min(int(t / seconds * len(dyn)), len(dyn) - 1)]
        notes += [Note(t + rng.uniform(0, 0.02), dur, p, _vel(rng, centre, 8)) for p in sorted(pitches)]
        t += dur
    return Sketch(notes, _pedal_every(rng, 0.0, seconds, 2.0))


def _arpeggios(rng: np.random.Generator, seconds: float) -> Sketch:
    """Broken chords sweeping several octaves up and down, pedalled per harmony."""
    notes: list[Note] = []
    t, dyn = 0.0, _dynamic_curve(rng, 6)
    while t < seconds:
        root, shape = _chord(rng, 60)
        span = int(rng.integers(2, 7))  # octaves
        up = [root + 12 * o + s for o in range(span) for s in shape if root + 12 * o + s <= HIGHEST]
        seq = up + up[-2:0:-1] if rng.random() < 0.5 else up
        step = float(rng.uniform(0.06, 0.2))
        centre = dyn[min(int(t / seconds * len(dyn)), len(dyn) - 1)]
        for i, p in enumerate(seq):
            notes.append(Note(t + i * step, step * 3, p, _vel(rng, centre, 10)))
        t += len(seq) * step + float(rng.uniform(0.1, 0.6))
    return Sketch(notes, _pedal_every(rng, 0.0, seconds, 1.5))


def _scales(rng: np.random.Generator, seconds: float) -> Sketch:
    """Scale runs from A0 to C8 and back, sometimes in octaves, crescendo or diminuendo."""
    notes: list[Note] = []
    t = 0.0
    while t < seconds:
        mode = _MAJOR if rng.random() < 0.6 else _MINOR
        tonic = int(rng.integers(0, 12))
        keys = [p for p in range(LOWEST, HIGHEST + 1) if (p - tonic) % 12 in mode]
        lo, hi = sorted(rng.integers(0, len(keys), size=2))
        if rng.random() < 0.3:  # a full-keyboard sweep keeps A0 and C8 well covered
            lo, hi = 0, len(keys) - 1
        run = keys[lo : hi + 1]
        run = run if rng.random() < 0.5 else run[::-1]
        step = float(rng.uniform(0.05, 0.18))
        v0, v1 = rng.uniform(5, 127, size=2)
        for i, p in enumerate(run):
            v = v0 + (v1 - v0) * i / max(len(run) - 1, 1)
            notes.append(Note(t + i * step, step * 1.2, p, _vel(rng, v, 4)))
            if rng.random() < 0.25 and p + 12 <= HIGHEST:  # doubled at the octave
                notes.append(Note(t + i * step, step * 1.2, p + 12, _vel(rng, v, 4)))
        t += len(run) * step + float(rng.uniform(0.2, 1.0))
    pedal = _pedal_every(rng, 0.0, seconds, 4.0) if rng.random() < 0.5 else []
    return Sketch(notes, pedal)


def _texture(rng: np.random.Generator, seconds: float) -> Sketch:
    """A melody in the treble over an Alberti-style bass, with repeated-note staccato."""
    notes: list[Note] = []
    beat = float(rng.uniform(0.25, 0.6))
    mode = _MAJOR if rng.random() < 0.5 else _MINOR
    tonic = int(rng.integers(36, 48))
    melody = int(rng.integers(67, 96))
    dyn = _dynamic_curve(rng, 6)
    for i in range(int(seconds / beat)):
        t, centre = i * beat, dyn[min(i * len(dyn) // int(seconds / beat), len(dyn) - 1)]
        bass = tonic + mode[(i // 4 * 3) % 7] + (0, 7, 4, 7)[i % 4]
        notes.append(Note(t, beat * 0.9, bass, _vel(rng, centre * 0.7, 8)))
        melody = int(np.clip(melody + rng.integers(-4, 5), 60, HIGHEST))
        dur = beat * float(rng.choice([0.2, 0.5, 1.0, 2.0]))
        notes.append(Note(t, dur, melody, _vel(rng, centre, 10)))
    return Sketch(notes, _pedal_every(rng, 0.0, seconds, beat * 4))


#: Registry of procedural kinds; the name is part of the piece id and the source.
GENERATORS: dict[str, Callable[[np.random.Generator, float], Sketch]] = {
    "chords": _chords,
    "arpeggios": _arpeggios,
    "scales": _scales,
    "texture": _texture,
}


def _ticks(seconds: float) -> int:
    return max(0, int(round(seconds * _TICKS_PER_S)))


def sketch_to_midi(sketch: Sketch):  # -> mido.MidiFile (mido imported lazily)
    """Write a sketch as a type-0 MIDI file, all on channel 0 with program 0 (piano)."""
    import mido

    events: list[tuple[int, int, mido.Message]] = []  # (tick, order, message)
    for n in sketch.notes:
        on, off = _ticks(n.start), _ticks(n.start + n.dur)
        events.append((on, 2, mido.Message("note_on", note=n.pitch, velocity=n.velocity)))
        events.append((max(off, on + 1), 0, mido.Message("note_off", note=n.pitch, velocity=0)))
    for t, down in sketch.pedal:
        # Lifts sort before presses at the same tick so a re-press is never swallowed.
        events.append((_ticks(t), 1 if down else 0, mido.Message("control_change", control=64, value=127 if down else 0)))
    events.sort(key=lambda e: (e[0], e[1]))
    track = mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=TEMPO_US, time=0),
                            mido.Message("program_change", program=0, time=0)])
    last = 0
    for tick, _, msg in events:
        track.append(msg.copy(time=tick - last))
        last = tick
    track.append(mido.Message("control_change", control=64, value=0, time=TICKS_PER_BEAT))
    track.append(mido.MetaMessage("end_of_track", time=TICKS_PER_BEAT * 2))
    return mido.MidiFile(type=0, ticks_per_beat=TICKS_PER_BEAT, tracks=[track])


def generate(kind: str, seed: int, seconds: float | None = None):  # -> mido.MidiFile
    """One procedural piece of ``kind`` (a key of ``GENERATORS``), 60..150 s unless given."""
    rng = np.random.default_rng(seed)
    length = float(rng.uniform(60.0, 150.0)) if seconds is None else seconds
    return sketch_to_midi(GENERATORS[kind](rng, length))
