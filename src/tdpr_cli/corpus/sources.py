"""MIDI sources for the piano corpus: the music21 score corpus and procedural pieces.

The music21 package ships ~3,200 scores (Palestrina masses, Bach chorales,
folk-tune collections, some genuine piano music). Each is converted once to a
MIDI file with every part played by an acoustic grand (program 0) and cached
under ``<data>/midi/`` so a restarted render skips the ~1 s conversion.
A file that fails to convert leaves a ``.failed`` marker and is never retried.

music21 writes 10,080 ticks per quarter note; everything downstream reads the
files with mido, which handles any resolution.
"""

from __future__ import annotations

import errno
import re
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tdpr_cli.audio.atomic import atomic_write

#: Score formats music21 can turn into notes (Roman-numeral ``.rntxt`` analyses are skipped).
SCORE_SUFFIXES = frozenset({".krn", ".abc", ".mxl", ".xml", ".musicxml", ".mei", ".mid", ".midi"})

#: Corpus paths (prefixes, relative to the corpus root) of music written for the piano.
PIANO_SCORES = (
    "joplin/",
    "mozart/k545/",
    "schumann_clara/polonaise",
    "chopin/mazurka",
    "schoenberg/opus19/",
)

OPUS_TUNES = 8  # tunes taken from a multi-tune file (e.g. an Essen folk-song book)
CONVERT_TIMEOUT_S = 120  # a few scores make music21 crawl; give up on them


@dataclass(frozen=True)
class Piece:
    """One unit of music: the split and every random choice are keyed by ``piece_id``."""

    piece_id: str
    source: str  # "music21:<corpus path>" or "procedural:<kind>:<n>"
    piano: bool = False  # written for the piano (rendered with extra takes)


def _corpus_root() -> Path:
    from music21 import common

    return Path(common.getCorpusFilePath())


def corpus_pieces() -> list[Piece]:
    """Every score in the music21 corpus, sorted by corpus path."""
    from music21 import corpus

    root = _corpus_root()
    rels = sorted(
        p.relative_to(root).as_posix() for p in map(Path, corpus.getPaths()) if p.suffix.lower() in SCORE_SUFFIXES
    )
    return [
        Piece(piece_id=piece_id_for(rel), source=f"music21:{rel}", piano=rel.startswith(PIANO_SCORES))
        for rel in rels
    ]


def piece_id_for(rel: str) -> str:
    """A file-name-safe id from a corpus path: ``bach/bwv1.6.mxl`` -> ``m21-bach-bwv1.6-mxl``."""
    stem, _, suffix = rel.rpartition(".")
    return "m21-" + re.sub(r"[^A-Za-z0-9.]+", "-", stem).strip("-") + "-" + suffix


