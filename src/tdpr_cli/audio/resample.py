"""The project's one resampler: libsoxr (python-soxr) at its very-high-quality setting.

``resample`` converts a whole array, ``StreamResampler`` a stream of blocks
(restore, reports), ``resampled`` the blocks of an ``AudioSource``; all three
run the same soxr filter, and the stream gives the same samples as the one-shot
call. (The simulation's ``subsample`` in ``simulate.degrade`` is not a
resampler of ours: it reproduces the paper's band-limiting with scipy's
``resample_poly``, its default filter included.)

Why soxr and not ``scipy.signal.resample_poly`` (used until 2026-12-02, issue 14):
importing ``scipy.signal`` cost 1.4-2.0 s of every ``tdpr restore`` process on the
2-core machine, soxr is built for streaming, and its filter is better on both
sides of the output's 8 kHz Nyquist: measured with tones at 44.1 kHz, 7.5 kHz
passes at -0.3 dB (Kaiser beta 8.6 polyphase: -2.5 dB) and 10 kHz lands below
-150 dB (polyphase: -61 dB). It resamples 60 s of stereo in about 0.06 s.

Length: ``round(n * rate_out / rate_in)`` output samples for ``n`` input samples,
halves rounded up (``output_length``).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np

from tdpr_cli.config import SAMPLE_RATE

if TYPE_CHECKING:
    from tdpr_cli.audio.read import AudioSource

#: soxr's "very high quality" recipe: 175 dB stopband, passband flat to ~95 % of Nyquist.
QUALITY = "VHQ"


class StreamResampler:
    """Resample (C, n) float32 blocks from ``rate_in`` Hz to ``rate_out`` Hz, block by block."""

    def __init__(self, rate_in: int, channels: int, rate_out: int = SAMPLE_RATE) -> None:
        self.rate_in, self.rate_out, self.channels = rate_in, rate_out, channels
        self._stream = None
        if not self.identity:
            import soxr

            self._stream = soxr.ResampleStream(rate_in, rate_out, channels, dtype="float32", quality=QUALITY)

    @property
    def identity(self) -> bool:
        return self.rate_in == self.rate_out

    def _run(self, block: np.ndarray, last: bool) -> np.ndarray:
        assert self._stream is not None
        # soxr wants (frames, channels), C-contiguous float32; we carry (channels, frames).
        frames = np.ascontiguousarray(block.T, dtype=np.float32)
        return np.ascontiguousarray(self._stream.resample_chunk(frames, last=last).T)

    def process(self, block: np.ndarray) -> np.ndarray:
        """Feed (C, n) input samples; returns the (C, m) output samples now final."""
        if self.identity:
            return block.astype(np.float32, copy=False)
        return self._run(block, last=False)

    def flush(self) -> np.ndarray:
        """Remaining output at end of stream; total output is ``output_length(n_in, ...)`` samples."""
        if self.identity:
            return np.zeros((self.channels, 0), np.float32)
        return self._run(np.zeros((self.channels, 0), np.float32), last=True)


def output_length(frames_in: int, rate_in: int, rate_out: int = SAMPLE_RATE) -> int:
    """Number of samples the resampler produces for ``frames_in`` input frames (halves round up)."""
    whole, rest = divmod(frames_in * rate_out, rate_in)
    return whole + (1 if 2 * rest >= rate_in else 0)


def resample(x: np.ndarray, rate_in: int, rate_out: int = SAMPLE_RATE, axis: int = -1) -> np.ndarray:
    """Whole-array resampling along ``axis`` (float32 out), with the streaming filter."""
    if rate_in == rate_out:
        return x.astype(np.float32, copy=False)
    moved = np.moveaxis(np.asarray(x, dtype=np.float32), axis, -1)
    lead = moved.shape[:-1]
    rows = moved.reshape(math.prod(lead), moved.shape[-1])  # not -1: a 0-length axis is fine
    rs = StreamResampler(rate_in, rows.shape[0], rate_out)
    y = np.concatenate([rs.process(rows), rs.flush()], axis=1)
    return np.moveaxis(y.reshape(*lead, y.shape[-1]), -1, axis)


def resampled(src: AudioSource) -> Iterator[np.ndarray]:
    """(C, n) float32 blocks of ``src`` at 16 kHz, streamed."""
    rs = StreamResampler(src.info.sample_rate, src.info.channels)
    for block in src.blocks():
        out = rs.process(block)
        if out.shape[1]:
            yield out
    tail = rs.flush()
    if tail.shape[1]:
        yield tail
