"""The restore pipeline: 16 kHz blocks in, restored 16 kHz blocks out.

resample (done by the caller) -> chunk -> TD-CNN -> vocoder on the TD-CNN's
mel -> phase repair -> overlap-add. No files, no printing: callers feed numpy
blocks and receive numpy blocks, and learn about progress through a callback.
"""

from __future__ import annotations

import contextlib
import copy
from contextlib import AbstractContextManager
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from tdpr_cli.config import PhaseMode, RestoreConfig
from tdpr_cli.dsp.phase import keep_input_band, repair
from tdpr_cli.dsp.spectral import LogMel, Stft
from tdpr_cli.models.condition import call_tdcnn, cutoff_tensor
from tdpr_cli.restore.stream import ChunkRestorer, StageTimer, check_models, untimed


def _ready(model: nn.Module, device: torch.device) -> nn.Module:
    """``model`` in eval mode on ``device``; a moved copy when it is elsewhere or training.

    The caller's module is never changed: ``.to()`` and ``.eval()`` work in place.
    """
    params = list(model.parameters()) + list(model.buffers())
    if not model.training and all(p.device == device for p in params):
        return model
    return copy.deepcopy(model).to(device).eval()


class Restorer(ChunkRestorer):
    """Runs TD-CNN + TD-PR on torch over chunks; models stay on ``device``, the stream on the CPU."""

    runtime = "torch"

    def __init__(
        self,
        tdcnn: nn.Module,
        vocoder: nn.Module | None,
        cfg: RestoreConfig = RestoreConfig(),
        device: str | torch.device = "cpu",
        autocast: torch.dtype | None = None,
        timer: StageTimer | None = None,
    ) -> None:
        check_models(tdcnn, None if vocoder is None else getattr(vocoder, "cfg", None), vocoder is not None, cfg)
        self.cfg, self._device, self.autocast = cfg, torch.device(device), autocast
        self.timer = timer or untimed
        self.tdcnn = _ready(tdcnn, self.device)
        self.vocoder = _ready(vocoder, self.device) if vocoder is not None else None
        self.logmel = LogMel(cfg.stft).to(self.device)
        self.stft = Stft(cfg.stft).to(self.device)

    @property
    def device(self) -> torch.device:
        return self._device

    @property
    def threads(self) -> int:
        return torch.get_num_threads()

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

    def process_np(self, x: np.ndarray, cutoff_hz: float, top_hz: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        with torch.inference_mode():
            out, y = self.process(torch.from_numpy(np.ascontiguousarray(x, np.float32)), cutoff_hz, top_hz)
        return out.cpu().numpy(), y.cpu().numpy()

    def _context(self) -> AbstractContextManager[Any]:
        return torch.inference_mode()
