"""Synthesis and clip post-processing: MIDI -> fluidsynth -> 16 kHz mono FLAC clips.

fluidsynth's fast-render mode (``-F``) synthesises a MIDI file to a 44.1 kHz
stereo WAV much faster than real time. We render in 32-bit float so nothing
clips inside the synthesiser, then downmix to mono, resample 44.1 -> 16 kHz
with a polyphase filter (160/441, which also removes the content above 8 kHz
without aliasing), trim the silent head and tail, cut the piece into clips of
at most 30 s, and give each clip its own random loudness.

Three General MIDI soundfonts from Debian supply the piano, drawn with weights
that favour realism: MuseScore General (sampled Steinway-like grand), FluidR3
(brighter, shorter samples) and TimGM6mb (a 6 MB font, lo-fi on purpose).
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tdpr_cli.config import SAMPLE_RATE
from tdpr_cli.errors import InputError

RENDER_RATE = 44_100  # Hz; fluidsynth's native rate and the rate the soundfonts are sampled at
MAX_CLIP_S = 30.0
MIN_CLIP_S = 1.0
LOUDNESS_DBFS = (-30.0, -18.0)  # per-clip RMS target range
PEAK_DBFS = -1.0
SOUNDFONT_DIRS = ("/usr/share/sounds/sf2", "/usr/share/sounds/sf3", "/usr/share/soundfonts")


@dataclass(frozen=True)
class SoundFont:
    """A registered soundfont: ``weight`` is its share of rendered pieces."""

    name: str
    weight: float
    files: tuple[str, ...]  # candidate file names, first found wins
    package: str  # the Debian package that installs it


#: Registry of soundfonts, most realistic first.
SOUNDFONTS: dict[str, SoundFont] = {
    sf.name: sf
    for sf in (
        SoundFont("musescore", 0.6, ("MuseScore_General_Full.sf2", "MuseScore_General.sf2", "MuseScore_General.sf3"),
                  "musescore-general-soundfont-lossless"),
        SoundFont("fluidr3", 0.3, ("FluidR3_GM.sf2", "FluidR3_GM.sf3"), "fluid-soundfont-gm"),
        SoundFont("timgm6mb", 0.1, ("TimGM6mb.sf2",), "timgm6mb-soundfont"),
    )
}


def find_soundfont(name: str) -> Path:
    """The file of soundfont ``name``; ``$TDPR_SOUNDFONT_DIR`` is searched before the Debian folders."""
    extra = os.environ.get("TDPR_SOUNDFONT_DIR")
    dirs = ((extra,) if extra else ()) + SOUNDFONT_DIRS
    for d in dirs:
        for f in SOUNDFONTS[name].files:
            if (Path(d) / f).is_file():
                return Path(d) / f
    raise InputError(f"soundfont {name!r} not found; run `tdpr data setup` (apt package {SOUNDFONTS[name].package})")


def draw_soundfont(rng: np.random.Generator) -> str:
    """A soundfont name drawn with the registry weights."""
    names = list(SOUNDFONTS)
    weights = np.array([SOUNDFONTS[n].weight for n in names])
    return names[int(rng.choice(len(names), p=weights / weights.sum()))]


@dataclass(frozen=True)
class Reverb:
    """fluidsynth's Freeverb settings (all 0..1 except ``width`` 0..100); ``level`` 0 disables it."""

    room_size: float
    level: float
    damp: float
    width: float


def draw_reverb(rng: np.random.Generator) -> Reverb:
    """A dry clip one time in six, otherwise a random room from a small studio to a hall."""
    if rng.random() < 1 / 6:
        return Reverb(0.0, 0.0, 0.0, 0.0)
    return Reverb(
        room_size=round(float(rng.uniform(0.1, 0.9)), 3),
        level=round(float(rng.uniform(0.1, 0.8)), 3),
        damp=round(float(rng.uniform(0.0, 0.7)), 3),
        width=round(float(rng.uniform(0.3, 1.0)), 3),
    )


def fluidsynth_command(midi: Path, soundfont: Path, wav: Path, reverb: Reverb, gain: float = 0.4) -> list[str]:
    """The fluidsynth 2.x command line that renders ``midi`` to a float WAV at 44.1 kHz."""
    settings = {
        "synth.reverb.active": int(reverb.level > 0),
        "synth.reverb.room-size": reverb.room_size,
        "synth.reverb.level": reverb.level,
        "synth.reverb.damp": reverb.damp,
        "synth.reverb.width": reverb.width,
        "synth.chorus.active": 0,  # a chorused piano is not a real piano
        "synth.cpu-cores": 1,  # one core per job; parallelism comes from --jobs
    }
    cmd = ["fluidsynth", "-ni", "-q", "-F", str(wav), "-T", "wav", "-O", "float", "-r", str(RENDER_RATE),
           "-g", f"{gain:g}"]
    for key, value in settings.items():
        cmd += ["-o", f"{key}={value}"]
    return cmd + [str(soundfont), str(midi)]


