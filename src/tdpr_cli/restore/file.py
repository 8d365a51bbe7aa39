"""One restore job per file: read -> resample -> analyse -> decide -> restore -> write.

This module wires the stages for a file path; ``pipeline`` stays free of I/O
and ``cli``/``commands`` only parse options and report. Every failure is a
``TdprError``; nothing here prints.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from tdpr_cli.audio.atomic import output_path_state, writable_folder
from tdpr_cli.audio.read import STDIO, AudioSource, prepare_output, write_stream
from tdpr_cli.audio.resample import output_length, resampled
from tdpr_cli.audio.write import same_file
from tdpr_cli.config import SAMPLE_RATE, RestoreConfig, Subtype
from tdpr_cli.dsp.bandwidth import SpectrumAccumulator, detect
from tdpr_cli.errors import InputError, ModelsUnavailable, OutputError, RefusedInput, TdprError, UsageError
from tdpr_cli.restore.decision import Decision, decide

if TYPE_CHECKING:
    from tdpr_cli.restore.stream import ChunkRestorer

#: Extensions picked up in batch mode.
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif")
#: Formats libsndfile cannot write (or that we do not write) become WAV.
WRITABLE = (".wav", ".flac", ".ogg", ".aiff", ".aif")


class Models(Protocol):
    """What a file needs of a run's models (``restore.load.LazyRestorer``): the restore
    configuration, and the restorer (torch or ONNX Runtime), built only when a file is restored."""

    cfg: RestoreConfig

    def get(self) -> ChunkRestorer: ...


@dataclass
class FileRecord:
    """What happened to one file; serialised as one JSON line with ``--json``."""

    input: str
    output: str
    status: str = "ok"  # ok | passthrough | skipped | error
    message: str = ""
    cutoff_hz: float | None = None  # the cutoff used (detected, or --cutoff)
    detected_cutoff_hz: float | None = None
    music_top_hz: float | None = None  # where the input's roll-off reaches its noise floor
    detection_confidence: float | None = None  # 0..1 (see dsp.bandwidth)
    duration_s: float = 0.0  # length of the audio
    wall_s: float = 0.0  # wall-clock time spent on the file
    device: str = "cpu"  # where the models ran; cpu for a pass-through (no model runs)
    runtime: str | None = None  # what ran the models: onnxruntime or torch (None: no model ran)
    threads: int | None = None  # CPU threads for the models (None: no model ran); bytes depend on it
    models: dict[str, str] = field(default_factory=dict)
    gain_db: float = 0.0
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


#: The analysis pass keeps the 16 kHz blocks of a file up to this size (bytes) for the restore
#: pass, which then neither reads nor resamples the file again (0.1 s of a 3 s restore of 60 s of
#: stereo, issue 14); longer files are read twice, so memory stays bounded.
KEEP_BYTES = 32 << 20


def analyse(src: AudioSource, cfg: RestoreConfig, keep_bytes: int = 0) -> tuple[Decision, list[np.ndarray] | None]:
    """First pass over the file: long-term spectrum -> bandwidth -> decision; and the (C, n)
    float32 16 kHz blocks themselves when they add up to at most ``keep_bytes`` (else None)."""
    acc = SpectrumAccumulator()
    kept: list[np.ndarray] | None = []
    size = 0
    for block in resampled(src):
        acc.add(block)
        size += block.nbytes
        if kept is not None and size <= keep_bytes:
            kept.append(block)
        else:
            kept = None  # too long to keep: the restore pass reads the file again
    return decide(detect(acc, cfg.wideband_hz), cfg), kept


def _second_pass(src: AudioSource, kept: list[np.ndarray] | None) -> Iterator[np.ndarray]:
    """The 16 kHz blocks again: those the analysis kept, else read and resampled anew."""
    return iter(kept) if kept is not None else resampled(src)


def check_paths(inp: str, out: str, overwrite: bool) -> None:
    """Refuse writing over the input, or over an existing output without ``overwrite``."""
    if out == STDIO:
        return
    o = Path(out)
    is_dir, exists = output_path_state(o, str(o), "an output")
    if is_dir:
        raise UsageError(f"{o}: is a folder; give a file name (or a folder as the input, for a folder run)")
    if inp != STDIO and same_file(inp, o):
        raise OutputError(f"{o}: output is the input file; tdpr never writes over its input")
    if exists and not overwrite:
        raise OutputError(f"{o}: exists; pass --overwrite to replace it")


def restore_file(
    inp: str,
    out: str,
    restorer: Models,
    subtype: Subtype,
    overwrite: bool = False,
    on_progress: Callable[[int, int], None] | None = None,
) -> FileRecord:
    """Restore ``inp`` into ``out``; ``on_progress(done, total)`` counts 16 kHz samples.

    The models are built (``restorer.get()``) only when the file is restored, not passed through.
    """
    rec = FileRecord(input=inp, output=out)
    t0 = time.perf_counter()
    check_paths(inp, out, overwrite)
    src = AudioSource(inp)
    try:
        total = _check_before_reading(src, out)
        rec.duration_s = src.info.duration_s
        dec, kept = analyse(src, restorer.cfg, KEEP_BYTES)
        _note_decision(rec, dec)
        if dec.refusal is not None:
            rec.cutoff_hz, rec.warnings = None, list(src.warnings)  # no cutoff was used
            raise RefusedInput(f"{src.name}: {dec.refusal}", rec)
        done = 0

        def progress(n: int) -> None:
            nonlocal done
            done += n
            if on_progress is not None:
                on_progress(done, total)

        if dec.process:
            built = time.perf_counter()
            models = restorer.get()
            t0 += time.perf_counter() - built  # the first restored file does not pay for the models' build
            rec.device, rec.runtime, rec.threads = str(models.device), models.runtime, models.threads
            blocks = models.stream(_second_pass(src, kept), src.info.channels, dec.cutoff_hz, progress, dec.slope_top_hz)
        else:
            rec.status = "passthrough"
            blocks = _counted(_second_pass(src, kept), progress)
        res = write_stream(out, blocks, SAMPLE_RATE, src.info.channels, subtype)
    finally:
        src.close()
    rec.warnings = [*src.warnings, *([dec.warning] if dec.warning else []), *([res.note] if res.note else [])]
    if res.gain != 1.0:
        db = 20 * float(np.log10(res.gain))
        rec.gain_db = round(db, 3)
        rec.warnings.append(f"output peak {res.peak:.4g} exceeds full scale; scaled by {db:.2g} dB")
    rec.wall_s = round(time.perf_counter() - t0, 3)
    return rec


def _check_before_reading(src: AudioSource, out: str) -> int:
    """The 16 kHz samples ``src`` will give; first an unwritable output place (``OutputError``)
    or an input shorter than one 16 kHz sample (``InputError``) fails, before the analysis pass.

    Missing folders are only made when the output is written (``write_stream``), so an input
    that fails its analysis leaves none behind, and nothing here ever removes a folder that
    another run may be writing into.
    """
    if out == STDIO:
        prepare_output(out)
    else:
        writable_folder(Path(os.path.abspath(out)).parent, out, create=False)
    total = output_length(src.info.frames, src.info.sample_rate)
    if total == 0:  # 1 frame at 44.1 kHz: 0.36 of a sample; it was written as an empty "silent" file
        raise InputError(f"{src.name}: {src.info.frames} frame(s) at {src.info.sample_rate} Hz is shorter "
                         f"than one {SAMPLE_RATE} Hz sample; nothing to restore")
    return total


def _note_decision(rec: FileRecord, dec: Decision) -> None:
    """The record's cutoffs (used and detected), slope top, confidence and reason."""
    rec.cutoff_hz = round(dec.cutoff_hz, 1)
    rec.detected_cutoff_hz = None if dec.detected_hz is None else round(dec.detected_hz, 1)
    if dec.detection is not None:
        rec.music_top_hz = round(dec.detection.top_hz, 1)
        rec.detection_confidence = dec.detection.confidence
    rec.message = dec.reason


