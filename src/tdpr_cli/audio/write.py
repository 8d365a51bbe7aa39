"""Write float32 (C, n) blocks atomically: never a half-written output.

Blocks first go to an anonymous raw float32 scratch file in the target folder
(the kernel removes it however tdpr ends, even on SIGKILL) while the peak is
tracked. Then they are converted once to the final format, rescaled if the
peak exceeds full scale (never wrapped or silently clipped), written to a
hidden ``.NAME.*.part`` file beside the target, flushed to disk and renamed
over the target in one step. Any failure or interruption removes the
``.part`` file; signals are held back for the few statements that create,
rename or remove it, so a Ctrl-C cannot land between "created" and
"remembered for cleanup". Standard output gets the finished file only after
it is complete, copied in blocks, so memory stays flat for long files.
"""

from __future__ import annotations

import os
import re
import signal
import tempfile
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import soundfile as sf

from tdpr_cli.audio.atomic import temp_stem, writable_folder
from tdpr_cli.audio.stdout import write_stdout
from tdpr_cli.config import Subtype
from tdpr_cli.errors import OutputError, UsageError

STDIO = "-"
BLOCK = 1 << 16  # frames per conversion step
# Largest float that still maps inside int16/int24 after libsndfile's rounding.
FULL_SCALE = 32767.0 / 32768.0
SFC_SET_ADD_PEAK_CHUNK = 0x1050  # from sndfile.h
_HELD = {signal.SIGINT, signal.SIGTERM} | ({signal.SIGHUP} if hasattr(signal, "SIGHUP") else set())


@dataclass
class WriteResult:
    frames: int = 0
    peak: float = 0.0
    gain: float = 1.0  # applied to avoid clipping; 1.0 when none was needed
    note: str | None = None  # something the caller asked for that the format cannot do


def check_output_format(path: str, subtype: Subtype) -> tuple[str, str]:
    """(format, subtype) for an output path; WAV for stdout. UsageError if unsupported."""
    if path == STDIO:
        fmt = "WAV"
    else:
        ext = Path(path).suffix.lower().lstrip(".")
        fmt = {"wav": "WAV", "flac": "FLAC", "ogg": "OGG", "aiff": "AIFF", "aif": "AIFF"}.get(ext, "")
        if not fmt:
            raise UsageError(f"{path}: unsupported output extension (use .wav, .flac, .ogg or .aiff)")
    st = "VORBIS" if fmt == "OGG" else subtype.value
    if not sf.check_format(fmt, st):
        raise UsageError(f"{path}: {fmt} cannot store {st} samples")
    return fmt, st


def prepare_output(path: str) -> Path:
    """Create the output's folder if missing; OutputError if it cannot be written. Returns it."""
    if path == STDIO:  # the whole file is assembled in scratch space before it goes to stdout
        return writable_folder(Path(tempfile.gettempdir()), "<stdout>", role="scratch folder (TMPDIR)")
    return writable_folder(Path(os.path.abspath(path)).parent, path)


