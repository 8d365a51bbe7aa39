"""Read any libsndfile audio as float32 (C, n) blocks; write atomically.

Inputs are streamed in blocks from disk (never decoded whole); ``-`` reads a
WAV from stdin, which has to be buffered in memory because a pipe cannot be
read twice. Outputs go to a raw float32 scratch file next to the target while
the peak is tracked, then are converted once to the final format, rescaled if
the peak exceeds full scale (never wrapped or silently clipped), and renamed
into place. Any failure or interruption removes both temporary files.
"""

from __future__ import annotations

import io
import os
import sys
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from tdpr_cli.config import Subtype
from tdpr_cli.errors import InputError, OutputError, UsageError

BLOCK = 1 << 16  # frames per read
STDIO = "-"
# Largest float that still maps inside int16/int24 after libsndfile's rounding.
FULL_SCALE = 32767.0 / 32768.0


@dataclass(frozen=True)
class AudioInfo:
    sample_rate: int
    channels: int
    frames: int
    format: str
    subtype: str

    @property
    def duration_s(self) -> float:
        return self.frames / self.sample_rate


def _open(src: str | io.BytesIO) -> sf.SoundFile:
    try:
        f = sf.SoundFile(src)
    except sf.LibsndfileError as exc:
        raise InputError(f"{_name(src)}: not readable audio ({exc.error_string})") from None
    except (OSError, RuntimeError, TypeError) as exc:
        raise InputError(f"{_name(src)}: not readable audio ({exc})") from None
    if f.samplerate <= 0 or f.channels <= 0:
        f.close()
        raise InputError(f"{_name(src)}: invalid header ({f.samplerate} Hz, {f.channels} channels)")
    return f


def _name(src: str | io.BytesIO) -> str:
    return "<stdin>" if isinstance(src, io.BytesIO) else str(src)


class AudioSource:
    """A readable input that can be streamed more than once."""

    def __init__(self, path: str | Path, stdin: io.BufferedReader | None = None) -> None:
        self.name = str(path)
        if self.name == STDIO:
            stream = stdin if stdin is not None else sys.stdin.buffer
            data = stream.read()
            if not data:
                raise InputError("<stdin>: no data on standard input")
            self._src: str | io.BytesIO = io.BytesIO(data)
        else:
            p = Path(path)
            if p.is_dir():
                raise InputError(f"{p}: is a directory, expected an audio file")
            if not p.exists():
                raise InputError(f"{p}: no such file")
            if not os.access(p, os.R_OK):
                raise InputError(f"{p}: permission denied")
            self._src = str(p)
        with self._file() as f:
            self.info = AudioInfo(f.samplerate, f.channels, f.frames, f.format, f.subtype)
        if self.info.frames <= 0:
            raise InputError(f"{self.name}: contains no audio frames")

    @contextmanager
    def _file(self) -> Iterator[sf.SoundFile]:
        if isinstance(self._src, io.BytesIO):
            self._src.seek(0)
        f = _open(self._src)
        try:
            yield f
        finally:
            f.close()

    def blocks(self, frames: int = BLOCK) -> Iterator[np.ndarray]:
        """Yield (C, n) float32 blocks; raises InputError on NaN/Inf or a short read."""
        done = 0
        with self._file() as f:
            while True:
                try:
                    data = f.read(frames, dtype="float32", always_2d=True)
                except (sf.LibsndfileError, RuntimeError) as exc:
                    raise InputError(f"{self.name}: read failed after {done} frames ({exc})") from None
                if not len(data):
                    break
                if not np.isfinite(data).all():
                    bad = done + int(np.nonzero(~np.isfinite(data).all(axis=1))[0][0])
                    raise InputError(f"{self.name}: NaN or infinite sample at frame {bad}")
                done += len(data)
                yield np.ascontiguousarray(data.T)


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


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@dataclass
class WriteResult:
    frames: int = 0
    peak: float = 0.0
    gain: float = 1.0  # applied to avoid clipping; 1.0 when none was needed


def _convert(raw: Path, channels: int, dest, sr: int, fmt: str, subtype: str, gain: float) -> None:
    count = BLOCK * channels
    with sf.SoundFile(dest, "w", sr, channels, subtype, format=fmt) as out, open(raw, "rb") as f:
        while True:
            chunk = np.fromfile(f, dtype=np.float32, count=count)
            if not chunk.size:
                break
            out.write(chunk.reshape(-1, channels) * np.float32(gain))


def write_stream(path: str, blocks: Iterable[np.ndarray], sr: int, channels: int, subtype: Subtype) -> WriteResult:
    """Write (C, n) blocks to ``path`` (or stdout for ``-``) atomically; returns peak and gain."""
    fmt, st = check_output_format(path, subtype)
    to_stdout = path == STDIO
    folder = Path(tempfile.gettempdir()) if to_stdout else Path(path).resolve().parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, raw_name = tempfile.mkstemp(dir=folder, prefix=".tdpr-", suffix=".f32")
    except OSError as exc:
        raise OutputError(f"{path}: cannot write to {folder} ({exc.strerror or exc})") from None
    raw, tmp = Path(raw_name), None
    res = WriteResult()
    try:
        with os.fdopen(fd, "wb") as f:
            for block in blocks:
                if block.size:
                    res.peak = max(res.peak, float(np.max(np.abs(block))))
                    block.T.astype(np.float32).tofile(f)
                    res.frames += block.shape[1]
        if res.peak > FULL_SCALE and st != "FLOAT":
            res.gain = FULL_SCALE / res.peak
        if to_stdout:
            buf = io.BytesIO()
            _convert(raw, channels, buf, sr, fmt, st, res.gain)
            sys.stdout.buffer.write(buf.getvalue())
            sys.stdout.buffer.flush()
        else:
            fd2, tmp_name = tempfile.mkstemp(dir=folder, prefix=f".{Path(path).name}.", suffix=".part")
            os.close(fd2)
            tmp = Path(tmp_name)
            _convert(raw, channels, str(tmp), sr, fmt, st, res.gain)
            os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; outputs get normal permissions
            os.replace(tmp, path)
            tmp = None
    except OSError as exc:
        raise OutputError(f"{path}: write failed ({exc.strerror or exc})") from None
    finally:
        raw.unlink(missing_ok=True)
        if tmp is not None:
            tmp.unlink(missing_ok=True)
    return res