def restore_recorded(
    inp: str,
    out: str,
    restorer: Models,
    subtype: Subtype,
    overwrite: bool = False,
    on_progress: Callable[[int, int], None] | None = None,
) -> FileRecord:
    """``restore_file`` for one file of a folder run: a failure becomes an error record, never an exception.

    One broken file must not stop an archive run; what went wrong is in the record's message.
    """
    try:
        return restore_file(inp, out, restorer, subtype, overwrite, on_progress)
    except ModelsUnavailable:
        raise  # no file can be restored: the run ends, with the cause's exit code
    except Exception as exc:  # noqa: BLE001 - a bug shows as an error record, the run goes on
        return failure_record(inp, out, exc)


def failure_record(inp: str, out: str, exc: Exception) -> FileRecord:
    """The error record of a file that failed: tdpr's own message, or "internal error: ..." for a bug."""
    if isinstance(exc, RefusedInput) and isinstance(exc.record, FileRecord):
        return replace(exc.record, status="error", message=str(exc))  # keeps what detection found
    if isinstance(exc, TdprError):
        return FileRecord(inp, out, status="error", message=str(exc))
    return FileRecord(inp, out, status="error", message=f"internal error: {type(exc).__name__}: {exc}")


def _counted(blocks: Iterator[np.ndarray], progress: Callable[[int], None]) -> Iterator[np.ndarray]:
    for b in blocks:
        progress(b.shape[1])
        yield b


