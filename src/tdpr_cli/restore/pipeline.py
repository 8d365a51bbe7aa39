"""The restore pipeline: 16 kHz blocks in, restored 16 kHz blocks out.

resample (done by the caller) -> chunk -> TD-CNN -> vocoder on the TD-CNN's
mel -> phase repair -> overlap-add. No files, no printing: callers feed numpy
blocks and receive numpy blocks, and learn about progress through a callback.
"""

from __future__ import annotations

import contextlib
import copy
import math
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager

import numpy as np
import torch
from torch import Tensor, nn

from tdpr_cli.config import PhaseMode, RestoreConfig, StftConfig
from tdpr_cli.dsp.chunking import Chunk, run_chunked
from tdpr_cli.dsp.phase import keep_input_band, repair
from tdpr_cli.dsp.spectral import LogMel, Stft
from tdpr_cli.errors import UsageError
from tdpr_cli.models.condition import call_tdcnn, cutoff_tensor


def _ready(model: nn.Module, device: torch.device) -> nn.Module:
    """``model`` in eval mode on ``device``; a moved copy when it is elsewhere or training.

    The caller's module is never changed: ``.to()`` and ``.eval()`` work in place.
    """
    params = list(model.parameters()) + list(model.buffers())
    if not model.training and all(p.device == device for p in params):
        return model
    return copy.deepcopy(model).to(device).eval()


def _check_vocoder_stft(vocoder: nn.Module, cfg: RestoreConfig) -> None:
    """The vocoder's mel frames must be the restore STFT's frames, or phase repair mixes grids."""
    vcfg = getattr(vocoder, "cfg", None)
    pairs = (("n_fft", cfg.stft.n_fft), ("hop", cfg.stft.hop), ("n_mels", cfg.stft.n_mels))
    for name, want in pairs:
        got = getattr(vcfg, name, want)
        if got != want:
            raise UsageError(f"the vocoder was trained with {name}={got}, the restore STFT uses {want}")


def chunk_grid(tdcnn: nn.Module, stft: StftConfig) -> int:
    """Samples that chunk boundaries must be multiples of: the STFT hop and the TD-CNN's total stride."""
    return math.lcm(stft.hop, getattr(tdcnn, "total_stride", 1))


#: Times a named stage (``with timer("TD-CNN"): ...``); benchmarks pass one, restore does not.
StageTimer = Callable[[str], AbstractContextManager[None]]


def _untimed(name: str) -> AbstractContextManager[None]:
    return contextlib.nullcontext()


class Restorer:
    """Runs TD-CNN + TD-PR over chunks; models stay on ``device``, the stream on the CPU."""

    def __init__(
        self,
        tdcnn: nn.Module,
        vocoder: nn.Module | None,
        cfg: RestoreConfig = RestoreConfig(),
        device: str | torch.device = "cpu",
        autocast: torch.dtype | None = None,
        timer: StageTimer | None = None,
    ) -> None:
        if cfg.phase is not PhaseMode.NONE and vocoder is None:
            raise UsageError(f"--phase {cfg.phase.value} needs a vocoder")
        grid = chunk_grid(tdcnn, cfg.stft)
        if cfg.chunk.align % grid:
            raise UsageError(f"chunk alignment {cfg.chunk.align} must be a multiple of {grid}")
        if vocoder is not None:
            _check_vocoder_stft(vocoder, cfg)
        self.cfg, self.device, self.autocast = cfg, torch.device(device), autocast
        self.timer = timer or _untimed
        self.tdcnn = _ready(tdcnn, self.device)
        self.vocoder = _ready(vocoder, self.device) if vocoder is not None else None
        self.logmel = LogMel(cfg.stft).to(self.device)
        self.stft = Stft(cfg.stft).to(self.device)

    def _amp(self) -> contextlib.AbstractContextManager[None]:
        if self.autocast is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.autocast)

    def process(self, x: Tensor, cutoff_hz: float, top_hz: float | None = None) -> tuple[Tensor, Tensor]:
        """(N, L) band-limited -> ((N, L) output, (N, L) raw TD-CNN output), float32 at 16 kHz.

        The output is the TD-CNN's (phase none) or the repaired one, with the
        input's intact band put back (``keep_input_band``) except in paper mode.
        ``top_hz``: the detected end of the input's roll-off (``Decision.slope_top_hz``),
        up to which band mode crossfades into the vocoder's phase.
        """
        x = x.to(self.device, torch.float32)
        with self.timer("TD-CNN"), self._amp():
            y = call_tdcnn(self.tdcnn, x[:, None], cutoff_tensor(cutoff_hz, x.shape[0], self.device))[:, 0].float()
        out = y
        if self.cfg.phase is not PhaseMode.NONE and self.vocoder is not None:
            with self.timer("vocoder (+log-mel)"), self._amp():
                spec = self.stft(y)  # once: the log-mel's magnitude, then the phase repair's
                v = self.vocoder(self.logmel.from_magnitude(spec.abs()), y.shape[-1]).float()
            with self.timer("phase repair"):
                out = repair(y, v, cutoff_hz, self.cfg, self.stft, spec, top_hz)
        with self.timer("phase repair"):
            out = keep_input_band(x, out, cutoff_hz, self.cfg, self.stft)
        return out, y

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
        repaired, _ = self.process(torch.from_numpy(batch), cutoff_hz, top_hz)
        out = repaired.cpu().numpy()
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

        ``cutoff_hz`` and ``top_hz`` as for ``process``."""
        with torch.inference_mode():
            for done in run_chunked(
                blocks, self.cfg.chunk, channels, lambda chunks: self._run(chunks, cutoff_hz, top_hz), self.cfg.batch_size
            ):
                if on_progress is not None:
                    on_progress(done.shape[1])
                yield done

    def restore(self, wave: np.ndarray, cutoff_hz: float, top_hz: float | None = None) -> np.ndarray:
        """Whole-array convenience: (C, T) float32 at 16 kHz -> (C, T)."""
        parts = list(self.stream([wave], wave.shape[0], cutoff_hz, top_hz=top_hz))
        return np.concatenate(parts, axis=1) if parts else np.zeros_like(wave)

    def one_shot(self, wave: np.ndarray, cutoff_hz: float, top_hz: float | None = None) -> np.ndarray:
        """Run the models on the whole (C, T) array at once (reference for tests, small inputs)."""
        with torch.inference_mode():
            out, _ = self.process(torch.from_numpy(wave.astype(np.float32)), cutoff_hz, top_hz)
        return out.cpu().numpy()
