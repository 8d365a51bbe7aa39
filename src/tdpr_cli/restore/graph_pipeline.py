"""The restore pipeline on the torch-free CPU runtime: ONNX Runtime networks, numpy DSP.

The same steps as ``pipeline.Restorer.process`` (TD-CNN, the vocoder on the TD-CNN output's
log-mel, phase repair, the input's own band kept), computed with ``models/graph.py`` and the
numpy twins in ``dsp/stft_np.py`` and ``dsp/phase_np.py``; the output agrees with the torch
pipeline to float32 rounding (``tests/test_graph_runtime.py``). Chunking and overlap-add are
the shared ``stream.ChunkRestorer``'s. No files, no printing.
"""

from __future__ import annotations

import numpy as np

from tdpr_cli.config import PhaseMode, RestoreConfig
from tdpr_cli.dsp.phase_np import keep_input_band, repair
from tdpr_cli.dsp.stft_np import NpStft, log_mel, mel_filterbank
from tdpr_cli.models.graph import GraphTdcnn, GraphVocoder
from tdpr_cli.restore.stream import ChunkRestorer, StageTimer, check_models, untimed


class GraphRestorer(ChunkRestorer):
    """TD-CNN + TD-PR on ONNX Runtime over chunks, on the CPU with ``threads`` threads."""

    runtime = "onnxruntime"

    def __init__(self, tdcnn: GraphTdcnn, vocoder: GraphVocoder | None, cfg: RestoreConfig, threads: int,
                 timer: StageTimer | None = None) -> None:
        check_models(tdcnn, vocoder, vocoder is not None, cfg)
        self.cfg, self.tdcnn, self.vocoder, self._threads = cfg, tdcnn, vocoder, threads
        self.timer = timer or untimed
        self.stft = NpStft(cfg.stft)
        self.fb = mel_filterbank(cfg.stft)

    @property
    def device(self) -> str:
        return "cpu"

    @property
    def threads(self) -> int:
        return self._threads

    def process(self, x: np.ndarray, cutoff_hz: float, top_hz: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(N, L) band-limited float32 at 16 kHz -> ((N, L) output, (N, L) raw TD-CNN output);
        ``pipeline.Restorer.process`` on numpy arrays."""
        x = np.asarray(x, np.float32)
        with self.timer("TD-CNN"):
            y = self.tdcnn(x[:, None], cutoff_hz)[:, 0]
        out = y
        if self.cfg.phase is not PhaseMode.NONE and self.vocoder is not None:
            with self.timer("vocoder (+log-mel)"):
                spec = self.stft(y)  # once: the log-mel's magnitude, then the phase repair's
                v = self.vocoder(log_mel(self.fb, np.abs(spec)), y.shape[-1])
            with self.timer("phase repair"):
                out = repair(y, v, cutoff_hz, self.cfg, self.stft, spec, top_hz)
        with self.timer("phase repair"):
            out = keep_input_band(x, out, cutoff_hz, self.cfg, self.stft)
        return out, y

    def process_np(self, x: np.ndarray, cutoff_hz: float, top_hz: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        return self.process(x, cutoff_hz, top_hz)