@contextmanager
def _time_limit(seconds: int) -> Iterator[None]:
    """Raise TimeoutError after ``seconds`` (only in the main thread, where SIGALRM works)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_alarm(signum, frame):  # noqa: ARG001 - signal handler signature
        raise TimeoutError(f"conversion took more than {seconds} s")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _strip_repeats(score, barlines: bool) -> None:
    """Remove repeat signs (segno, coda, D.C., ...) and optionally repeat barlines, in place."""
    from music21 import bar, repeat

    for mark in list(score.recurse().getElementsByClass(repeat.RepeatMark)):
        if barlines or not isinstance(mark, bar.Repeat):
            site = mark.activeSite
            if isinstance(mark, bar.Repeat) and site is not None:
                if site.leftBarline is mark:
                    site.leftBarline = None
                if site.rightBarline is mark:
                    site.rightBarline = bar.Barline("regular")
            elif site is not None:
                site.remove(mark)


def _expand(score):
    """Play repeats as written; when expansion fails strip marks and retry, then give up on them."""
    for barlines in (None, False, True):
        try:
            if barlines is not None:
                _strip_repeats(score, barlines)
            return score.expandRepeats()
        except TimeoutError:
            raise
        except Exception:  # music21 raises many kinds on inconsistent repeat marks
            continue
    return score


def _to_piano(score):
    """Replace every instrument with an acoustic grand piano (GM program 0)."""
    from music21 import instrument, stream

    parts = list(score.parts) if isinstance(score, stream.Score) and score.parts else [score]
    for part in parts:
        for inst in list(part.recurse().getElementsByClass(instrument.Instrument)):
            if inst.activeSite is not None:
                inst.activeSite.remove(inst)
        part.insert(0, instrument.Piano())
    return score


def _score_to_midi(score):
    """One music21 score as a ``mido.MidiFile`` (piano, repeats expanded)."""
    import io

    import mido
    from music21 import midi

    mf = midi.translate.streamToMidiFile(_to_piano(_expand(score)))
    return mido.MidiFile(file=io.BytesIO(mf.writestr()))


def _force_piano(mid):
    """Every program change becomes 0 and the GM drum channel (9) moves to 15, in place."""
    for track in mid.tracks:
        for i, msg in enumerate(track):
            if msg.type == "program_change" and msg.program != 0:
                track[i] = msg.copy(program=0)
            if hasattr(msg, "channel") and msg.channel == 9:
                track[i] = track[i].copy(channel=15)
    return mid


def concatenate(mids: list, gap_beats: float = 2.0):
    """Play several files one after another, ``gap_beats`` apart, as one type-0 file."""
    import mido

    tpb = mids[0].ticks_per_beat
    track, pending = mido.MidiTrack(), 0
    for k, mid in enumerate(mids):
        pending += int(gap_beats * tpb) if k else 0
        merged = mido.merge_tracks(mid.tracks)
        if not any(m.type == "set_tempo" for m in merged):
            track.append(mido.MetaMessage("set_tempo", tempo=500_000, time=pending))
            pending = 0
        for msg in merged:
            if msg.type == "end_of_track":
                pending += msg.time
                continue
            track.append(msg.copy(time=msg.time * tpb // mid.ticks_per_beat + pending))
            pending = 0
    track.append(mido.MetaMessage("end_of_track", time=pending))
    return mido.MidiFile(type=0, ticks_per_beat=tpb, tracks=[track])


def _opus_tunes(scores: list, seed: int) -> list:
    """Up to ``OPUS_TUNES`` converted tunes in book order, tried in a seeded random order."""
    done: dict[int, object] = {}
    for i in np.random.default_rng(seed).permutation(len(scores)):
        try:
            done[int(i)] = _score_to_midi(scores[i])
        except TimeoutError:
            raise
        except Exception:  # one malformed tune should not lose the whole book
            continue
        if len(done) == OPUS_TUNES:
            break
    if not done:
        raise ValueError("no tune of this collection converts")
    return [done[i] for i in sorted(done)]


def convert_score(rel: str, out: Path, seed: int) -> None:
    """Convert corpus file ``rel`` to a piano MIDI at ``out`` (written atomically).

    A multi-tune file contributes ``OPUS_TUNES`` tunes, chosen with ``seed``, played in a row.
    """
    from music21 import converter, stream

    with _time_limit(CONVERT_TIMEOUT_S):
        parsed = converter.parse(_corpus_root() / rel)
        if isinstance(parsed, stream.Opus):
            mid = concatenate(_opus_tunes(list(parsed.scores), seed))
        else:
            mid = _score_to_midi(parsed)
    mid = _force_piano(mid)
    if not any(m.type == "note_on" and m.velocity > 0 for t in mid.tracks for m in t):
        raise ValueError(f"{rel}: no notes")
    # A unique temporary beside the cache entry (two render workers may convert one score),
    # removed if saving fails.
    atomic_write(out, lambda tmp: mid.save(str(tmp)))


#: OSErrors that say the machine failed (not the score): never recorded as the score's fault.
_MACHINE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS, errno.EIO})


def cached_midi(piece: Piece, midi_dir: Path, seed: int) -> Path | None:
    """The piece's MIDI under ``midi_dir``, converting on first use; None if it cannot convert."""
    out = midi_dir / f"{piece.piece_id}.mid"
    failed = out.with_suffix(".failed")
    if out.exists():
        return out
    if failed.exists():
        return None
    midi_dir.mkdir(parents=True, exist_ok=True)
    try:
        convert_score(piece.source.split(":", 1)[1], out, seed)
    except TimeoutError as exc:  # music21 crawling on a score (CONVERT_TIMEOUT_S): give up on it for good
        failed.write_text(f"{type(exc).__name__}: {exc}\n")
        return None
    except MemoryError:
        raise
    except OSError as exc:
        if exc.errno in _MACHINE_ERRNOS:
            raise  # the machine's fault (disk full, permissions), not the score's: no marker, tried again next run
        failed.write_text(f"{type(exc).__name__}: {exc}\n")  # a parser's OSError ("MThd not found")
        return None
    except Exception as exc:  # any music21 failure drops this score from the corpus, in every later run
        failed.write_text(f"{type(exc).__name__}: {exc}\n")
        return None
    return out