def audio_files(root: Path, skip: Path | None = None, unread: list[Path] | None = None) -> list[Path]:
    """Audio files under ``root``, sorted; symlinked folders are not followed (no loops), hidden
    names (a leading dot) are not read. ``unread`` collects what was passed over that a user may
    have meant: hidden folders and audio files, symlinked folders, dangling audio links."""
    found: list[Path] = []
    passed = unread if unread is not None else []
    for folder, dirs, files in os.walk(root):
        here = Path(folder)
        passed += [here / d for d in dirs if d.startswith(".") or (here / d).is_symlink()]
        dirs[:] = [d for d in dirs if not d.startswith(".") and (skip is None or here / d != skip)]
        for name in files:
            path = here / name
            if path.suffix.lower() not in AUDIO_EXTENSIONS:
                continue
            (found if not name.startswith(".") and path.is_file() else passed).append(path)
    return sorted(found)


def discover(root: Path, out_root: Path, fmt: str | None = None,
             unread: list[Path] | None = None) -> list[tuple[Path, Path]]:
    """Audio files under ``root`` (recursive, sorted) and their mirrored outputs.

    An output folder inside ``root`` is not searched (never re-process our own
    outputs). Outputs keep their input's format, or take ``fmt`` (``wav``,
    ``flac``, ``ogg``, ``aiff``) when given; files libsndfile cannot write
    (mp3) become ``.wav``. If the new name is already taken by another input's
    output, ``NAME.EXT.FMT`` is used instead, so no output overwrites another.
    """
    fmt = None if fmt is None else fmt.lower().lstrip(".")  # FLAC, .flac and flac alike
    if fmt is not None and f".{fmt}" not in WRITABLE:
        raise UsageError(f"--format must be one of {', '.join(s[1:] for s in WRITABLE)}, got {fmt!r}")
    if not root.is_dir():
        raise UsageError(f"{root}: not a directory")
    real_root, real_out = root.resolve(), out_root.resolve()
    skip = root / real_out.relative_to(real_root) if real_out.is_relative_to(real_root) else None
    files = audio_files(root, skip, unread)
    rels = [p.relative_to(root) for p in files]

    def target(rel: Path) -> str:
        own = rel.suffix.lower()
        return f".{fmt}" if fmt is not None else (own if own in WRITABLE else ".wav")

    taken = {r for r in rels if r.suffix.lower() == target(r)}
    pairs = []
    for path, rel in zip(files, rels):
        suffix = target(rel)
        if rel.suffix.lower() != suffix:
            new = rel.with_suffix(suffix)
            if new in taken:  # NAME.EXT.FMT, numbered while that too is some other input's output
                new, i = rel.with_name(rel.name + suffix), 2
                while new in taken:
                    new, i = rel.with_name(f"{rel.name}.{i}{suffix}"), i + 1
            rel = new
            taken.add(rel)
        pairs.append((path, out_root / rel))
    return pairs
