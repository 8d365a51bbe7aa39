"""Stage clocks and the audio stages of one restore, shared by the speed benchmarks.

Torch-free, so that ``profile_restore.py`` can time the ONNX Runtime path without importing
torch (the clock imports it only to wait for a CUDA device).
"""

from __future__ import annotations

import time
from collections import defaultdict
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np


class Clock:
    """Wall seconds (``s``) and process CPU seconds (``cpu``) per stage; waits for the GPU.

    On a shared CPU, wall time measures the contention as much as tdpr. With
    one thread, CPU time is what the work would take on an idle core (up to
    cache and clock effects of the neighbours), so both are kept.
    """

    def __init__(self, device: Any = "cpu") -> None:
        self.device, self.s, self.cpu = device, defaultdict(float), defaultdict(float)
        self.cuda = getattr(device, "type", str(device)) == "cuda"  # a torch.device, or "cpu"

    def _sync(self) -> None:
        if self.cuda:
            import torch

            torch.cuda.synchronize(self.device)

    @contextmanager
    def __call__(self, name: str):
        self._sync()
        t0, c0 = time.perf_counter(), time.process_time()
        yield
        self._sync()
        self.s[name] += time.perf_counter() - t0
        self.cpu[name] += time.process_time() - c0


def read_stages(path: Path, clock: Clock) -> tuple[list[np.ndarray], int, float]:
    """Read + resample once (``restore`` does it twice: analyse, then restore) and analyse."""
    from tdpr_cli.audio.read import AudioSource
    from tdpr_cli.audio.resample import resampled
    from tdpr_cli.dsp.bandwidth import SpectrumAccumulator, detect

    src = AudioSource(str(path))
    with clock("read + resample"):
        blocks = list(resampled(src))
    with clock("analyse (LTAS)"):
        acc = SpectrumAccumulator()
        for b in blocks:
            acc.add(b)
        cutoff = detect(acc).cutoff_hz
    return blocks, src.info.channels, cutoff


def model_stages(restorer, blocks: list[np.ndarray], channels: int, cutoff: float, clock: Clock) -> list[np.ndarray]:
    """``Restorer.stream`` itself, with ``clock`` as its stage timer.

    The model stages are timed inside the pipeline; what the stream spends
    besides them (chunking, batching, overlap-add, moving data) is booked
    as "overlap-add".
    """
    model = ("TD-CNN", "vocoder (+log-mel)", "phase repair")
    before = {k: (clock.s[k], clock.cpu[k]) for k in model}
    previous, restorer.timer = restorer.timer, clock
    try:
        with clock("stream"):
            outputs = list(restorer.stream(blocks, channels, cutoff))
    finally:
        restorer.timer = previous
    stream_s, stream_cpu = clock.s.pop("stream"), clock.cpu.pop("stream")
    clock.s["overlap-add"] += stream_s - sum(clock.s[k] - before[k][0] for k in model)
    clock.cpu["overlap-add"] += stream_cpu - sum(clock.cpu[k] - before[k][1] for k in model)
    return outputs


def write_stage(path: Path, outputs: list[np.ndarray], channels: int, clock: Clock) -> None:
    from tdpr_cli.audio.read import write_stream
    from tdpr_cli.config import Subtype

    with clock("write"):
        write_stream(str(path), iter(outputs), 16000, channels, Subtype.PCM_16)


