"""Chunked restore of a stream, whatever runs the models: the part of the pipeline both
runtimes share (torch in ``pipeline.py``, ONNX Runtime in ``graph_pipeline.py``).

16 kHz blocks in, chunks with real context (``dsp.chunking``), all channels of a chunk batched
into one forward pass, Hann overlap-add, restored blocks out. No torch here: a CPU restore on
the graph runtime never imports it.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import numpy as np

from tdpr_cli.config import PhaseMode, RestoreConfig, StftConfig
from tdpr_cli.dsp.chunking import Chunk, run_chunked
from tdpr_cli.errors import UsageError

#: Times a named stage (``with timer("TD-CNN"): ...``); benchmarks pass one, restore does not.
StageTimer = Callable[[str], AbstractContextManager[None]]


def untimed(name: str) -> AbstractContextManager[None]:
    return contextlib.nullcontext()


def chunk_grid(tdcnn: Any, stft: StftConfig) -> int:
    """Samples that chunk boundaries must be multiples of: the STFT hop and the TD-CNN's total stride."""
    return math.lcm(stft.hop, getattr(tdcnn, "total_stride", 1))


def check_models(tdcnn: Any, vocoder_stft: Any, has_vocoder: bool, cfg: RestoreConfig) -> None:
    """UsageError unless the models fit ``cfg``: a vocoder for band and paper modes, chunks on the
    TD-CNN's grid, and the vocoder's mel frames (``vocoder_stft``: anything with ``n_fft``,
    ``hop``, ``n_mels``) the restore STFT's, or phase repair would mix grids."""
    if cfg.phase is not PhaseMode.NONE and not has_vocoder:
        raise UsageError(f"--phase {cfg.phase.value} needs a vocoder")
    grid = chunk_grid(tdcnn, cfg.stft)
    if cfg.chunk.align % grid:
        raise UsageError(f"chunk alignment {cfg.chunk.align} must be a multiple of {grid}")
    for name in ("n_fft", "hop", "n_mels"):
        want = getattr(cfg.stft, name)
        got = getattr(vocoder_stft, name, want)
        if got != want:
            raise UsageError(f"the vocoder was trained with {name}={got}, the restore STFT uses {want}")


class ChunkRestorer:
    """Streams blocks through ``process_np`` chunk by chunk; subclasses run the models.

    ``runtime`` ("torch" or "onnxruntime"), ``device`` and ``threads`` describe where the
    models run, for the records.
    """

    cfg: RestoreConfig
    runtime: str
    timer: StageTimer

    @property
    def device(self) -> Any:
        raise NotImplementedError

    @property
    def threads(self) -> int:
        raise NotImplementedError

    def process_np(self, x: np.ndarray, cutoff_hz: float, top_hz: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(N, L) float32 band-limited rows at 16 kHz -> ((N, L) restored, (N, L) raw TD-CNN output)."""
        raise NotImplementedError

    def _context(self) -> AbstractContextManager[Any]:
        """Entered around a whole stream (torch: inference mode)."""
        return contextlib.nullcontext()

    def _run(self, chunks: list[Chunk], cutoff_hz: float, top_hz: float | None) -> list[np.ndarray]:
        """Batch chunks (all channels of each) into one forward pass."""
        lengths = [c.data.shape[1] for c in chunks]
        rows = [c.data.shape[0] for c in chunks]
        batch = np.zeros((sum(rows), max(lengths)), np.float32)
        r = 0
        for c in chunks:
            # Right-padding with zeros is what a chunk sees past the file end anyway.
            batch[r : r + c.data.shape[0], : c.data.shape[1]] = c.data
            r += c.data.shape[0]
        out = self.process_np(batch, cutoff_hz, top_hz)[0]
        res: list[np.ndarray] = []
        r = 0
        for n, length in zip(rows, lengths):
            res.append(out[r : r + n, :length])
            r += n
        return res

    def stream(
        self,
        blocks: Iterable[np.ndarray],
        channels: int,
        cutoff_hz: float,
        on_progress: Callable[[int], None] | None = None,
        top_hz: float | None = None,
    ) -> Iterator[np.ndarray]:
        """Restore a stream of (C, n) float32 blocks at 16 kHz; yields (C, m) blocks in order.

        ``cutoff_hz``: the input's band limit (Hz); ``top_hz``: the detected end of its
        roll-off (``Decision.slope_top_hz``), up to which band mode crossfades into the
        vocoder's phase."""
        with self._context():
            for done in run_chunked(
                blocks, self.cfg.chunk, channels, lambda chunks: self._run(chunks, cutoff_hz, top_hz), self.cfg.batch_size
            ):
                if on_progress is not None:
                    on_progress(done.shape[1])
                yield done

    def one_shot(self, wave: np.ndarray, cutoff_hz: float, top_hz: float | None = None) -> np.ndarray:
        """Run the models on the whole (C, T) array at once (reference for tests, small inputs)."""
        return self.process_np(wave, cutoff_hz, top_hz)[0]

    def restore(self, wave: np.ndarray, cutoff_hz: float, top_hz: float | None = None) -> np.ndarray:
        """Whole-array convenience: (C, T) float32 at 16 kHz -> (C, T)."""
        parts = list(self.stream([wave], wave.shape[0], cutoff_hz, top_hz=top_hz))
        return np.concatenate(parts, axis=1) if parts else np.zeros_like(wave)
