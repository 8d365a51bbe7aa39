"""Read any libsndfile audio as float32 (C, n) blocks; writing lives in ``audio.write``.

Inputs are streamed in blocks from disk (never decoded whole). Standard input
(``-``) and other streams that cannot be read twice (pipes, ``<(...)``) are
first copied to an anonymous temporary file, which the kernel removes however
tdpr ends, so they too are read from disk in blocks. Every problem with an
input is an ``InputError`` naming the file: libsndfile's own exceptions never
escape, and nothing here ever writes to an input.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import soundfile as sf

# Re-exported: callers import the write side from here too.
from tdpr_cli.audio.write import (
    FULL_SCALE,
    STDIO,
    WriteResult,
    check_output_format,
    prepare_output,
    write_stream,
)
from tdpr_cli.errors import InputError, UsageError

__all__ = [
    "BLOCK", "FULL_SCALE", "STDIO", "AudioInfo", "AudioSource", "WriteResult",
    "check_output_format", "prepare_output", "write_stream",
]

BLOCK = 1 << 16  # frames per read
#: Input rates outside this range are corrupt headers, not audio: a 1 Hz "file" would be
#: upsampled 16000-fold, and a rate near 2**31 would need a filter with billions of taps.
MIN_RATE, MAX_RATE = 1_000, 768_000
#: libsndfile logs "data : <declared> (should be <present>)" for a WAV data chunk cut short.
_SHORT_DATA = re.compile(r"^\s*data\s*:\s*(\d+)\s*\(should be (\d+)\)", re.MULTILINE)
#: The data size a writer that cannot seek back leaves in the header: "length unknown", not a
#: promise (ffmpeg's WAV on a pipe, ``ffmpeg -i x -f wav -``, declares 0xFFFFFFFF).
_UNKNOWN_SIZE = 0xFFFFFFFF


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


def _open(src: str | int, name: str) -> sf.SoundFile:
    """Open a path, or an fd that we own (rewound first); InputError for anything unreadable."""
    try:
        if isinstance(src, int):
            os.lseek(src, 0, os.SEEK_SET)
            return sf.SoundFile(src, closefd=False)
        # Bytes, not str: soundfile encodes a str strictly, and a Latin-1 name from an old archive
        # (undecodable bytes, held as surrogates) could not be opened at all.
        return sf.SoundFile(os.fsencode(src))
    except sf.LibsndfileError as exc:
        raise InputError(f"{name}: not readable audio ({exc.error_string})") from None
    except (OSError, RuntimeError, TypeError, ValueError) as exc:
        raise InputError(f"{name}: not readable audio ({getattr(exc, 'strerror', None) or exc})") from None


def _spool(stream: BinaryIO, name: str) -> BinaryIO:
    """Copy a one-shot stream into an anonymous temporary file (gone when tdpr exits)."""
    tmp = tempfile.TemporaryFile(prefix=".tdpr-in-")  # noqa: SIM115 (returned open, closed by AudioSource)
    try:
        shutil.copyfileobj(stream, tmp, 1 << 20)
        tmp.flush()
    except OSError as exc:
        tmp.close()
        raise InputError(f"{name}: cannot buffer the input stream ({exc.strerror or exc})") from None
    except BaseException:
        tmp.close()
        raise
    if tmp.tell() == 0:
        tmp.close()
        raise InputError(f"{name}: no data" + (" on standard input" if name == "<stdin>" else ""))
    return tmp


def check_input_path(p: Path) -> None:
    """Readable one-line errors for paths libsndfile would only call 'System error': a folder
    where a file was expected is a ``UsageError`` (exit 2), the rest ``InputError``s."""
    try:
        st = p.stat()
    except FileNotFoundError:
        raise InputError(f"{p}: no such file") from None
    except OSError as exc:
        raise InputError(f"{p}: cannot open ({exc.strerror or exc})") from None
    if stat.S_ISDIR(st.st_mode):
        raise UsageError(f"{p}: is a folder; expected an audio file")
    if stat.S_ISREG(st.st_mode) and st.st_size == 0:
        raise InputError(f"{p}: empty file (0 bytes)")
    if not os.access(p, os.R_OK):
        raise InputError(f"{p}: permission denied")


class AudioSource:
    """A readable input that can be streamed more than once.

    ``warnings`` collects problems that still leave usable audio (a data chunk
    cut short, fewer frames than the header promised); callers report them.
    """

    def __init__(self, path: str | Path, stdin: BinaryIO | None = None) -> None:
        self.name = "<stdin>" if str(path) == STDIO else str(path)
        self.warnings: list[str] = []
        self._spooled: BinaryIO | None = None
        if str(path) == STDIO:
            if stdin is None and sys.stdin is None:  # started with "<&-"
                raise InputError("<stdin>: standard input is closed")
            self._spooled = _spool(stdin if stdin is not None else sys.stdin.buffer, self.name)
        else:
            p = Path(path)
            check_input_path(p)
            if not p.is_file():  # a pipe or device: it can only be read once
                try:
                    with open(p, "rb") as stream:
                        self._spooled = _spool(stream, self.name)
                except OSError as exc:
                    raise InputError(f"{p}: cannot open ({exc.strerror or exc})") from None
        self._src: str | int = self._spooled.fileno() if self._spooled is not None else str(path)
        try:
            with self._file() as f:
                self.info = AudioInfo(f.samplerate, f.channels, f.frames, f.format, f.subtype)
                log = f.extra_info
            self._validate(log)
        except BaseException:
            self.close()  # a refused stream's spooled copy goes now, not when collected
            raise

    def _validate(self, log: str) -> None:
        i = self.info
        if i.channels <= 0 or not MIN_RATE <= i.sample_rate <= MAX_RATE:
            raise InputError(
                f"{self.name}: invalid header ({i.sample_rate} Hz, {i.channels} channels; "
                f"tdpr reads {MIN_RATE}-{MAX_RATE} Hz)"
            )
        if i.frames <= 0:
            raise InputError(f"{self.name}: contains no audio frames")
        m = _SHORT_DATA.search(log)
        if m and int(m.group(2)) < int(m.group(1)) != _UNKNOWN_SIZE:
            self.warnings.append(
                f"data is shorter than its header says (truncated or unfinished file); "
                f"using the {i.frames} frames present ({i.duration_s:.2f} s)"
            )

    def close(self) -> None:
        """Drop the spooled copy of a stream input (also done when garbage-collected)."""
        if self._spooled is not None:
            self._spooled.close()

    def __enter__(self) -> AudioSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _file(self) -> Iterator[sf.SoundFile]:
        f = _open(self._src, self.name)
        try:
            yield f
        finally:
            f.close()

    def blocks(self, frames: int = BLOCK) -> Iterator[np.ndarray]:
        """Yield (C, n) float32 blocks; InputError on NaN/Inf or a failed read."""
        done = 0
        with self._file() as f:
            while True:
                try:
                    data = f.read(frames, dtype="float32", always_2d=True)
                except (RuntimeError, OSError, ValueError) as exc:  # LibsndfileError is a RuntimeError
                    raise InputError(f"{self.name}: read failed after {done} frames ({exc})") from None
                if not len(data):
                    break
                finite = np.isfinite(data).all(axis=1)
                if not finite.all():
                    bad = done + int(np.argmin(finite))
                    raise InputError(f"{self.name}: NaN or infinite sample at frame {bad}")
                done += len(data)
                yield np.ascontiguousarray(data.T)
        if done != self.info.frames:
            msg = f"read {done} frames, the header announced {self.info.frames}"
            if msg not in self.warnings:  # the file is read twice; say it once
                self.warnings.append(msg)