@contextmanager
def held_signals() -> Iterator[None]:
    """Delay SIGINT/SIGTERM/SIGHUP until the block is done, then deliver them.

    Python handlers are swapped for a recorder rather than masking the signal:
    a process-wide signal may be delivered to any thread (torch starts worker
    threads), so a per-thread mask would not hold it back. Outside the main
    thread handlers cannot be changed, and the block runs unprotected.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending: list[int] = []
    old = {}
    for sig in _HELD:
        if signal.getsignal(sig) is not None:  # None: installed outside Python; leave it
            old[sig] = signal.signal(sig, lambda signum, frame: pending.append(signum))
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
        if pending:
            signal.raise_signal(pending[0])  # now handled as if it had just arrived


def _unlink(path: Path) -> None:
    """Remove ``path`` even if a second Ctrl-C arrives while the first is being handled."""
    try:
        with held_signals():
            path.unlink(missing_ok=True)
    except KeyboardInterrupt:
        path.unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _spill(blocks: Iterable[np.ndarray], raw: BinaryIO, res: WriteResult, path: str) -> None:
    """Append (C, n) blocks to the raw scratch file as interleaved float32, tracking the peak.

    Only our own writes are mapped to ``OutputError``: errors raised while
    producing the blocks (reading the input, running the models) pass through.
    """
    for block in blocks:
        if block.size:
            res.peak = max(res.peak, float(np.max(np.abs(block))))
            with _write_errors(path):
                block.T.astype(np.float32).tofile(raw)
            res.frames += block.shape[1]
    with _write_errors(path):
        raw.flush()


@dataclass(frozen=True)
class _Target:
    """Where and how the finished file is written."""

    path: str
    folder: Path
    fmt: str
    subtype: str
    sr: int
    channels: int


def _no_timestamp(out: sf.SoundFile) -> None:
    """Drop the PEAK chunk libsndfile adds to float WAV/AIFF: it holds the time of writing,
    so the same audio would never give the same bytes twice."""
    try:
        sf._snd.sf_command(out._file, SFC_SET_ADD_PEAK_CHUNK, sf._ffi.NULL, 0)  # 0: SF_FALSE
    except AttributeError:  # soundfile's private names moved: files stay valid, only not reproducible
        pass


def _convert(raw: BinaryIO, t: _Target, dest: str | int, gain: float) -> None:
    """Raw interleaved float32 -> ``dest`` (a path, or an fd we keep open) in the final format."""
    raw.seek(0)
    count = BLOCK * t.channels
    closefd = not isinstance(dest, int)
    target = os.fsencode(dest) if isinstance(dest, str) else dest  # any file name, as audio.read opens them
    with sf.SoundFile(target, "w", t.sr, t.channels, t.subtype, format=t.fmt, closefd=closefd) as out:
        _no_timestamp(out)  # before any sample is written, as libsndfile requires
        while True:
            chunk = np.fromfile(raw, dtype=np.float32, count=count)
            if not chunk.size:
                break
            out.write(chunk.reshape(-1, t.channels) * np.float32(gain))


def _fsync(path: Path) -> None:
    """Flush a file to disk before it may replace anything."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(folder: Path) -> None:
    """Best effort: make the rename itself survive a power cut."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems refuse fsync on folders; the rename is still atomic
    finally:
        os.close(fd)


def _to_stdout(raw: BinaryIO, t: _Target, gain: float) -> None:
    """Convert into an anonymous temp file, then copy it to stdout in blocks."""
    with tempfile.TemporaryFile(prefix=".tdpr-out-") as done:
        _convert(raw, t, done.fileno(), gain)
        done.seek(0)
        while block := done.read(1 << 20):
            write_stdout(block)


def _verify(part: Path, path: str, frames: int) -> None:
    """Reopen the finished ``.part``: its header must announce every frame we wrote."""
    try:
        found = sf.info(os.fsencode(part)).frames
    except (RuntimeError, OSError) as exc:
        raise OutputError(f"{path}: written file cannot be read back ({exc})") from None
    if found != frames:
        raise OutputError(f"{path}: wrote {found} of {frames} frames; output discarded")


def _to_file(raw: BinaryIO, t: _Target, gain: float, frames: int) -> None:
    """Convert into ``.NAME.*.part`` beside the target, flush it, rename it over the target."""
    tmp: Path | None = None
    try:
        with held_signals():
            fd, name = tempfile.mkstemp(dir=t.folder, prefix=f".{temp_stem(Path(t.path).name)}.", suffix=".part")
            tmp = Path(name)
        os.close(fd)
        _convert(raw, t, str(tmp), gain)
        _verify(tmp, t.path, frames)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; outputs get normal permissions
        _fsync(tmp)
        with held_signals():
            os.replace(tmp, t.path)
            tmp = None
        _fsync_dir(t.folder)
        _sweep_parts(t)
    finally:
        if tmp is not None:
            _unlink(tmp)


def _sweep_parts(t: _Target) -> None:
    """Remove ``.STEM.XXXXXXXX.part`` files a killed earlier run (SIGKILL, power loss) left beside
    the target, now that the target is complete. One writer per output is assumed: shards and Ray
    workers never share an output. Only this target's own temporaries match (mkstemp's eight
    characters exactly): a glob ``.NAME.*.part`` also matched ``.NAME.wav.XXXXXXXX.part``, the live
    temporary of another output ``NAME.wav`` that a parallel worker may still be writing."""
    own = re.compile(re.escape(f".{temp_stem(Path(t.path).name)}.") + r"[a-z0-9_]{8}\.part")
    with os.scandir(t.folder) as entries:
        stale = [e.path for e in entries if own.fullmatch(e.name)]
    for path in stale:
        _unlink(Path(path))


@contextmanager
def _write_errors(path: str) -> Iterator[None]:
    """OSError and libsndfile errors while writing -> OutputError; a closed stdout passes through."""
    try:
        yield
    except BrokenPipeError:
        raise
    except OSError as exc:
        raise OutputError(f"{path}: write failed ({exc.strerror or exc})") from None
    except (RuntimeError, ValueError, AssertionError) as exc:
        # libsndfile reports a full disk or a format's size limit as RuntimeError, and
        # soundfile checks short writes with an assert.
        raise OutputError(f"{path}: write failed ({exc or type(exc).__name__})") from None


def write_stream(path: str, blocks: Iterable[np.ndarray], sr: int, channels: int, subtype: Subtype) -> WriteResult:
    """Write (C, n) blocks to ``path`` (or stdout for ``-``) atomically; returns peak and gain.

    A reader closing stdout surfaces as ``BrokenPipeError`` (``cli`` exits
    quietly on it); every other write problem is an ``OutputError``.
    """
    fmt, st = check_output_format(path, subtype)
    t = _Target(path, prepare_output(path), fmt, st, sr, channels)
    res = WriteResult()
    if st != subtype.value and subtype is not Subtype.PCM_16:  # PCM_16 is the default: not asked for
        res.note = f"{fmt} stores {st} (lossy) samples; --subtype {subtype.value} does not apply"
    with _write_errors(path):
        raw = tempfile.TemporaryFile(dir=t.folder, prefix=".tdpr-")  # noqa: SIM115 (closed by the with below)
    with raw:
        _spill(blocks, raw, res, path)
        if res.peak > FULL_SCALE and st != "FLOAT":
            res.gain = FULL_SCALE / res.peak
        with _write_errors(path):
            if path == STDIO:
                _to_stdout(raw, t, res.gain)
            else:
                _to_file(raw, t, res.gain, res.frames)
    return res


def same_file(a: str | Path, b: str | Path) -> bool:
    """True if ``b`` is ``a`` itself, a hard link to it, or a symlink to it (False if either is missing)."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False
