"""Seeded MIDI augmentation: transposition, tempo scaling, humanised velocity and timing.

Augmenting the symbolic score before synthesis multiplies the variety of the
rendered corpus for free: a transposition moves the spectral envelope of each
soundfont sample to other pitches, a tempo change alters note density, and
velocity/timing jitter removes the machine-exact onsets and flat dynamics that
quantised scores (and music21's MIDI export) have.

Every function returns a new ``mido.MidiFile``; the input is never modified.
Randomness comes only from the ``numpy.random.Generator`` passed in.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tdpr_cli.corpus.procedural import HIGHEST, LOWEST

DEFAULT_TEMPO_US = 500_000  # MIDI's implied tempo (120 bpm) when a file sets none


@dataclass(frozen=True)
class Augment:
    """One draw of augmentation parameters.

    ``transpose`` in semitones; ``tempo_scale`` > 1 plays faster; velocities are
    multiplied by ``velocity_gain`` and jittered by a normal of ``velocity_sd``;
    note onsets (with their releases) move by a normal of ``timing_sd_s`` seconds.
    """

    transpose: int = 0
    tempo_scale: float = 1.0
    velocity_gain: float = 1.0
    velocity_sd: float = 0.0
    timing_sd_s: float = 0.0


def pitch_range(mid) -> tuple[int, int] | None:
    """Lowest and highest sounding MIDI pitch in ``mid``, or None when it has no notes."""
    pitches = [m.note for t in mid.tracks for m in t if m.type == "note_on" and m.velocity > 0]
    return (min(pitches), max(pitches)) if pitches else None


def draw_augment(rng: np.random.Generator, span: tuple[int, int] | None, max_shift: int = 4) -> Augment:
    """Draw parameters; the transposition keeps every note inside A0..C8 (21..108)."""
    lo, hi = span if span else (60, 60)
    down, up = max(-max_shift, LOWEST - lo), min(max_shift, HIGHEST - hi)
    shift = int(rng.integers(down, up + 1)) if down <= up else 0
    return Augment(
        transpose=shift,
        tempo_scale=float(rng.uniform(0.85, 1.15)),
        velocity_gain=float(rng.uniform(0.75, 1.25)),
        velocity_sd=float(rng.uniform(0.0, 10.0)),
        timing_sd_s=float(rng.uniform(0.0, 0.012)),
    )


def _to_absolute(track) -> list[list]:
    """``[[abs_tick, message], ...]`` for one track."""
    out, tick = [], 0
    for msg in track:
        tick += msg.time
        out.append([tick, msg])
    return out


def _to_track(events: list[list]):
    """Sort absolute events stably and rebuild delta times."""
    import mido

    events.sort(key=lambda e: e[0])
    track, last = mido.MidiTrack(), 0
    for tick, msg in events:
        track.append(msg.copy(time=tick - last))
        last = tick
    return track


def _humanise_track(track, aug: Augment, rng: np.random.Generator, ticks_per_s: float):
    """Transpose, scale velocities and shift each note (on and off together) in time."""
    events = _to_absolute(track)
    pending: dict[tuple[int, int], list[int]] = {}  # (channel, new pitch) -> onset shifts
    for ev in events:
        tick, msg = ev
        if msg.type not in ("note_on", "note_off"):
            continue
        pitch = int(np.clip(msg.note + aug.transpose, LOWEST, HIGHEST))
        key = (msg.channel, pitch)
        if msg.type == "note_on" and msg.velocity > 0:
            vel = msg.velocity * aug.velocity_gain + rng.normal(0.0, aug.velocity_sd)
            shift = int(round(rng.normal(0.0, aug.timing_sd_s) * ticks_per_s))
            pending.setdefault(key, []).append(shift)
            ev[0] = max(0, tick + shift)
            ev[1] = msg.copy(note=pitch, velocity=int(np.clip(round(vel), 1, 127)))
        else:
            shifts = pending.get(key)
            shift = shifts.pop(0) if shifts else 0
            ev[0] = max(0, tick + shift)
            ev[1] = msg.copy(note=pitch)
    return _to_track(events)


def _scale_tempo(track, scale: float, first: bool):
    """Divide every set_tempo by ``scale``; give the first track one if the file has none."""
    import mido

    out = mido.MidiTrack()
    has_tempo = any(m.type == "set_tempo" for m in track)
    if first and not has_tempo:
        out.append(mido.MetaMessage("set_tempo", tempo=round(DEFAULT_TEMPO_US / scale), time=0))
    for msg in track:
        if msg.type == "set_tempo":
            msg = msg.copy(tempo=max(1, min(0xFFFFFF, round(msg.tempo / scale))))
        out.append(msg)
    return out


def apply_augment(mid, aug: Augment, rng: np.random.Generator):
    """A new MIDI file with ``aug`` applied; ``rng`` draws the per-note jitter."""
    import mido

    first_tempo = next((m.tempo for t in mid.tracks for m in t if m.type == "set_tempo"), DEFAULT_TEMPO_US)
    # Timing jitter is specified in seconds; converting with the first tempo is exact
    # for constant-tempo files and close enough for the others.
    ticks_per_s = mid.ticks_per_beat * 1e6 / first_tempo
    has_tempo = any(m.type == "set_tempo" for t in mid.tracks for m in t)
    tracks = []
    for i, track in enumerate(mid.tracks):
        new = _humanise_track(track, aug, rng, ticks_per_s)
        tracks.append(_scale_tempo(new, aug.tempo_scale, first=(i == 0 and not has_tempo)))
    return mido.MidiFile(type=mid.type, ticks_per_beat=mid.ticks_per_beat, tracks=tracks)


def pad_end(mid, seconds: float):
    """A copy whose first track ends ``seconds`` after the last event of any track, so the
    synthesiser renders the release and reverb tail (fluidsynth stops at the file's end)."""
    import mido

    tempo = next((m.tempo for t in mid.tracks for m in t if m.type == "set_tempo"), DEFAULT_TEMPO_US)
    last = max(sum(m.time for m in t) for t in mid.tracks)
    pad = int(seconds * mid.ticks_per_beat * 1e6 / tempo)
    tracks = [mido.MidiTrack(t) for t in mid.tracks]
    first = [m for m in tracks[0] if m.type != "end_of_track"]
    end = sum(m.time for m in first)
    tracks[0] = mido.MidiTrack(first + [mido.MetaMessage("end_of_track", time=max(0, last - end) + pad)])
    return mido.MidiFile(type=mid.type, ticks_per_beat=mid.ticks_per_beat, tracks=tracks)
