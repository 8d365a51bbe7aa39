"""Cut a stream into chunks with real context, and join results by overlap-add.

Chunk k owns the span [k*hop, k*hop + hop + fade) of the signal (clipped to
the file) and is processed with ``context`` extra real samples on each side;
only past the file ends is it padded with zeros. After the models ran, the
context is cut away, the span is weighted by a window whose ends are
complementary Hann halves over ``fade`` samples (flat at the file's own ends),
added into an accumulator, and divided by the summed window. Once chunk k has
been added, every sample before (k+1)*hop is final and leaves memory, so memory
is bounded by a few chunks whatever the file length.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from tdpr_cli.config import ChunkConfig


def valid_length(length: int, stride: int) -> int:
    """Smallest length >= ``length`` and >= one ``stride`` that is a whole number of strides:
    what a strided TD-CNN pads its input to (torch's ``TdcnnBase.valid_length`` and the ONNX
    runtime's ``GraphTdcnn`` both use this one rule)."""
    return max(stride, -(-length // stride) * stride)


@dataclass(frozen=True)
class Chunk:
    """One chunk: ``data`` is (C, L) with L = (span end - span start) + 2 * context."""

    index: int
    start: int  # first sample of the span (global index at 16 kHz)
    stop: int  # one past its last sample
    last: bool
    data: np.ndarray


def fade_window(length: int, fade: int, fade_in: bool, fade_out: bool) -> np.ndarray:
    """(length,) float64 window: Hann halves of ``fade`` samples at the faded ends, else 1."""
    w = np.ones(length)
    if fade <= 0:
        return w
    n = min(fade, length)
    ramp = np.sin(0.5 * np.pi * (np.arange(n) + 0.5) / fade) ** 2  # sin² + cos² = 1 across the overlap
    if fade_in:
        w[:n] = ramp
    if fade_out:
        w[length - n :] *= ramp[::-1]
    return w


class Chunker:
    """Turn a stream of (C, n) blocks into ``Chunk``s; needs no length in advance."""

    def __init__(self, cfg: ChunkConfig, channels: int) -> None:
        self.cfg = cfg
        self.channels = channels
        self.buf = np.zeros((channels, 0), np.float32)
        self.buf_start = 0  # global index of buf[:, 0]
        self.total = 0
        self.k = 0

    def _take(self, lo: int, hi: int) -> np.ndarray:
        """Samples [lo, hi) with zeros outside [0, total)."""
        out = np.zeros((self.channels, hi - lo), np.float32)
        a, b = max(lo, self.buf_start), min(hi, self.total)
        if b > a:
            out[:, a - lo : b - lo] = self.buf[:, a - self.buf_start : b - self.buf_start]
        return out

    def _make(self, ended: bool) -> Chunk:
        c = self.cfg
        start = self.k * c.hop
        stop = start + c.hop + c.fade
        last = ended and stop >= self.total
        stop = min(stop, self.total) if last else stop
        # Short last spans still get context rounded to the alignment grid.
        padded_stop = start + -(-(stop - start) // c.align) * c.align
        chunk = Chunk(self.k, start, stop, last, self._take(start - c.context, padded_stop + c.context))
        self.k += 1
        drop = max(0, self.k * c.hop - c.context - self.buf_start)
        self.buf = self.buf[:, drop:]
        self.buf_start += drop
        return chunk

    def feed(self, block: np.ndarray) -> Iterator[Chunk]:
        """Add (C, n) samples and yield every chunk whose input is now complete."""
        self.buf = np.concatenate([self.buf, block.astype(np.float32, copy=False)], axis=1)
        self.total += block.shape[1]
        c = self.cfg
        while self.k * c.hop + c.hop + c.fade + c.context <= self.total:
            yield self._make(ended=False)

    def finish(self) -> Iterator[Chunk]:
        """Yield the remaining chunks at end of stream (at least one, even for an empty stream)."""
        while True:
            chunk = self._make(ended=True)
            yield chunk
            if chunk.last or chunk.stop >= self.total:
                return


class OverlapAdd:
    """Accumulate processed chunks and release final samples in order."""

    def __init__(self, cfg: ChunkConfig, channels: int) -> None:
        self.cfg = cfg
        self.acc = np.zeros((channels, 0))
        self.wsum = np.zeros(0)
        self.acc_start = 0  # global index of acc[:, 0]

    def add(self, chunk: Chunk, out: np.ndarray) -> np.ndarray:
        """Add model output ``out`` (C, L) for ``chunk``; return (C, m) finished samples."""
        c = self.cfg
        span = chunk.stop - chunk.start
        core = out[:, c.context : c.context + span].astype(np.float64)
        w = fade_window(span, c.fade, fade_in=chunk.index > 0, fade_out=not chunk.last)
        end = chunk.stop - self.acc_start
        if end > self.acc.shape[1]:
            grow = end - self.acc.shape[1]
            self.acc = np.pad(self.acc, ((0, 0), (0, grow)))
            self.wsum = np.pad(self.wsum, (0, grow))
        lo = chunk.start - self.acc_start
        self.acc[:, lo:end] += core * w
        self.wsum[lo:end] += w
        final = chunk.stop if chunk.last else chunk.start + c.hop
        n = final - self.acc_start
        done = (self.acc[:, :n] / np.maximum(self.wsum[:n], 1e-12)).astype(np.float32)
        self.acc, self.wsum = self.acc[:, n:], self.wsum[n:]
        self.acc_start = final
        return done


def run_chunked(
    blocks: Iterable[np.ndarray],
    cfg: ChunkConfig,
    channels: int,
    process: Callable[[list[Chunk]], list[np.ndarray]],
    batch_size: int = 1,
) -> Iterator[np.ndarray]:
    """Stream (C, n) ``blocks`` through ``process`` and overlap-add; yields finished (C, m) blocks.

    ``process`` maps up to ``batch_size`` chunks to one (C, L) output per chunk.
    """
    chunker, ola = Chunker(cfg, channels), OverlapAdd(cfg, channels)
    pending: list[Chunk] = []

    def flush() -> Iterator[np.ndarray]:
        batch, pending[:] = pending[:batch_size], pending[batch_size:]
        for chunk, out in zip(batch, process(batch)):
            yield ola.add(chunk, out)

    for block in blocks:
        for chunk in chunker.feed(block):
            pending.append(chunk)
            if len(pending) >= batch_size:
                yield from flush()
    pending.extend(chunker.finish())
    while pending:
        yield from flush()