def synthesize(midi: Path, soundfont: Path, reverb: Reverb, wav: Path) -> np.ndarray:
    """Render ``midi`` with fluidsynth; returns float32 ``(T, 2)`` at 44.1 kHz. ``wav`` is scratch space."""
    import soundfile as sf

    proc = subprocess.run(fluidsynth_command(midi, soundfont, wav, reverb), capture_output=True, text=True)
    if proc.returncode != 0 or not wav.exists():
        raise InputError(f"fluidsynth failed on {midi.name}: {proc.stderr.strip()[-300:]}")
    try:
        audio, rate = sf.read(wav, dtype="float32", always_2d=True)
    finally:
        wav.unlink(missing_ok=True)
    if rate != RENDER_RATE:
        raise InputError(f"fluidsynth wrote {rate} Hz, expected {RENDER_RATE}")
    return audio


def to_mono_16k(audio: np.ndarray, rate: int = RENDER_RATE) -> np.ndarray:
    """Downmix ``(T, C)`` to mono and resample to 16 kHz with the project's one resampler."""
    from tdpr_cli.audio.resample import resample

    mono = audio.mean(axis=1) if audio.ndim == 2 else audio
    return resample(mono, rate, SAMPLE_RATE)


def _frame_db(x: np.ndarray, frame: int) -> np.ndarray:
    """RMS level of consecutive ``frame``-sample frames, in dB (the last partial frame included)."""
    pad = (-len(x)) % frame
    frames = np.pad(x, (0, pad)).reshape(-1, frame)
    return 10 * np.log10(np.mean(frames.astype(np.float64) ** 2, axis=1) + 1e-20)


def trim_silence(x: np.ndarray, rel_db: float = -60.0, frame: int = 320, margin: int = 1600) -> np.ndarray:
    """Drop head/tail frames quieter than ``rel_db`` under the loudest 20 ms frame (16 kHz units).

    ``margin`` samples (0.1 s) are kept around the sounding part so onsets stay intact.
    """
    if len(x) == 0:
        return x
    db = _frame_db(x, frame)
    loud = np.flatnonzero(db > db.max() + rel_db)
    if len(loud) == 0:
        return x[:0]
    start = max(0, loud[0] * frame - margin)
    stop = min(len(x), (loud[-1] + 1) * frame + margin)
    return x[start:stop]


def split_clips(x: np.ndarray, max_s: float = MAX_CLIP_S, min_s: float = MIN_CLIP_S) -> list[np.ndarray]:
    """Cut into the fewest equal clips of at most ``max_s`` seconds; none if shorter than ``min_s``."""
    if len(x) < min_s * SAMPLE_RATE:
        return []
    n = int(np.ceil(len(x) / (max_s * SAMPLE_RATE)))
    edges = np.linspace(0, len(x), n + 1).round().astype(int)
    return [x[a:b] for a, b in zip(edges[:-1], edges[1:])]


def is_near_silent(clip: np.ndarray, ref_db: float, active_fraction: float = 0.25) -> bool:
    """True when under ``active_fraction`` of 20 ms frames are within 50 dB of ``ref_db``."""
    db = _frame_db(clip, 320)
    return bool(np.mean(db > ref_db - 50.0) < active_fraction or db.max() < -100.0)


def normalise_loudness(x: np.ndarray, target_dbfs: float, peak_dbfs: float = PEAK_DBFS) -> np.ndarray:
    """Scale to an RMS of ``target_dbfs``; if that would put the peak above ``peak_dbfs``, scale
    down to that peak instead (a plain gain, so no limiter artefacts enter the training targets)."""
    rms = float(np.sqrt(np.mean(x.astype(np.float64) ** 2)))
    if rms <= 0.0:
        return x.copy()
    gain = 10 ** (target_dbfs / 20) / rms
    peak = float(np.max(np.abs(x))) * gain
    limit = 10 ** (peak_dbfs / 20) * 0.999  # 0.1 % below, so 16-bit rounding stays below too
    if peak > limit:
        gain *= limit / peak
    return (x * gain).astype(np.float32)


def write_flac(path: Path, x: np.ndarray) -> None:
    """Write 16-bit FLAC at 16 kHz through the one atomic write, so a crash leaves no half file."""
    import soundfile as sf

    from tdpr_cli.audio.atomic import atomic_write

    atomic_write(path, lambda tmp: sf.write(tmp, x, SAMPLE_RATE, format="FLAC", subtype="PCM_16"))


def make_clips(audio_44k: np.ndarray, rng: np.random.Generator) -> list[np.ndarray]:
    """16 kHz mono clips of ≤ 30 s, each loudness-normalised; near-silent ones are dropped."""
    x = trim_silence(to_mono_16k(audio_44k))
    if len(x) == 0:
        return []
    ref_db = float(_frame_db(x, 320).max())
    clips = []
    for clip in split_clips(x):
        target = float(rng.uniform(*LOUDNESS_DBFS))  # drawn for every clip, kept or not, for stability
        if not is_near_silent(clip, ref_db):
            clips.append(normalise_loudness(clip, target))
    return clips
